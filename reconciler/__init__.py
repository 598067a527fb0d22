"""reconciler: a GitOps release reconciler for Flux.

Layers (dependencies point one way): interfaces -> engine -> core <- adapters.
See ../shared/DESIGN.md and docs/architecture.md.
"""

__version__ = "0.1.0"
