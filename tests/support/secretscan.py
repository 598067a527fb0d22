"""A pytest plugin that fails the session when a secret the tests use shows up in output.

Registered in tests/conftest.py, so it watches every run of the suite:

* every secret the tests hand to the product is registered where it is made
  (``generate`` for a fresh random one, ``register`` for a value a test needs, such
  as a deliberately wrong password): the git HTTP password (tests/support/githttp.py),
  webhook secrets, tokens, SSH key passphrases;
* a root-logger handler captures every log record emitted in the test process
  (message, exception text, stack and ``extra`` fields), with the product's loggers
  at DEBUG and the root at INFO, as ``reconciler run`` configures them, so the
  records a deployed daemon would write are emitted here too;
* the output of processes the tests start is captured where they start them:
  ``capture`` for a CLI run's stdout/stderr, ``watch_file`` for a daemon's log file
  (read when the session ends), and, as a safety net, every ``*.log`` file under the
  session's temporary directory; what tests print in-process (pytest's captured
  stdout/stderr) is captured too.

When the session ends every registered secret is looked for in all of it, in plain
text and in the forms it takes on the wire: URL-encoded, JSON-escaped and base64 at
any alignment (which covers a basic-auth header, ``base64("user:password")``, for
any user). A match fails the session (exit status 1) with a report naming the
secret's label, the form and where it appeared, never the secret itself. The
summary line gives the figures; ``find_leaks`` is the pure scanning function the
plugin uses (tests/reliability/test_security_secrets.py tests it).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets as random_secrets
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

MIN_LENGTH = 8
"""Shorter values are recorded but not scanned: a match would mean nothing."""

_MIN_NEEDLE = 12  # the shortest encoded form worth looking for
_BETWEEN_TESTS = "(outside any test)"
_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@dataclass(frozen=True)
class Secret:
    label: str
    value: str


@dataclass(frozen=True)
class Leak:
    label: str
    form: str
    where: str


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    secrets: dict[str, Secret] = field(default_factory=dict)
    too_short: set[str] = field(default_factory=set)
    logs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    outputs: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)
    current: str = _BETWEEN_TESTS
    records: int = 0
    reinstalled: int = 0
    scanned_bytes: int = 0
    scanned_files: int = 0
    missing_files: int = 0
    leaks: list[Leak] = field(default_factory=list)
    scanned: bool = False
    scan_seconds: float = 0.0


_state = _State()


# -- what the tests call ------------------------------------------------------------


def register(value: str | bytes, label: str) -> str:
    """Remember ``value`` as a secret called ``label`` (what the report names); returns
    it as text. Values shorter than ``MIN_LENGTH`` are counted but not scanned."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    with _state.lock:
        if len(text) < MIN_LENGTH:
            _state.too_short.add(text)
        elif text not in _state.secrets:
            _state.secrets[text] = Secret(label, text)
    return text


def generate(label: str) -> str:
    """A fresh random secret, registered: distinctive enough that a match is a leak."""
    return register("sek-" + random_secrets.token_hex(16), label)


def capture(text: str | bytes | None, what: str) -> None:
    """Scan ``text`` (a process's output the test captured) at the end of the session."""
    if text:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with _state.lock:
            _state.outputs.append((f"{what} in {_state.current}", text))


def capture_process(proc: subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes],
                    what: str) -> None:
    """Both streams of a finished process."""
    capture(proc.stdout, f"stdout of {what}")
    capture(proc.stderr, f"stderr of {what}")


def watch_file(path: Path, what: str) -> None:
    """Read and scan ``path`` (a daemon's log file) when the session ends."""
    with _state.lock:
        _state.files.append((Path(path), f"{what} ({path}) of {_state.current}"))


# -- scanning -----------------------------------------------------------------------


def forms(value: str) -> dict[str, str]:
    """The strings that give ``value`` away: form name -> needle (longest first)."""
    raw = value.encode("utf-8")
    found: dict[str, str] = {"plain": value}
    for name, encoded in (("URL-encoded", quote(value, safe="")),
                          ("URL-encoded (form)", quote_plus(value)),
                          ("JSON-escaped", json.dumps(value)[1:-1])):
        if encoded not in found.values():
            found[name] = encoded
    # base64 of any text holding the value (a basic-auth header is base64("user:" +
    # value)): the characters that depend on the value's bytes alone, for each of the
    # three alignments, in both alphabets.
    for offset in range(3):
        data = b"\0" * offset + raw
        first = -(-offset // 3) * 4  # the first group made only of the value's bytes
        last = len(data) // 3 * 4  # groups after this one may mix in the next bytes
        for alphabet, encode in (("base64", base64.b64encode),
                                 ("base64url", base64.urlsafe_b64encode)):
            core = encode(data).decode("ascii")[first:last]
            if len(core) >= _MIN_NEEDLE and core not in found.values():
                found[f"{alphabet} (offset {offset})"] = core
    return found


def _matches(secrets: Iterable[Secret], sources: Iterable[tuple[str, str]],
             ) -> Iterator[tuple[Leak, str]]:
    needles = [(s.label, form, needle) for s in secrets for form, needle in forms(s.value).items()]
    for where, text in sources:
        for label, form, needle in needles:
            if needle in text:
                yield Leak(label, form, where), needle


def find_leaks(secrets: Iterable[Secret], sources: Iterable[tuple[str, str]]) -> list[Leak]:
    """Every (secret, form, source) where a form of a secret occurs in a source's
    text. ``sources`` are (where, text). Pure: no state, no I/O."""
    return [leak for leak, _ in _matches(secrets, sources)]


def _log_sources(logs: dict[str, list[str]]) -> Iterator[tuple[str, str]]:
    for nodeid, lines in logs.items():
        yield f"log records of {nodeid}", "\n".join(lines)


def _locate(leak: Leak, needle: str, logs: dict[str, list[str]]) -> str:
    """For a leak in a test's log records, which record (level and logger)."""
    if not leak.where.startswith("log records of "):
        return leak.where
    nodeid = leak.where.removeprefix("log records of ")
    for line in logs.get(nodeid, []):
        if needle in line:
            level, logger = line.split(" ", 2)[:2]
            return f"a log record ({level} {logger.rstrip(':')}) of {nodeid}"
    return leak.where


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def _log_files_under(directory: Path | None) -> list[tuple[Path, str]]:
    """Every ``*.log`` below ``directory``: a safety net for process logs nobody
    registered with ``watch_file``."""
    if directory is None:
        return []
    found = []
    for parent, _, names in os.walk(directory):
        found += [(Path(parent) / n, f"log file {Path(parent) / n} (not registered)")
                  for n in names if n.endswith(".log")]
    return found


def scan(temp_dir: Path | None = None) -> list[Leak]:
    """Scan everything captured so far, and the ``*.log`` files under ``temp_dir`` (the
    plugin does it once, at session end, with the session's temporary directory)."""
    started = time.monotonic()
    _handler.acquire()  # no record half-stored while we copy
    try:
        with _state.lock:
            secrets = list(_state.secrets.values())
            logs = {k: list(v) for k, v in _state.logs.items()}
            outputs = list(_state.outputs)
            files = list(_state.files)
    finally:
        _handler.release()
    watched = {path.resolve() for path, _ in files}
    files += [(path, what) for path, what in _log_files_under(temp_dir)
              if path.resolve() not in watched]
    sources: list[tuple[str, str]] = list(_log_sources(logs)) + outputs
    missing = 0
    for path, what in files:
        text = _read(path)
        if text is None:
            missing += 1
        else:
            sources.append((what, text))
    leaks = [Leak(leak.label, leak.form, _locate(leak, needle, logs))
             for leak, needle in _matches(secrets, sources)]
    _state.scanned_bytes = sum(len(text) for _, text in sources)
    _state.scanned_files = len(files) - missing
    _state.missing_files = missing
    _state.leaks = leaks
    _state.scanned = True
    _state.scan_seconds = time.monotonic() - started
    return leaks


# -- the log handler ------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)  # message, exception text and stack
        except Exception:  # a broken format string: keep what there is
            text = f"{record.levelname} {record.name}: {record.msg!r} {record.args!r}"
        extra = [f"{k}={v!r}" for k, v in vars(record).items()
                 if k not in _STANDARD_RECORD_FIELDS]
        if extra:
            text += " " + " ".join(extra)
        _state.logs[_state.current].append(text)
        _state.records += 1


_handler = _Capture()
_saved_levels: dict[str, int] = {}


def _install() -> None:
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


# -- pytest hooks ----------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _install()
    # As `reconciler run` logs (root at INFO), and the product's DEBUG lines too.
    for name, level in (("", logging.INFO), ("reconciler", logging.DEBUG)):
        logger = logging.getLogger(name)
        _saved_levels[name] = logger.level
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)


def pytest_runtest_logstart(nodeid: str) -> None:
    _state.current = nodeid
    if _handler not in logging.getLogger().handlers:  # something replaced root's handlers
        _state.reinstalled += 1
        _install()


def pytest_runtest_logfinish(nodeid: str) -> None:
    _state.current = _BETWEEN_TESTS


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":  # the teardown report holds every phase's output
        return
    for stream, text in (("stdout", report.capstdout), ("stderr", report.capstderr)):
        if text:
            with _state.lock:
                _state.outputs.append((f"captured {stream} of {report.nodeid}", text))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    logging.getLogger().removeHandler(_handler)
    for name, level in _saved_levels.items():
        logging.getLogger(name).setLevel(level)
    # Only if this session made one (getbasetemp() would make it).
    temp_dir = getattr(getattr(session.config, "_tmp_path_factory", None), "_basetemp", None)
    leaked = scan(temp_dir)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _state.scanned:
        # A pytest-xdist worker: the controller prints the summary and fails the run
        # (a worker's own exit status does not reach it).
        workeroutput["secretscan"] = {"summary": summary(), "leaks": [
            f"{leak.label} ({leak.form}) in {leak.where}" for leak in _state.leaks]}
    if _workers_leaked:
        leaked = True
    if leaked and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# What each pytest-xdist worker reported (the controller's side), and whether any leaked.
_worker_reports: list[dict[str, Any]] = []
_workers_leaked: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    report = getattr(node, "workeroutput", {}).get("secretscan")
    if report:
        _worker_reports.append(report)
        _workers_leaked.extend(report["leaks"])


def summary() -> str:
    skipped = f" (+{len(_state.too_short)} too short to scan)" if _state.too_short else ""
    reinstalled = (f", log handler reinstalled {_state.reinstalled}x"
                   if _state.reinstalled else "")
    missing = f", {_state.missing_files} files missing" if _state.missing_files else ""
    return (f"secretscan: {len(_state.secrets)} secrets{skipped}; scanned "
            f"{_state.records} log records, {len(_state.outputs)} captured outputs, "
            f"{_state.scanned_files} files{missing}: {_state.scanned_bytes / 1e6:.1f} MB"
            f" in {_state.scan_seconds:.2f}s{reinstalled}; {len(_state.leaks)} leaks")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in _worker_reports:
        for line in report["leaks"]:
            terminalreporter.write_line(f"secrets leaked into output: {line}", red=True)
        terminalreporter.write_line(report["summary"], red=bool(report["leaks"]))
    if not _state.scanned:
        return
    if _state.leaks:
        terminalreporter.write_sep("=", "secrets leaked into output", red=True, bold=True)
        for leak in _state.leaks:
            terminalreporter.write_line(f"{leak.label} ({leak.form}) in {leak.where}",
                                        red=True)
    terminalreporter.write_line(summary(), red=bool(_state.leaks))
