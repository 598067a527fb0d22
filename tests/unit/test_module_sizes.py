"""The design stays livable: no module of the package over 400 lines (DESIGN.md,
"one concept per module, roughly 100-400 lines"). A module that grows past it is
split by concept before anything is added to it."""

from __future__ import annotations

from pathlib import Path

import reconciler

LIMIT = 400


def test_no_module_is_over_400_lines() -> None:
    root = Path(reconciler.__file__).parent
    sizes = {p.relative_to(root.parent).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in root.rglob("*.py")}
    assert len(sizes) > 100, "the package was not found where expected"
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them by concept): {over}"
