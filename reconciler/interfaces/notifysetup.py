"""Notifications for ``reconciler run``, from the ``Notifications`` settings.

Where it fits: ``reconciler run`` (``daemon_main.command``) calls ``check`` before
anything connects, so a bad ``--notifications-config`` (a wrong field, a URL file
that is missing, empty or holds no http(s) URL) stops start-up with one line naming
``file:line field`` and exit 2; ``daemon_main`` calls ``attach`` once the daemon
exists, which starts the delivery threads (``adapters.notify.Outbox``) and hands the
daemon's Reporter its notifier (``engine.notices.Notifier``). The URL files are read
here only to check them; their
content is never printed.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from reconciler.adapters import notify
from reconciler.core import destinations
from reconciler.engine import notices
from reconciler.errors import InputError, ManifestError, printable
from reconciler.interfaces.settings import NotifySettings

if TYPE_CHECKING:
    from reconciler.engine.daemon import Daemon


def load(config: NotifySettings) -> tuple[destinations.Destination, ...]:
    """The chat destinations of ``--notifications-config`` (none without it), each
    URL file read once to check it."""
    path = config.notifications_config
    if path is None:
        return ()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"--notifications-config {printable(str(path))}: "
                         f"{err.strerror or type(err).__name__}") from None
    found = destinations.parse(data, file=str(path))
    for i, destination in enumerate(found):
        if destination.name == notices.FLUX:
            raise ManifestError(f"the name {notices.FLUX!r} is reserved for --flux-events-url",
                                file=str(path), line=destination.line,
                                field=f"destinations[{i}].name")
        try:
            notify.URLFile(destination.url_file).read()
        except InputError as err:
            raise ManifestError(str(err), file=str(path), line=destination.line,
                                field=f"destinations[{i}].urlFile") from None
    return found


def check(config: NotifySettings) -> None:
    """Refuse a notifications set-up that cannot work (exit 2), before connecting."""
    url = config.flux_events_url
    if url is not None and not notify.is_http_url(url):
        # The settings check the scheme and host only; httpx2 is stricter (a port).
        raise InputError(f"--flux-events-url {printable(url)!r}: expected an http:// or "
                         "https:// URL")
    load(config)


def attach(config: NotifySettings, daemon: Daemon, *, branch: str,
           **outbox: Any) -> notify.Outbox | None:
    """Start delivering the daemon's notices; the Outbox to close at shutdown, or None
    when no notification is configured. ``outbox`` goes to ``notify.Outbox``."""
    chats = load(config)
    flux_url = config.flux_events_url
    if not chats and flux_url is None:
        return None
    receivers = [notify.Receiver(name=d.name, url=notify.URLFile(d.url_file).read,
                                 verdict=notify.chat_verdict,
                                 min_interval=d.min_interval.total_seconds())
                 for d in chats]
    if flux_url is not None:
        receivers.append(notify.Receiver(name=notices.FLUX, url=lambda: flux_url,
                                         verdict=notify.flux_verdict))
    sender = notify.Outbox(receivers, **outbox)

    def cluster_object(kind: Any, namespace: str, name: str) -> Any:
        store = daemon.stores.get(kind.plural)
        return store.get(namespace, name) if store is not None else None

    daemon.reporter.notices = notices.Notifier(
        outbox=sender, flux=flux_url is not None, chats=chats,
        targets=lambda key: daemon.repository.snapshot.inventory.targets.get(key, ()),
        cluster_object=cluster_object, environment=daemon.options.environment,
        branch=branch, flux_source=daemon.options.flux_source,
        instance=socket.gethostname(), clock=daemon.clock)
    return sender
