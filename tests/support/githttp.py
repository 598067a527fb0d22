"""A loopback smart-HTTP git server: ``git http-backend`` behind basic auth.

This is the real transport the reconciler meets in production (GitHub, Gitea,
GitLab all speak smart HTTP), with the parts tests need to see: server-side hooks
run (``file://`` skips them), pushes can be refused, credentials can be wrong, and
the server counts what it answered so a test can prove a client did not loop.

Faults, switched on and off while a client runs (for tests/reliability)::

    server.go_offline(); server.go_online()   # connection refused, then back on the
                                              # same port
    server.unavailable = 503                  # reachable, every request answered 503
    server.set_password("rotated")            # the old credentials are revoked
    server.stats.count(since=t)               # requests answered since monotonic t

Optional TLS: pass ``tls=TLSFiles(...)`` (see ``make_tls_files``) to serve HTTPS
with a certificate signed by a throwaway CA.
"""

from __future__ import annotations

import base64
import http.server
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support import httpbody, secretscan

HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")
# One random password per test session, registered so that tests/support/secretscan.py
# fails the run if it ever appears in a log line or an output.
PASSWORD = secretscan.generate("git HTTP password (tests/support/githttp.py)")


@dataclass
class ServerStats:
    """What the server answered, for assertions (thread-safe enough: GIL + a lock).

    Only the latest ``keep`` requests are kept: a soak's server answers millions in a
    few hours, and a log of them all grew its process to 1.7 GB. No test comes near
    the bound; ``count`` then counts what was kept."""

    requests: list[tuple[str, str, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each request
    lock: threading.Lock = field(default_factory=threading.Lock)
    keep: int = 100_000

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((method, path, status))
            self.times.append(time.monotonic())
            if len(self.requests) > 2 * self.keep:  # trimmed in halves: amortised O(1)
                del self.requests[:-self.keep]
                del self.times[:-self.keep]

    def count(self, status: int | None = None, *, since: float | None = None) -> int:
        """Requests answered with ``status`` (None: any) at or after ``since``."""
        with self.lock:
            return sum(1 for (_, _, code), at in zip(self.requests, self.times, strict=True)
                       if (status is None or code == status)
                       and (since is None or at >= since))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.times.clear()


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


class _GitHTTPServer(http.server.ThreadingHTTPServer):
    # Join request threads on close so no thread outlives the test.
    daemon_threads = False
    block_on_close = True

    project_root: Path
    username: str
    password: str
    stats: ServerStats
    home: Path
    unavailable: int | None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _GitHTTPServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stats record every request; stderr noise helps nobody

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.server.username and password == self.server.password

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.server.stats.record(self.command, self.path, status)
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        body = httpbody.read(self)
        if self.server.unavailable is not None:
            self._send(self.server.unavailable, [("Content-Type", "text/plain"),
                                                 ("Retry-After", "1")],
                       b"service unavailable (switched off by the test)\n")
            return
        if not self._authorized():
            self._send(401, [("WWW-Authenticate", 'Basic realm="git"'),
                             ("Content-Type", "text/plain")], b"authentication required\n")
            return
        # A server must accept a request target in absolute form (RFC 9112 §3.2.2), as
        # nginx and Apache do: libgit2 sends one straight to the server for an
        # http:// remote when a proxy is configured (libgit2#5650).
        target = urlsplit(self.path)
        origin = (target.path + (f"?{target.query}" if target.query else "")
                  if target.scheme in ("http", "https") else self.path)
        path, _, query = origin.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.server.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.0",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_USER": self.server.username,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        # http-backend inflates gzip request bodies itself (git CLI sends them).
        if encoding := self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = encoding
        if protocol := self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = protocol
        proc = subprocess.run([str(HTTP_BACKEND)], input=body, env=env, capture_output=True,
                              check=False, timeout=60)
        crlf, lf = proc.stdout.find(b"\r\n\r\n"), proc.stdout.find(b"\n\n")
        sep = b"\r\n\r\n" if crlf != -1 and (lf == -1 or crlf < lf) else b"\n\n"
        head, _, payload = proc.stdout.partition(sep)
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key.strip(), value.strip()))
        if proc.returncode != 0 and not proc.stdout:
            status, payload = 500, proc.stderr
        self._send(status, headers, payload)


@dataclass
class GitHTTPServer:
    """A running server; ``url_for(repo)`` gives the clone URL of a repo under the root."""

    base_url: str
    project_root: Path
    username: str
    password: str
    stats: ServerStats
    _runner: _Runner | None = field(default=None, repr=False)

    def url_for(self, repo: Path, *, with_user: bool = False) -> str:
        rel = repo.relative_to(self.project_root).as_posix()
        if with_user:
            scheme, rest = self.base_url.split("://", 1)
            return f"{scheme}://{self.username}@{rest}/{rel}"
        return f"{self.base_url}/{rel}"

    @property
    def unavailable(self) -> int | None:
        """While set, every request is answered with this status (503: a proxy with
        no git server behind it)."""
        return self._runner_or_fail().unavailable

    @unavailable.setter
    def unavailable(self, status: int | None) -> None:
        runner = self._runner_or_fail()
        runner.unavailable = status
        if runner.server is not None:
            runner.server.unavailable = status

    def set_password(self, password: str) -> None:
        """Accept only ``password`` from now on (the old one is revoked)."""
        secretscan.register(password, "git HTTP password set by a test")
        runner = self._runner_or_fail()
        self.password = runner.password = password
        if runner.server is not None:
            runner.server.password = password

    def go_offline(self) -> None:
        """Close the listening socket: clients get connection refused."""
        self._runner_or_fail().stop()

    def go_online(self) -> None:
        """Listen again on the same port, with the same stats, password and switches."""
        self._runner_or_fail().start()

    @property
    def online(self) -> bool:
        return self._runner_or_fail().server is not None

    def _runner_or_fail(self) -> _Runner:
        if self._runner is None:
            raise RuntimeError("not a running server")
        return self._runner


class _Runner:
    """Owns the listening server and its thread; can stop and listen again on the port."""

    def __init__(self, project_root: Path, *, home: Path, username: str, password: str,
                 tls: TLSFiles | None) -> None:
        self.project_root, self.home = project_root, home
        self.username, self.password = username, password
        self.tls = tls
        self.stats = ServerStats()
        self.unavailable: int | None = None
        self.port = 0
        self.server: _GitHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.server is not None:
            return
        server = _GitHTTPServer(("127.0.0.1", self.port), _Handler)
        server.project_root = self.project_root
        server.username = self.username
        server.password = self.password
        server.stats = self.stats
        server.home = self.home
        server.unavailable = self.unavailable
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls.server_cert, self.tls.server_key)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       name=f"git-http-{self.port}")
        self.server = server
        self.thread.start()

    def stop(self) -> None:
        server, thread = self.server, self.thread
        self.server = self.thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)


@contextmanager
def serve_git_http(
    project_root: Path,
    *,
    home: Path,
    username: str = "reconciler",
    password: str = PASSWORD,
    tls: TLSFiles | None = None,
) -> Iterator[GitHTTPServer]:
    """Serve every repository under ``project_root`` on 127.0.0.1:<free port>."""
    secretscan.register(password, "git HTTP password given by a test")
    home.mkdir(parents=True, exist_ok=True)
    runner = _Runner(project_root, home=home, username=username, password=password, tls=tls)
    runner.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield GitHTTPServer(base_url=f"{scheme}://127.0.0.1:{runner.port}",
                            project_root=project_root, username=username, password=password,
                            stats=runner.stats, _runner=runner)
    finally:
        runner.stop()


def make_tls_files(directory: Path, *, host: str = "127.0.0.1") -> TLSFiles:
    """A throwaway CA and a server certificate for ``host`` signed by it (openssl CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(f"subjectAltName=IP:{host}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "2",
            "-subj", "/CN=reconciler test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={host}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return TLSFiles(ca_cert=ca_cert, server_cert=cert, server_key=key)
