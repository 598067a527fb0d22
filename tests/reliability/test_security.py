"""Security review: who the reconciler trusts, who may make it act, what it may do in
the cluster, and that no secret reaches a log line or an error message.

Each point has a test here or an existing one elsewhere; this file adds only what
the others do not cover (the list of which test covers which point is in
docs/reliability.md):

* SSH host keys: a key that changes after a good fetch stops the push; the CLI
  stops with one line; a passphrase-protected key works and a wrong passphrase
  never shows.
* HTTPS: a self-signed certificate, a certificate for another host and an expired
  one are refused before any request (so before any credential) is sent; only a
  CA bundle that signs a valid certificate for the host makes it trusted.
* Webhooks: replayed, truncated and other-algorithm signatures are refused and the
  daemon is never called; every state-changing route needs a signature; an empty
  secret file stops start-up.
* Secrets in output: tests/support/secretscan.py scans the whole suite's logs and
  outputs; the tests here prove that the scanner finds every form and fails a run.
* RBAC: the verbs each ``Cluster`` method needs are derived from the kubernetes
  client calls in reconciler/adapters/cluster.py; tests/unit/test_deploy_rbac.py's
  checks fail when a rule is added to deploy/ or the code calls something new.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from reconciler.adapters import cluster
from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import GitError, HostKeyError, PermanentError, RemoteUnreachable
from reconciler.interfaces import http
from tests.support import githttp, gitrepo, secretscan, sshd
from tests.support.cli import one_error_line as error_line
from tests.support.cli import run as reconciler_cli
from tests.support.fakedaemon import SECRET, FakeDaemon, post, release_body, sign
from tests.support.fixtures import KUSTOMIZATION
from tests.unit import deployfiles
from tests.unit import test_deploy_rbac as deploy_checks

ROOT = Path(__file__).resolve().parents[2]
KUST = "apps/podinfo/kustomization.yaml"




# -- SSH host keys ----------------------------------------------------------------------


def test_ssh_host_key_changed_after_a_good_fetch_stops_the_push(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    """The trust decision is made on every connection, not remembered from the last."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(ssh_key=sshd_server.client_key,
                                                 known_hosts=known_hosts))
    parent = mirror.fetch()
    sha = mirror.commit(parent=parent, message="release",
                        files={KUST: KUSTOMIZATION.replace("6.4.0", "6.5.0").encode()})
    # From now on the server at that address presents another key than the one on file.
    impostor = sshd.keygen(tmp_path / "impostor")
    known_hosts.write_text(sshd_server.known_hosts_line(impostor.with_suffix(".pub")))
    with pytest.raises(HostKeyError, match="does not match"):
        mirror.push(sha)
    assert config_repo.head() == parent


def test_ssh_changed_host_key_stops_the_cli_with_one_line(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, tmp_path: Path) -> None:
    impostor = sshd.keygen(tmp_path / "impostor")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line(impostor.with_suffix(".pub")))
    proc = reconciler_cli("plan", "--repo", sshd_server.url_for(config_repo.path),
                          "--ssh-key", str(sshd_server.client_key),
                          "--known-hosts", str(known_hosts), cache=tmp_path / "cache")
    assert proc.returncode == 1, proc.stderr
    line = error_line(proc)
    assert f"[127.0.0.1]:{sshd_server.port}" in line and str(known_hosts) in line
    assert "does not match" in line and "ssh-keygen -R" in line


def test_ssh_key_passphrase_from_a_file_works_and_a_wrong_one_never_shows(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    passphrase = secretscan.generate("SSH key passphrase (test_security.py)")
    key = tmp_path / "id_protected"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "protected",
                    "-f", str(key)], check=True, capture_output=True, timeout=30)
    # sshd_server serves tmp_path/sshd and reads authorized_keys on every login.
    with (tmp_path / "sshd" / "authorized_keys").open("a") as authorized:
        authorized.write(key.with_suffix(".pub").read_text())
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(passphrase + "\n")
    url = sshd_server.url_for(config_repo.path)

    good = Credentials.from_sources(ssh_key=key, ssh_passphrase_file=passphrase_file,
                                    known_hosts=known_hosts)
    assert passphrase not in repr(good)
    assert Mirror.open(url, cache_dir=cache_dir, credentials=good).fetch() == \
        config_repo.head()

    wrong = secretscan.generate("wrong SSH key passphrase (test_security.py)")
    bad = Credentials(ssh_key=key, ssh_passphrase=wrong, known_hosts=known_hosts)
    mirror = Mirror.open(url, cache_dir=cache_dir / "bad", credentials=bad)
    with pytest.raises(GitError) as info:
        mirror.fetch()
    for text in (str(info.value), repr(info.value), repr(info.value.__cause__)):
        assert wrong not in text and passphrase not in text


# -- HTTPS certificates -------------------------------------------------------------------


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def self_signed(directory: Path) -> githttp.TLSFiles:
    directory.mkdir(parents=True)
    key, cert = directory / "server.key", directory / "server.crt"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
    return githttp.TLSFiles(ca_cert=cert, server_cert=cert, server_key=key)


def expired(directory: Path) -> githttp.TLSFiles:
    """A certificate for 127.0.0.1 from a private CA, whose validity ended yesterday."""
    tls = githttp.make_tls_files(directory)
    # make_tls_files leaves the request, the extensions and the CA key: sign again.
    openssl("x509", "-req", "-in", str(directory / "server.csr"), "-CA", str(tls.ca_cert),
            "-CAkey", str(directory / "ca.key"), "-CAcreateserial",
            "-out", str(tls.server_cert), "-days", "-1",
            "-extfile", str(directory / "server.ext"))
    return tls


@pytest.fixture
def https_server(tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo,
                 ) -> Iterator[Callable[[githttp.TLSFiles], githttp.GitHTTPServer]]:
    """Start the git server over HTTPS with the given certificate."""
    with ExitStack() as stack:
        yield lambda tls: stack.enter_context(githttp.serve_git_http(
            config_repo.path.parent, home=git_home / "https", tls=tls))


def refused(server: githttp.GitHTTPServer, repo: gitrepo.BareRepo, cache: Path,
            ca_bundle: Path | None) -> str:
    creds = Credentials(username=server.username, password=server.password,
                        ca_bundle=ca_bundle)
    with pytest.raises(RemoteUnreachable, match="not trusted") as info:
        Mirror.open(server.url_for(repo.path), cache_dir=cache, credentials=creds).fetch()
    # Refused during the handshake: no request, so no credential, reached the server.
    assert server.stats.requests == []
    return str(info.value)


def test_https_self_signed_certificate_is_refused_unless_it_is_the_ca_bundle(
        https_server: Callable[[githttp.TLSFiles], githttp.GitHTTPServer],
        config_repo: gitrepo.BareRepo, tmp_path: Path, cache_dir: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    server = https_server(tls)
    assert "configure a CA bundle (--ca-bundle)" in refused(server, config_repo, cache_dir,
                                                            None)
    creds = Credentials(username=server.username, password=server.password,
                        ca_bundle=tls.ca_cert)
    assert Mirror.open(server.url_for(config_repo.path), cache_dir=cache_dir,
                       credentials=creds).fetch() == config_repo.head()


def test_https_certificate_for_another_host_is_refused_even_with_its_ca_bundle(
        https_server: Callable[[githttp.TLSFiles], githttp.GitHTTPServer],
        config_repo: gitrepo.BareRepo, tmp_path: Path, cache_dir: Path) -> None:
    tls = githttp.make_tls_files(tmp_path / "tls", host="127.0.0.2")  # served on 127.0.0.1
    server = https_server(tls)
    message = refused(server, config_repo, cache_dir, tls.ca_cert)
    assert f"the CA bundle {tls.ca_cert} does not vouch for it" in message


def test_https_expired_certificate_is_refused_even_with_its_ca_bundle(
        https_server: Callable[[githttp.TLSFiles], githttp.GitHTTPServer],
        config_repo: gitrepo.BareRepo, tmp_path: Path, cache_dir: Path) -> None:
    tls = expired(tmp_path / "tls")
    server = https_server(tls)
    assert "expired" in refused(server, config_repo, cache_dir, tls.ca_cert)


# -- webhooks ---------------------------------------------------------------------------


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def client(daemon: FakeDaemon) -> Iterator[TestClient]:
    with TestClient(http.create_app(daemon, webhook_secret=SECRET)) as c:
        yield c


def untouched(daemon: FakeDaemon) -> bool:
    return daemon.fetches == 0 and not daemon.candidates


def test_a_replayed_signature_is_refused_for_another_body_in_either_header(
        client: TestClient, daemon: FakeDaemon) -> None:
    signed = release_body(tag="6.6.0")
    captured = sign(signed)  # as GitHub sent it, in X-Hub-Signature-256
    for other in (release_body(tag="6.7.0"), release_body(rollout="apps/frontend"),
                  signed + b" ", json.dumps(json.loads(signed), indent=1).encode()):
        for header in http.SIGNATURE_HEADERS:
            r = post(client, "/hooks/release", other, header=header, signature=captured)
            assert r.status_code == 401, (header, other)
    assert untouched(daemon)


@pytest.mark.parametrize(("header", "value"), [
    ("X-Hub-Signature", "{sig}"),  # GitHub's legacy SHA-1 header is not one we read
    ("X-Signature-256", "{sig}"),
    ("X-Signature", "{sig},sha256=00"),
    ("X-Signature", "sha256=00,{sig}"),
    ("X-Signature", "{sig} {sig}"),
    ("X-Signature", "{sig}00"),
    ("X-Signature", "{short}"),
    ("X-Signature", "sha256:{hex}"),
    ("X-Signature", "sha256 = {hex}"),
    ("X-Signature", "sha256={hex}\x00"),
    ("X-Hub-Signature-256", "sha256=sha256={hex}"),
    ("X-Hub-Signature-256", "v1,{sig}"),  # the Standard Webhooks form
])
def test_a_valid_signature_in_another_header_form_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str, value: str) -> None:
    body = release_body()
    sig = sign(body)
    text = value.format(sig=sig, hex=sig.removeprefix("sha256="), short=sig[:-2])
    r = post(client, "/hooks/release", body, header=None, **{header: text})
    assert r.status_code == 401, r.text
    assert untouched(daemon)


@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
def test_a_signature_over_a_truncated_body_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str) -> None:
    body = release_body()
    for cut in (0, 1, len(body) // 2, len(body) - 1):
        # The signature of a prefix, with the whole body; and the reverse.
        assert post(client, "/hooks/release", body, header=header,
                    signature=sign(body[:cut])).status_code == 401
        assert post(client, "/hooks/release", body[:cut], header=header,
                    signature=sign(body)).status_code == 401
    assert untouched(daemon)


@pytest.mark.parametrize("algorithm", ["sha1", "sha512", "sha224", "sha3_256", "md5",
                                       "blake2s"])
@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
def test_a_signature_with_another_algorithm_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str, algorithm: str) -> None:
    body = release_body()
    digest = hmac.new(SECRET, body, getattr(hashlib, algorithm)).hexdigest()
    for label in (algorithm, "sha256"):  # honestly labelled, and passed off as sha256
        r = post(client, "/hooks/release", body, header=header, signature=f"{label}={digest}")
        assert r.status_code == 401, (label, r.text)
    assert untouched(daemon)


def test_every_route_that_acts_needs_a_signature(daemon: FakeDaemon) -> None:
    """Derived from the app's routes: anything but GET/HEAD must be a signed hook, no
    GET calls the daemon's acting methods, and there is nothing else (no mount, no
    websocket) that could take a request past the checks."""
    app = http.create_app(daemon, webhook_secret=SECRET)
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert len(routes) == len(app.routes), [r for r in app.routes if r not in routes]
    acting = {(method, route.path) for route in routes for method in route.methods or ()
              if method not in ("GET", "HEAD")}
    assert acting == {("POST", "/hooks/git"), ("POST", "/hooks/release")}
    with TestClient(app) as c:
        for _, path in sorted(acting):
            assert post(c, path, release_body(), header=None).status_code == 401
        for route in routes:
            if "GET" in (route.methods or ()):
                c.get(route.path.format(namespace="apps", name="podinfo"))
    with TestClient(http.create_app(daemon, webhook_secret=None)) as off:
        for _, path in sorted(acting):
            assert post(off, path, release_body()).status_code == 404
    assert untouched(daemon)


def test_an_empty_webhook_secret_file_stops_start_up(
        config_repo: gitrepo.BareRepo, tmp_path: Path) -> None:
    """Blanks only count as empty: HMAC with a key of spaces authenticates nobody.
    (test_http_webhooks.py covers a missing file and one holding only a newline.)"""
    secret_file = tmp_path / "webhook-secret"
    for blank in (b" ", b"\t\n", b" \r\n"):
        secret_file.write_bytes(blank)
        with pytest.raises(PermanentError, match="is empty"):
            http.load_secret(secret_file)
    secret_file.write_bytes(b" \t\r\n")
    # A kubeconfig that exists (its API server is never reached): a missing one is
    # refused first, and this test is about the secret.
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
        "current-context: c\n")
    proc = reconciler_cli("run", "--repo", config_repo.url, "--http-address", "127.0.0.1:0",
                          "--webhook-secret-file", str(secret_file),
                          "--kubeconfig", str(tmp_path / "kubeconfig"),
                          cache=tmp_path / "cache")
    assert proc.returncode != 0
    assert f"webhook secret file {secret_file} is empty" in proc.stderr
    assert "serving HTTP" not in proc.stderr + proc.stdout


# -- the secret scanner ------------------------------------------------------------------


def test_the_secret_scan_finds_every_form_and_names_only_the_label() -> None:
    from base64 import b64encode
    from urllib.parse import quote

    token = secretscan.Secret("token", "t0k-3n/with+odd=chars&more")
    other = secretscan.Secret("other", "never-written-anywhere-1234")
    basic = b64encode(f"x-access-token:{token.value}".encode()).decode()
    sources = [
        ("plain", f"error: auth failed for {token.value}"),
        ("url", f"https://bot:{quote(token.value, safe='')}@host/repo"),
        ("json", json.dumps({"password": token.value})),
        ("header", f"Authorization: Basic {basic}"),
        ("clean", "fetched https://bot@host/repo (12 objects) " + "x" * 200),
    ]
    leaks = secretscan.find_leaks([token, other], sources)
    assert {leak.where for leak in leaks} == {"plain", "url", "json", "header"}
    assert {leak.label for leak in leaks} == {"token"}
    assert any(leak.form.startswith("base64") for leak in leaks if leak.where == "header")
    for user in ("a", "ab", "abc", "reconciler"):  # every base64 alignment
        header = b64encode(f"{user}:{token.value}".encode()).decode()
        assert secretscan.find_leaks([token], [("h", header)]), user
    assert token.value not in repr(leaks)


@pytest.mark.parametrize("workers", [[], ["-p", "xdist.plugin", "-n", "2"]],
                         ids=["one-process", "xdist-workers"])
def test_the_secret_scan_fails_a_run_that_leaks(tmp_path: Path, workers: list[str]) -> None:
    """A pytest run with only the plugin: a test that logs a registered secret, one that
    prints its basic-auth header, one that writes it to a log file nobody registered,
    one clean. The run fails and names the labels only, also when pytest-xdist workers
    ran the tests (their scans reach the controller, which fails the run)."""
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent("""
        import base64, logging
        from tests.support import secretscan

        def test_logs_it():
            token = secretscan.generate("the fake token")
            logging.getLogger("reconciler.fake").info("using %s", token)

        def test_prints_the_header():
            password = secretscan.generate("the fake password")
            print(base64.b64encode(f"bot:{password}".encode()).decode())

        def test_writes_a_log_file(tmp_path):
            token = secretscan.generate("the file token")
            (tmp_path / "service.log").write_text(f"auth with {token} failed")

        def test_clean():
            secretscan.generate("the quiet secret")
            logging.getLogger("reconciler.fake").warning("nothing to see")
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.support.secretscan",
                           "-p", "no:cacheprovider", *workers, "-q", "test_leaky.py",
                           f"--basetemp={tmp_path / 'temp'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
    assert "secrets leaked into output" in proc.stdout
    assert ("the fake token (plain) in a log record (INFO reconciler.fake) of "
            "test_leaky.py::test_logs_it") in proc.stdout
    assert "the fake password (base64" in proc.stdout
    assert "captured stdout of test_leaky.py::test_prints_the_header" in proc.stdout
    assert "the file token (plain) in log file " in proc.stdout
    assert "service.log (not registered)" in proc.stdout
    assert "the quiet secret" not in proc.stdout
    assert "sek-" not in proc.stdout  # the secrets themselves are never printed
    if not workers:
        assert "secretscan: 4 secrets; scanned" in proc.stdout and "; 3 leaks" in proc.stdout
    else:  # one summary per worker (and the controller's own); the leaks add up to three
        counts = re.findall(r"secretscan: \d+ secrets; .*; (\d+) leaks", proc.stdout)
        assert len(counts) == 3 and sum(map(int, counts)) == 3, proc.stdout


# -- RBAC -------------------------------------------------------------------------------

# The first word of a kubernetes client method, as the RBAC verb it needs.
CLIENT_VERBS = {"list": "list", "get": "get", "read": "get", "create": "create",
                "replace": "update", "patch": "patch", "delete": "delete",
                # adapters/coregroup.CoreGroup, the core group's endpoints
                "lister": "list", "reader": "get", "creator": "create", "patcher": "patch"}


def _client_verb(method: str) -> str:
    verb = CLIENT_VERBS.get(method.split("_", 1)[0], f"unknown client call {method}")
    return verb + ("/status" if method.endswith("_status") else "")


def cluster_method_verbs(source: str) -> dict[str, set[str]]:
    """Public ``Cluster`` method -> the RBAC verbs of the kubernetes client calls it makes
    (``patch/status`` for the status subresource), following the private helpers it
    calls. Read from the adapter's source."""
    tree = ast.parse(source)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Cluster"]
    methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}

    def is_api(node: ast.AST) -> bool:  # self._custom or self._core
        return (isinstance(node, ast.Attribute) and node.attr in ("_custom", "_core")
                and isinstance(node.value, ast.Name) and node.value.id == "self")

    def direct(fn: ast.FunctionDef) -> tuple[set[str], set[str]]:
        verbs: set[str] = set()
        calls: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and is_api(node.func.value) and node.func.attr == "patcher":
                # CoreGroup.patcher(plural, namespace, name, "status"): the subresource
                sub = [a.value for a in node.args[3:] if isinstance(a, ast.Constant)]
                verbs.add("patch" + ("/status" if sub == ["status"] else ""))
            elif isinstance(node, ast.Attribute) and is_api(node.value):
                if node.attr != "patcher":  # its Call says which (above)
                    verbs.add(_client_verb(node.attr))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "self" and node.attr in methods:
                calls.add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                args = node.args
                if node.func.id == "_core_method":  # "read" + kind [+ "_status"]
                    parts = [a.value for a in args if isinstance(a, ast.Constant)]
                    verbs.add(_client_verb("_".join(str(p) for p in parts)))
                elif node.func.id == "getattr" and args and is_api(args[0]) \
                        and isinstance(args[1], ast.JoinedStr):
                    first = args[1].values[0]
                    assert isinstance(first, ast.Constant)
                    verbs.add(_client_verb(str(first.value)))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "Watcher":  # streams the list call, watch=True
                verbs.add("watch")
        return verbs, calls

    found = {name: direct(fn) for name, fn in methods.items()}

    def closure(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        verbs, calls = found[name]
        return verbs.union(*(closure(c, seen | {name}) for c in calls if c not in seen))

    return {name: closure(name) for name in methods if not name.startswith("_")}


def rbac_derivation_gaps(source: str) -> dict[str, tuple[set[str], set[str]]]:
    """Where test_deploy_rbac's map of Cluster methods to verbs (``VERBS``, and a watched Kind
    granted ``READ``) differs from what the adapter's source calls: method ->
    (derived, assumed)."""
    assumed = {m: {verb + ("/status" if m == "patch_status" else "")}
               for m, verb in deploy_checks.VERBS.items()}
    assumed["watch"] = set(deploy_checks.READ)  # informer Kinds get READ in test_deploy_rbac
    assumed["create_event"] = {"create"}  # core/v1 events, by name in test_deploy_rbac
    derived = {m: v for m, v in cluster_method_verbs(source).items() if v}
    return {m: (derived.get(m, set()), assumed.get(m, set()))
            for m in derived.keys() | assumed.keys()
            if derived.get(m, set()) != assumed.get(m, set())}


def test_rbac_verbs_of_every_cluster_method_are_derived_from_its_client_calls() -> None:
    source = Path(cluster.__file__).read_text(encoding="utf-8")
    assert rbac_derivation_gaps(source) == {}
    assert cluster_method_verbs(source)["create_event"] == {"create"}
    assert {m for m, v in cluster_method_verbs(source).items() if v} >= {
        "get", "list", "watch", "patch_status", "create", "replace", "annotate"}


def test_rbac_derivation_notices_a_new_kind_of_api_call() -> None:
    source = Path(cluster.__file__).read_text(encoding="utf-8")
    mutated = source.replace("    # -- plumbing ", textwrap.indent(textwrap.dedent("""\
        def delete(self, kind: Kind, *, namespace: str, name: str) -> None:
            self._call("delete", kind, name, self._custom.delete_namespaced_custom_object,
                       *_custom_args(kind, namespace, name))

        """), "    ") + "    # -- plumbing ", 1)
    assert mutated != source
    assert rbac_derivation_gaps(mutated) == {"delete": ({"delete"}, set())}
    sneaky = source.replace("self._custom.patch_namespaced_custom_object_status",
                            "self._custom.replace_namespaced_custom_object_status")
    assert rbac_derivation_gaps(sneaky) == {
        "patch_status": ({"patch/status", "update/status"}, {"patch/status"})}


def test_lease_role_grants_exactly_what_leader_election_calls() -> None:
    """test_deploy_rbac checks the calls are a subset of the Role; this closes the other
    direction: a Lease verb the code stopped using must leave the Role too."""
    used = {u for u in deploy_checks.daemon_uses() if u[0] == "coordination.k8s.io"}
    role = deploy_checks.one("Role", "reconciler-leader-election")
    assert deploy_checks.grants(role) == used


def _add_rule(kind: str, rule: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(docs: list[dict[str, Any]]) -> None:
        next(d for d in docs if d["kind"] == kind)["rules"].append(rule)
    return mutate


def _edit_rule(kind: str, resource: str, **changes: Any,
               ) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(docs: list[dict[str, Any]]) -> None:
        role = next(d for d in docs if d["kind"] == kind)
        rule = next(r for r in role["rules"] if resource in r["resources"]
                    and "resourceNames" in r) if kind == "Role" else \
            next(r for r in role["rules"] if resource in r["resources"])
        for key, value in changes.items():
            if value is None:
                rule.pop(key, None)
            else:
                rule[key] = value
    return mutate


CLUSTER_ROLE_CHECKS = ("test_cluster_role_grants_exactly_the_table",
                       "test_no_secrets_anywhere_in_rbac")
LEASE_ROLE_CHECKS = ("test_lease_role_is_namespaced_and_minimal",)


@pytest.mark.parametrize(("mutate", "checks"), [
    (_add_rule("ClusterRole", {"apiGroups": ["apps"], "resources": ["deployments"],
                               "verbs": ["get"]}), CLUSTER_ROLE_CHECKS),
    (_add_rule("ClusterRole", {"apiGroups": [""], "resources": ["secrets"],
                               "verbs": ["get"]}), CLUSTER_ROLE_CHECKS),
    (_add_rule("ClusterRole", {"apiGroups": ["kuberik.com"], "resources": ["rollouts"],
                               "verbs": ["update"]}), CLUSTER_ROLE_CHECKS),
    (_add_rule("ClusterRole", {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
     CLUSTER_ROLE_CHECKS),
    (_edit_rule("ClusterRole", "gitrepositories", resourceNames=None), CLUSTER_ROLE_CHECKS),
    (_edit_rule("ClusterRole", "events", verbs=["create", "delete"]), CLUSTER_ROLE_CHECKS),
    (_add_rule("Role", {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                        "verbs": ["list"]}), LEASE_ROLE_CHECKS),
    (_edit_rule("Role", "leases", resourceNames=None), LEASE_ROLE_CHECKS),
], ids=["new-resource", "secrets", "spec-update", "wildcard", "any-gitrepository",
        "delete-events", "lease-list", "any-lease"])
def test_rbac_checks_fail_when_deploy_grants_more(
        monkeypatch: pytest.MonkeyPatch, mutate: Callable[[list[dict[str, Any]]], None],
        checks: tuple[str, ...]) -> None:
    docs = copy.deepcopy(deploy_checks.manifests())
    mutate(docs)
    monkeypatch.setattr(deploy_checks, "manifests", lambda: docs)
    monkeypatch.setattr(deployfiles, "manifests", lambda: docs)  # what one() reads
    failed = []
    for name in checks:
        try:
            getattr(deploy_checks, name)()
        except (AssertionError, KeyError):  # a rule without its resourceNames: KeyError
            failed.append(name)
    assert failed, f"deploy/ granting more went unnoticed by {checks}"


def test_rbac_check_fails_when_the_daemon_calls_something_new(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    extra = tmp_path / "new_feature.py"
    extra.write_text(textwrap.dedent("""
        from reconciler.adapters import cluster as k8s

        def scale(c: k8s.Cluster) -> None:
            c.replace(k8s.ROLLOUT, namespace="apps", name="podinfo", body={})
    """))
    monkeypatch.setattr(deploy_checks, "DAEMON_SOURCES", [*deploy_checks.DAEMON_SOURCES, extra])
    with pytest.raises(AssertionError, match="rollouts"):
        deploy_checks.test_rbac_table_is_the_daemons_use()
