"""The web dashboard of ``reconciler run``, on its HTTP port under ``/ui/``.

Where it fits: an interface over the daemon, mounted on the HTTP app
(``interfaces/http``) and reaching the daemon only through ``engine/insight`` (what
it reads) and ``engine/actions`` (what an authenticated person may ask, each one a
commit). ``app`` holds the routes, ``pages`` shapes what each page shows,
``states`` reads a rollout's state from its status, ``charts`` draws the figures of
``core/stats`` as inline SVG, ``auth`` checks bearer tokens. Templates and the one
stylesheet and script are package data: the daemon serves everything itself.
docs/dashboard.md says what it shows and why it is built this way.
"""

from reconciler.interfaces.ui.app import Config, Dashboard, mount

__all__ = ["Config", "Dashboard", "mount"]
