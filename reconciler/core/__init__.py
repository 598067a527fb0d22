"""Pure logic: versions, selection, manifests, rewrites, trailers. No I/O."""
