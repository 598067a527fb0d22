"""A Kubernetes API server emulator, in-process and stdlib-only.

Where it fits: the integration tests point the official ``kubernetes`` client (and
so ``reconciler.adapters.cluster``) at it over loopback, and ``reconciler demo``
runs it to stand in for a cluster and for Flux. It belongs to no layer of the
package and imports neither ``kubernetes`` nor the adapters; it shares only the
pure label-selector code in ``reconciler.core.selectors``.

``resources``  which resources exist and how a URL names one
``store``      objects, resourceVersions, generations, preconditions, event history
``watches``    change records, per-watch filters (selectors) and queues
``status``     ``Status`` error bodies (``ApiError``)
``patches``    merge patch (RFC 7386) and JSON patch (RFC 6902)
``api``        HTTP method + path + query → store call → reply; discovery
``handler``    connections, keep-alive, chunked watch streams, clean shutdown
``server``     ``Emulator``: lifecycle and the Python test hooks
``flux``       ``FakeFlux``: a stand-in for Flux's source-, kustomize- and
               helm-controller (demo, e2e and reliability tests)
``fluxapply``  its apply step (server-side-apply merge, exclusions, owner labels)
``fluxstatus`` the status shapes the Flux controllers write (pure)
``kustomize``  what kustomize-controller builds from a tree, postBuild substitution
``gittree``    the bare repository's branch and trees, through the git CLI

Run ``python -m reconciler.emulator --kubeconfig /tmp/emu.yaml`` to use it by hand.
"""

from reconciler.emulator.server import Emulator, LoggedRequest

__all__ = ["Emulator", "LoggedRequest"]
