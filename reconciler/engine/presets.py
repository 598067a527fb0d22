"""Loading release policy presets from disk (``policies/``).

The files ship inside the package (``reconciler/policies`` points at the
repository's ``policies/``); ``--policies DIR`` may name another directory.
Parsing and merging are pure and live in ``reconciler.core.policies``.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.core import models, policies
from reconciler.errors import ManifestError

BUILTIN = Path(__file__).resolve().parent.parent / "policies"


def load(directory: Path | None = None) -> dict[str, models.PolicyPreset]:
    """Every ``*.yaml`` preset in ``directory`` (the built-in ones by default)."""
    root = directory or BUILTIN
    if not root.is_dir():
        raise ManifestError("policy preset directory does not exist", file=str(root))
    out: dict[str, models.PolicyPreset] = {}
    for path in sorted(root.glob("*.yaml")):
        preset = policies.parse_preset(path.read_text(encoding="utf-8"), file=str(path))
        if preset.name != path.stem:
            raise ManifestError(f"name {preset.name!r} does not match the file name",
                                file=str(path), field="name")
        out[preset.name] = preset
    return out
