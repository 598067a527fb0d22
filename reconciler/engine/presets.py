"""Loading release policy presets from disk (``policies/``).

The files ship inside the package (``reconciler/policies`` points at the
repository's ``policies/``); ``--policies DIR`` may name another directory.
Parsing and merging are pure and live in ``reconciler.core.policies``.

Given the scan cache (``adapters/scancache``, as the CLI's commands do), each
file's YAML data is kept there under the digest of its text, with the preset
pydantic made of it when it validated (its full dump), so a run whose presets have
not changed neither parses YAML nor validates again: it imports neither ruamel.yaml
nor pydantic when every scan of the tree comes from the cache too
(docs/performance.md, "A fast CLI"). The cache's version names the core's code, so
a preset is only ever read back by the code that validated it; one that did not
validate is kept as data only, and validated (and refused) on every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.adapters import scancache
from reconciler.core import plainmodels, policies
from reconciler.errors import ManifestError

if TYPE_CHECKING:
    from reconciler.core import models

BUILTIN = Path(__file__).resolve().parent.parent / "policies"


def load(directory: Path | None = None, *,
         store: scancache.Store | None = None) -> dict[str, models.PolicyPreset]:
    """Every ``*.yaml`` preset in ``directory`` (the built-in ones by default);
    ``store``: the scan cache, where each file's parsed data is looked up and kept."""
    root = directory or BUILTIN
    if not root.is_dir():
        raise ManifestError("policy preset directory does not exist", file=str(root))
    out: dict[str, models.PolicyPreset] = {}
    for path in sorted(root.glob("*.yaml")):
        preset = _preset(path.read_text(encoding="utf-8"), file=str(path), store=store)
        if preset.name != path.stem:
            raise ManifestError(f"name {preset.name!r} does not match the file name",
                                file=str(path), field="name")
        out[preset.name] = preset
    return out


def _preset(text: str, *, file: str, store: scancache.Store | None) -> models.PolicyPreset:
    """The preset of one file's ``text``: from ``store`` when it holds its validated
    dump (no YAML parsed, nothing validated again); else validated from its YAML
    data (``store``'s, or parsed), and kept there when JSON carries it unchanged (no
    dates, no NaN, no keys other than strings)."""
    if store is None:
        return policies.validate_preset(policies.read_preset(text, file=file), file=file)
    key = f"preset:{hashlib.sha256(text.encode()).hexdigest()}"
    found = store.get(key)
    if isinstance(found, dict) and isinstance(found.get("preset"), dict):
        with contextlib.suppress(KeyError):  # not a dump this code made: validate again
            return plainmodels.as_preset(found["preset"])
    data = found["data"] if isinstance(found, dict) and "data" in found \
        else policies.read_preset(text, file=file)
    kept: dict[str, Any] = {"data": data}
    try:
        preset = policies.validate_preset(data, file=file)
        kept["preset"] = preset.model_dump()
    finally:
        try:
            same = json.loads(json.dumps(kept)) == kept
        except (TypeError, ValueError):
            same = False
        if same and found != kept:
            store.put(key, kept)
    return preset
