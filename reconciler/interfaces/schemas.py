"""Generate ``schemas/`` from the pydantic models: ``python -m reconciler.interfaces.schemas``.

The files are committed so editors and CI linters can use them without Python;
``tests/unit/test_schemas_and_presets.py`` fails when they are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reconciler.core import models

SCHEMAS: dict[str, type[BaseModel]] = {
    "rollout.schema.json": models.Rollout,
    "policy-preset.schema.json": models.PolicyPreset,
}


def render() -> dict[str, str]:
    """File name to the JSON text it should hold."""
    out = {}
    for name, model in SCHEMAS.items():
        schema: dict[str, Any] = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://reconciler.dev/schemas/{name}"
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path("schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text, encoding="utf-8")
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
