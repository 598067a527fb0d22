"""Loading release policy presets from disk (``policies/``).

The files ship inside the package (``reconciler/policies`` points at the
repository's ``policies/``); ``--policies DIR`` may name another directory.
Parsing and merging are pure and live in ``reconciler.core.policies``.

Given the scan cache (``adapters/scancache``, as the CLI's commands do), each
file's YAML data is kept there under the digest of its text, so a run whose
presets have not changed validates them without parsing YAML, and never imports
ruamel.yaml when every scan of the tree comes from the cache too
(docs/performance.md, "A fast CLI"). Validation runs on every load either way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reconciler.adapters import scancache
from reconciler.core import models, policies
from reconciler.errors import ManifestError

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
        text = path.read_text(encoding="utf-8")
        preset = policies.validate_preset(_data(text, file=str(path), store=store),
                                          file=str(path))
        if preset.name != path.stem:
            raise ManifestError(f"name {preset.name!r} does not match the file name",
                                file=str(path), field="name")
        out[preset.name] = preset
    return out


def _data(text: str, *, file: str, store: scancache.Store | None) -> Any:
    """The YAML data of one preset's ``text``: from ``store`` when it holds it, else
    parsed (and kept there when JSON carries it unchanged: no dates, no NaN, no
    keys other than strings)."""
    if store is None:
        return policies.read_preset(text, file=file)
    key = f"preset:{hashlib.sha256(text.encode()).hexdigest()}"
    found = store.get(key)
    if isinstance(found, dict) and "data" in found:
        return found["data"]
    data = policies.read_preset(text, file=file)
    try:
        same = json.loads(json.dumps(data)) == data
    except (TypeError, ValueError):
        same = False
    if same:
        store.put(key, {"data": data})
    return data
