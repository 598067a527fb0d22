"""git's own rules for the trailers of a commit message, as ``git log --format=%(trailers)``
and ``git interpret-trailers --parse --no-divider`` apply them.

Where it fits: ``trailers.parse`` reads the reconciler's contract (``Rollout``,
``Release``, ...) from what this module finds, so a commit counts as ours exactly when
git itself would show those trailers. Pure: a message in, ``(token, value)`` pairs out.

The rules (git's ``trailer.c`` and ``commit.c``, followed line for line):

- The end of the message ignores a scissors line and all below it, then a trailing run
  of comment lines (``#``), empty lines and an old ``Conflicts:`` block.
- The first paragraph is the title and never holds trailers.
- The trailer block is the last paragraph when all its lines are trailers, or when at
  least one is git-generated (``Signed-off-by: ``, ``(cherry picked from commit ``)
  and at least a quarter of its lines are trailers. A trailer line is a token of
  ASCII letters, digits and ``-``, optional blanks, then ``:``; a line starting with
  a blank continues the trailer above it (its value is unfolded to one line).
- Lines in the block that are not trailers (a ``(cherry picked from ...)`` note, a
  sentence) are skipped.

Why in the core rather than pygit2's ``Commit.message_trailers`` (libgit2) through an
adapter: the history, the pull request writer and the holds all parse message text
the core already holds, and libgit2 (1.9) differs from git where it matters here: it
ends the message at a ``---`` line (a patch divider, which ``git log`` does not apply
to commits), ignores a scissors line, keeps the ``\r`` of CRLF lines in values, and
keeps a folded value's line breaks but drops a tab-led continuation. Not followed: trailers that a
repository configures (``trailer.<token>.*``), which git would also count as
recognised; the reconciler does not read the repository's git config.
tests/unit/test_gittrailers.py checks every case against the ``git`` binary.
"""

from __future__ import annotations

import re

_COMMENT = "#"
_SCISSORS = "# ------------------------ >8 ------------------------\n"
_GIT_GENERATED = ("Signed-off-by: ", "(cherry picked from commit ")
_SPACE = " \t\n\r"  # git's isspace() (sane_ctype): not \v, \f or Unicode blanks
# git's find_separator: a token of ASCII letters, digits and "-", blanks, then ":".
_TOKEN_COLON = re.compile(r"(?:[A-Za-z0-9-]+[ \t]*)?:")
_FOLD = re.compile(r"\n[ \t\n\r]*")


def _lines(message: str) -> list[str]:
    """Lines with their ``\\n`` (str.splitlines would also split at \\r, \\f, \\u2028...)."""
    parts = message.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _blank(line: str) -> bool:
    return line.strip(_SPACE) == ""


def _separator(line: str) -> int:
    """Index of the ``:`` after a trailer token, or -1 (git's ``find_separator``)."""
    m = _TOKEN_COLON.match(line)
    return m.end() - 1 if m else -1


def _end(lines: list[str]) -> int:
    """How many lines the message has once the ignorable tail is cut
    (git's ``ignored_log_message_bytes``)."""
    cutoff = next((i for i, line in enumerate(lines) if line == _SCISSORS), len(lines))
    start_of_tail: int | None = None
    in_conflicts = False
    for i in range(cutoff):
        line = lines[i]
        if line.startswith(_COMMENT) or line.startswith("\n"):
            start_of_tail = i if start_of_tail is None else start_of_tail
        elif line.startswith("Conflicts:\n"):
            in_conflicts = True
            start_of_tail = i if start_of_tail is None else start_of_tail
        elif not (in_conflicts and line.startswith("\t")):  # a path in Conflicts: stays
            start_of_tail, in_conflicts = None, False
    return cutoff if start_of_tail is None else start_of_tail


def _block_start(lines: list[str]) -> int | None:
    """Index of the first line of the trailer block, None when there is none
    (git's ``find_trailer_block_start``)."""
    title_end = 0
    while title_end < len(lines) and (lines[title_end].startswith(_COMMENT)
                                      or not _blank(lines[title_end])):
        title_end += 1
    recognised, trailers, others, maybe_continued = False, 0, 0, 0
    only_blank = True
    for i in range(len(lines) - 1, title_end - 1, -1):
        line = lines[i]
        if line.startswith(_COMMENT):
            others, maybe_continued = others + maybe_continued, 0
            continue
        if _blank(line):
            if only_blank:
                continue
            others += maybe_continued
            if (recognised and trailers * 3 >= others) or (trailers and not others):
                return i + 1
            return None
        only_blank = False
        if line.startswith(_GIT_GENERATED):
            trailers, maybe_continued, recognised = trailers + 1, 0, True
        elif _separator(line) >= 1 and line[0] not in _SPACE:
            trailers, maybe_continued = trailers + 1, 0
        elif line[0] in _SPACE:
            maybe_continued += 1
        else:
            others, maybe_continued = others + 1 + maybe_continued, 0
    return None


def _unfold(value: str) -> str:
    """git's ``unfold_value``: each line break and the blanks after it become one space."""
    return _FOLD.sub(" ", value).strip(_SPACE)


def parse(message: str) -> list[tuple[str, str]]:
    """The trailers of ``message`` as ``(token, value)`` pairs, in order; what
    ``git interpret-trailers --parse --no-divider`` prints as ``token: value``."""
    lines = _lines(message)
    if _COMMENT in message or "Conflicts:" in message:
        lines = lines[:_end(lines)]
    else:  # the same, faster: without those, only empty lines are ignorable
        while lines and lines[-1] == "\n":
            lines.pop()
    start = _block_start(lines)
    if start is None:
        return []
    items: list[list[str]] = []  # [line, more lines]: one trailer, or a line that is not
    seps: list[int] = []
    for line in lines[start:]:
        if seps and seps[-1] >= 1 and line[0] in _SPACE:
            items[-1].append(line)  # continues the trailer above
            continue
        items.append([line])
        seps.append(_separator(line))
    return [(item[0][:sep].strip(_SPACE), _unfold("".join(item)[sep + 1:].strip(_SPACE)))
            for item, sep in zip(items, seps, strict=True)
            if sep >= 1 and not item[0].startswith(_COMMENT)]
