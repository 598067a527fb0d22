"""Regenerate ``masterminds_cases.json`` from Masterminds/semver's Go test tables.

Not a test; run by hand when moving to a newer upstream commit:

    git clone https://github.com/Masterminds/semver /tmp/semver
    python tests/unit/data/extract_masterminds.py /tmp/semver [COMMIT] \
        > tests/unit/data/masterminds_cases.json

It reads the literal rows of the tables named in ``TABLES`` and decides, for each
row, whether it applies to Flux. That decision uses only the row itself and the
semver.org grammar, never the code under test, so the table cannot bend to fit it.
A row does not apply when Flux could never evaluate it:

- ``tag``: the version is not a full ``MAJOR.MINOR.PATCH`` semantic version. Flux
  parses tags with ``StrictNewVersion`` and skips those it refuses, so such a
  version never reaches a range (upstream coerces it with ``NewVersion``);
- ``build-metadata``: the version has ``+build``; ``+`` cannot occur in an OCI tag;
- ``include-prerelease``: the table sets ``IncludePrerelease``, which Flux never
  does, and the version is a prerelease (the only case where the flag matters);
- ``empty-constraint``: the row calls ``parseConstraint("")`` directly; Flux calls
  ``NewConstraint``, which refuses an empty constraint;
- ``v-prefix``: the row is about ``StrictNewVersion`` refusing a leading ``v``; Flux
  drops one leading ``v`` before calling it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

STRING = r'"(?:[^"\\]|\\.)*"'
BOOL = r"(true|false)"
# The official semver.org pattern: a full version, as StrictNewVersion wants it.
SEMVER_ORG = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
# Masterminds' constraint functions by the operator they implement.
FUNCTIONS = {
    "constraintGreaterThanEqual": ">=", "constraintLessThanEqual": "<=",
    "constraintGreaterThan": ">", "constraintLessThan": "<",
    "constraintTildeOrEqual": "=", "constraintNotEqual": "!=",
    "constraintTilde": "~", "constraintCaret": "^", "nil": None,
}
CHECK_ROW = re.compile(rf"\{{\s*({STRING})\s*,\s*({STRING})\s*,\s*{BOOL}\s*\}}")
MESSAGE_ROW = re.compile(rf"\{{\s*({STRING})\s*,\s*({STRING})\s*,\s*`[^`]*`\s*\}}")
NEW_CONSTRAINT_ROW = re.compile(rf"\{{\s*({STRING})\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*{BOOL}\s*\}}")
PARSE_CONSTRAINT_ROW = re.compile(
    rf"\{{\s*({STRING})\s*,\s*(\w+)\s*,\s*({STRING})\s*,\s*{BOOL}\s*\}}"
)
STRICT_ROW = re.compile(rf"\{{\s*({STRING})\s*,\s*{BOOL}\s*\}}")
COMPARE_ROW = re.compile(rf"\{{\s*({STRING})\s*,\s*({STRING})\s*,\s*(-?\d)\s*\}}")
STRING_PAIR_ROW = re.compile(rf"\{{\s*({STRING})\s*,\s*({STRING})\s*\}}")

# (file, function, kind): which tables are read and what their rows mean.
TABLES = [
    ("constraints_test.go", "TestParseConstraint", "parse-constraint"),
    ("constraints_test.go", "TestConstraintCheck", "check"),
    ("constraints_test.go", "TestNewConstraint", "new-constraint"),
    ("constraints_test.go", "TestConstraintsCheck", "check"),
    ("constraints_test.go", "TestConstraintsCheckIncludePrerelease", "check-include-prerelease"),
    ("constraints_test.go", "TestConstraintsValidate", "check"),
    ("constraints_test.go", "TestConstraintsValidateIncludePrerelease", "check-include-prerelease"),
    ("constraints_test.go", "TestConstraintString", "valid-constraint"),
    ("constraints_test.go", "TestTextMarshalConstraints", "valid-constraint"),
    ("constraints_test.go", "TestTextUnmarshalConstraints", "valid-constraint"),
    ("version_test.go", "TestStrictNewVersion", "strict"),
    # Only the first subtest: the second sets CoerceNewVersion = false, which Flux
    # never does. Every version inside a constraint goes through this parser.
    ("version_test.go", "TestNewVersion", "loose"),
    ("version_test.go", "TestCompare", "compare"),
]


def go_string(literal: str) -> str:
    # The tables only use escapes that JSON spells the same way (\n, \").
    value = json.loads(literal)
    assert isinstance(value, str)
    return value


def tag_problem(version: str) -> str | None:
    if SEMVER_ORG.fullmatch(version) is None:
        return "tag"
    if "+" in version:
        return "build-metadata"
    return None


def function_body(source: str, name: str) -> tuple[str, int]:
    start = source.index(f"func {name}(")
    end = source.find("\nfunc ", start + 1)
    body = source[start:end if end != -1 else len(source)]
    return body, source.count("\n", 0, start) + 1


def rows_of(file: str, function: str, kind: str, source: str, commit: str) -> list[dict[str, Any]]:
    body, first_line = function_body(source, function)
    out: list[dict[str, Any]] = []

    def origin(match: re.Match[str]) -> str:
        line = first_line + body.count("\n", 0, match.start())
        return f"{file}:{line} {function} @{commit[:12]}"

    if kind in ("check", "check-include-prerelease"):
        for match in CHECK_ROW.finditer(body):
            constraint, version = go_string(match.group(1)), go_string(match.group(2))
            reason = tag_problem(version)
            if reason is None and kind == "check-include-prerelease" and "-" in version:
                reason = "include-prerelease"
            if function == "TestConstraintCheck" and constraint == "":
                reason = "empty-constraint"  # first: there is no constraint to evaluate
            out.append({"kind": "check", "origin": origin(match), "constraint": constraint,
                        "version": version, "expected": match.group(3) == "true",
                        "not_applicable": reason})
        for match in MESSAGE_ROW.finditer(body):
            # A row of the messages table: Validate returned an error, so Check is false.
            constraint, version = go_string(match.group(1)), go_string(match.group(2))
            reason = tag_problem(version)
            if reason is None and kind == "check-include-prerelease" and "-" in version:
                reason = "include-prerelease"
            out.append({"kind": "check", "origin": origin(match), "constraint": constraint,
                        "version": version, "expected": False, "not_applicable": reason})
    elif kind == "new-constraint":
        for match in NEW_CONSTRAINT_ROW.finditer(body):
            out.append({"kind": "constraint", "origin": origin(match),
                        "constraint": go_string(match.group(1)),
                        "valid": match.group(4) == "false",
                        "ors": int(match.group(2)), "first_count": int(match.group(3)),
                        "not_applicable": None})
    elif kind == "parse-constraint":
        for match in PARSE_CONSTRAINT_ROW.finditer(body):
            out.append({"kind": "comparator", "origin": origin(match),
                        "constraint": go_string(match.group(1)),
                        "valid": match.group(4) == "false",
                        "operator": FUNCTIONS[match.group(2)],
                        "version": go_string(match.group(3)), "not_applicable": None})
    elif kind == "valid-constraint":
        for match in STRING_PAIR_ROW.finditer(body):
            out.append({"kind": "constraint", "origin": origin(match),
                        "constraint": go_string(match.group(1)), "valid": True,
                        "not_applicable": None})
    elif kind == "strict":
        for match in STRICT_ROW.finditer(body):
            tag = go_string(match.group(1))
            valid = match.group(2) == "false"
            reason = None
            if tag.startswith("v"):
                reason = "v-prefix"
            elif valid and "+" in tag:
                reason = "build-metadata"
            out.append({"kind": "tag", "origin": origin(match), "version": tag,
                        "valid": valid, "not_applicable": reason})
    elif kind == "loose":
        subtest = body[:body.index('t.Run("Without loose NewVersion"')]
        for match in STRICT_ROW.finditer(subtest):
            out.append({"kind": "loose", "origin": origin(match),
                        "version": go_string(match.group(1)),
                        "valid": match.group(2) == "false", "not_applicable": None})
    elif kind == "compare":
        for match in COMPARE_ROW.finditer(body):
            left, right = go_string(match.group(1)), go_string(match.group(2))
            reason = tag_problem(left) or tag_problem(right)
            out.append({"kind": "compare", "origin": origin(match), "version": left,
                        "other": right, "expected": int(match.group(3)),
                        "not_applicable": reason})
    if not out:
        raise SystemExit(f"no rows read from {file} {function}: has the table changed shape?")
    return out


def main(repository: str, commit: str = "HEAD") -> None:
    resolved = subprocess.run(["git", "-C", repository, "rev-parse", commit], check=True,
                              capture_output=True, text=True).stdout.strip()
    rows: list[dict[str, Any]] = []
    for file, function, kind in TABLES:
        source = subprocess.run(["git", "-C", repository, "show", f"{resolved}:{file}"],
                                check=True, capture_output=True, text=True).stdout
        rows.extend(rows_of(file, function, kind, source, resolved))
    document = {
        "upstream": "https://github.com/Masterminds/semver",
        "commit": resolved,
        "generated_by": "tests/unit/data/extract_masterminds.py",
        "rows": rows,
    }
    json.dump(document, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
