"""Leader election over a ``coordination.k8s.io/v1`` Lease (client-go's algorithm).

Two replicas run; only the one holding the Lease reconciles and writes. Every
``retry_period`` each replica reads the Lease: the holder renews it; another
replica takes it over once the Lease has not changed for ``leaseDurationSeconds``,
measured on its own clock from when it saw the last change (so a replica whose
clock runs ahead cannot take a lease that is being renewed). Every write carries
the Lease's resourceVersion, so two replicas can never both win.

A leader that cannot renew (the API server is unreachable, say) stops leading
``renew_deadline`` after its last successful renewal — before the Lease can
expire at ``lease_duration`` — so by the time a standby may take over, the old
leader has already stopped writing. ``is_leader()`` checks that deadline against a
monotonic clock on every call, so it is safe to ask right before a git push.

Why ours and not the kubernetes client's ``kubernetes.leaderelection`` (LeaseLock),
measured with ``bench/leader_failover.py`` (docs/performance.md, "Leader failover"):

- a leader that shuts down releases the Lease, so the standby leads within one retry
  period (median 0.69 s against 3.83 s: the library has no way to stop or release,
  its ``run()`` never returns while it campaigns); after a crash both wait out the
  lease (4.27 s against 4.40 s, lease 4 s);
- ``is_leader()`` holds the renew deadline on a monotonic clock at every call; the
  library's leader is leading between two callbacks, checks its deadline on the wall
  clock and only between attempts, so a renewal that hangs keeps it leading;
- ``leaseTransitions`` is kept (the library never writes it), and durations may be
  fractions of a second (the library writes ``str(lease_duration)`` and reads it back
  with ``int()``: 4.0 fails; it also refuses a retry period under 1 s);
- it goes through our ``Cluster`` (its kubeconfig, context and error translation);
  LeaseLock builds its own ``CoordinationV1Api()`` on the process-wide configuration.

Clock skew: the library measured expiry from when it saw the Lease change, ours
compared the holder's ``renewTime`` with its own wall clock, and a standby 60 s
ahead took a live lease in 3 of 3 rounds. Ours now follows the library (and
client-go) there: 0 of 5, as the library.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.engine import faults
from reconciler.errors import ConflictError, ReconcilerError

log = logging.getLogger(__name__)


def default_identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElector:
    cluster: k8s.Cluster
    namespace: str
    name: str = "reconciler-leader"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    on_started: Callable[[], None] = lambda: None
    on_stopped: Callable[[], None] = lambda: None
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry_period < renew_deadline < "
                             "lease_duration")
        self._renewed_at: float | None = None  # monotonic time of the last renewal
        # The Lease's spec as last read, and when (monotonic) it was first seen so:
        # another holder's lease expires lease_duration after we last saw it change.
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._leading = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leader-election",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop campaigning; a leader releases the Lease so a standby takes over now."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.is_leader():
            self._release()
        self._set_leading(False)

    def is_leader(self) -> bool:
        renewed = self._renewed_at
        return (self._leading and renewed is not None
                and self.monotonic() - renewed < self.renew_deadline)

    # -- the loop -------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                won = self._try_acquire_or_renew()
            except ReconcilerError as exc:
                log.warning("leader election: %s", exc)
                won = False
            if won:
                if self._leading and not self.is_leader():
                    # The renew deadline passed while a call was blocked: leadership
                    # lapsed in between, so say so before leading again.
                    self._set_leading(False)
                self._renewed_at = self.monotonic()
                if not self._leading:
                    faults.hit("lease-acquired")
                self._set_leading(True)
            elif not self.is_leader():
                self._set_leading(False)
            self._stop.wait(self.retry_period)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            log.info("%s is now the leader (lease %s/%s)", self.identity, self.namespace,
                     self.name)
            self.on_started()
        else:
            log.info("%s stopped leading", self.identity)
            self.on_stopped()

    def _try_acquire_or_renew(self) -> bool:
        now = self.wall()
        lease = self.cluster.get(k8s.LEASE, namespace=self.namespace, name=self.name)
        spec_base = {"holderIdentity": self.identity,
                     "leaseDurationSeconds": int(self.lease_duration),
                     "renewTime": _micro(now)}
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec_base, "acquireTime": _micro(now), "leaseTransitions": 0}}
            try:
                self.cluster.create(k8s.LEASE, namespace=self.namespace, body=body)
            except ConflictError:
                return False
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if spec != self._observed:
            self._observed, self._observed_at = spec, self.monotonic()
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        # Measured on our own clock from when the record last changed, never by
        # comparing the holder's renewTime with our wall clock (client-go's rule): a
        # replica whose clock runs ahead must not take a lease that is being renewed.
        expired = (not (spec.get("renewTime") or spec.get("acquireTime"))
                   or self.monotonic() - self._observed_at > float(duration))
        if holder and holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        new_spec = {**spec, **spec_base}
        if holder != self.identity:
            new_spec["acquireTime"] = _micro(now)
            new_spec["leaseTransitions"] = transitions + 1
        body = {**lease, "spec": new_spec}
        try:
            self.cluster.replace(k8s.LEASE, namespace=self.namespace, name=self.name,
                                 body=body)
        except ConflictError:
            return False
        return True

    def _release(self) -> None:
        try:
            lease = self.cluster.get(k8s.LEASE, namespace=self.namespace, name=self.name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = {**lease["spec"], "holderIdentity": "", "renewTime": _micro(self.wall()),
                    "leaseDurationSeconds": 1}
            self.cluster.replace(k8s.LEASE, namespace=self.namespace, name=self.name,
                                 body={**lease, "spec": spec})
        except ReconcilerError as exc:
            log.info("could not release the lease: %s", exc)
