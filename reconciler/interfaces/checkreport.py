"""How ``reconciler check`` prints its ``Report`` (docs/check.md, "Outputs").

* ``text``: readable lines, one section per cluster;
* ``markdown``: a pull-request comment body (a heading, a table per cluster, the
  introduced problems, the base's own in a collapsed ``<details>``), marked with
  ``MARKER`` so that a CI job can find and update its previous comment;
* ``json``: one object (the shape is documented in docs/check.md);
* ``github``: GitHub Actions workflow commands, one per line: ``::error`` for an
  introduced error, ``::warning`` for an introduced warning and for a finding worth
  a reviewer's attention (a pin, a hold...).
Rendering only: every decision was made in ``core.impact``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconciler.core import impact, manifests
from reconciler.errors import printable

if TYPE_CHECKING:
    from reconciler.interfaces.check import Report, Section

MARKER = "<!-- reconciler-check -->"


def render(report: Report, output: str) -> str:
    """The whole output in format ``output`` (one of ``FORMATS``), newline-terminated."""
    return FORMATS[output](report)


def _short(sha: str) -> str:
    return sha[:12]


def _where(file: str | None, line: int | None) -> str:
    if file is None:
        return ""
    return f"{file}:{line}" if line is not None else file


def _problem(p: manifests.Problem) -> str:
    """A problem without its location (printed beside it)."""
    return f"{p.field}: {p.message}" if p.field else p.message


def _by_rollout(section: Section) -> dict[str, list[impact.Finding]]:
    out: dict[str, list[impact.Finding]] = {}
    for finding in section.findings:
        out.setdefault(finding.rollout, []).append(finding)
    return out


# -- text ------------------------------------------------------------------------------

def text(report: Report) -> str:
    lines = [f"check {report.base_ref} ({_short(report.base)}) -> {report.head_ref} "
             f"({_short(report.head)})"]
    several = len(report.sections) > 1
    for section in report.sections:
        if several:
            lines.append(f"== {section.label} ==")
        rollouts = _by_rollout(section)
        if not rollouts:
            lines.append("no change to releases")
        for rollout, findings in rollouts.items():
            lines.append(f"{rollout}:")
            for f in findings:
                where = _where(f.file, f.line)
                lines.append(printable(f"    {f.kind}: {f.message}"
                                       + (f"  [{where}]" if where else "")))
        if section.introduced:
            lines.append(f"problems introduced ({len(section.introduced)}):")
            lines += [f"    {p.render()}" for p in section.introduced]
        if section.existing:
            lines.append(f"problems already on base, not counted ({len(section.existing)}):")
            lines += [f"    {p.render()}" for p in section.existing]
    introduced = sum(len(s.introduced) for s in report.sections)
    lines.append(f"{report.errors} errors, {introduced - report.errors} warnings introduced; "
                 f"{sum(len(s.existing) for s in report.sections)} problems already on base")
    return "\n".join(lines) + "\n"


# -- markdown --------------------------------------------------------------------------

def _cell(text: str) -> str:
    # A pull request's author writes these values: one line, and no HTML of theirs
    # in the bot's comment.
    text = printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{printable(text).replace('`', chr(39))}`"


def _md_problem(p: manifests.Problem) -> str:
    icon = ":x:" if p.severity == "error" else ":warning:"
    return f"- {icon} {_code(_where(p.file, p.line))} {_cell(_problem(p))}"


def markdown(report: Report) -> str:
    verdict = (f":x: {report.errors} error(s) introduced" if report.errors
               else ":white_check_mark: no error introduced")
    lines = [MARKER, f"## reconciler check: {verdict}", "",
             f"{_code(report.base_ref)} ({_short(report.base)}) → {_code(report.head_ref)} "
             f"({_short(report.head)})"]
    several = len(report.sections) > 1
    for section in report.sections:
        lines.append("")
        if several or section.root is not None:
            lines += [f"### {_cell(section.label)}", ""]
        rollouts = _by_rollout(section)
        if rollouts:
            lines += ["| Rollout | Effect |", "|---|---|"]
            for rollout, findings in rollouts.items():
                effects = "<br>".join(
                    (":warning: " if f.severity == "warning" else "")
                    + f"**{f.kind}**: {_cell(f.message)}"
                    + (f" ({_code(_where(f.file, f.line))})" if f.file else "") for f in findings)
                lines.append(f"| {_code(rollout)} | {effects} |")
        else:
            lines.append("No change to releases.")
        if section.introduced:
            lines += ["", f"**Problems introduced ({len(section.introduced)})**", ""]
            lines += [_md_problem(p) for p in section.introduced]
        if section.existing:
            lines += ["", f"<details><summary>{len(section.existing)} problem(s) already on "
                      f"base (not counted)</summary>", ""]
            lines += [_md_problem(p) for p in section.existing]
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


# -- json ------------------------------------------------------------------------------

def _problem_dict(p: manifests.Problem) -> dict[str, Any]:
    return {"severity": p.severity, "file": p.file, "line": p.line, "document": p.document,
            "field": p.field, "message": p.message}


def as_json(report: Report) -> str:
    data = {
        "base": {"ref": report.base_ref, "commit": report.base},
        "head": {"ref": report.head_ref, "commit": report.head},
        "errors": report.errors,
        "clusters": [{
            "environment": s.environment,
            "path": s.root,
            "rollouts": [{"rollout": rollout, "changes": [f.as_dict() for f in findings]}
                         for rollout, findings in _by_rollout(s).items()],
            "problems": {"introduced": [_problem_dict(p) for p in s.introduced],
                         "existing": [_problem_dict(p) for p in s.existing]},
        } for s in report.sections],
    }
    return json.dumps(data, indent=2) + "\n"


# -- GitHub Actions --------------------------------------------------------------------

def _data(text: str) -> str:
    # The escapes the Actions runner decodes (actions/toolkit, command.ts); any other
    # control character from the repository is shown, not sent to the log viewer.
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, message: str, file: str | None, line: int | None) -> str:
    props = [f"file={_property(file)}"] if file else []
    if file and line is not None:
        props.append(f"line={line}")
    return f"::{level} {','.join(props)}::{_data(message)}" if props \
        else f"::{level}::{_data(message)}"


def github(report: Report) -> str:
    lines = []
    several = len(report.sections) > 1
    for section in report.sections:
        prefix = f"[{section.environment}] " if several else ""
        for p in section.introduced:
            lines.append(_command(p.severity, prefix + _problem(p), p.file, p.line))
        for f in section.findings:
            if f.severity == "warning":
                lines.append(_command("warning", f"{prefix}{f.rollout}: {f.message}",
                                      f.file, f.line))
    return "".join(f"{line}\n" for line in lines)


FORMATS: dict[str, Callable[[Report], str]] = {
    "text": text, "markdown": markdown, "json": as_json, "github": github}
