"""Policy presets through the scan cache (engine/presets.py): the same presets as
parsing the files, YAML parsed only for a file whose text the cache does not hold,
and a record that cannot be trusted never changes what a command sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import scancache
from reconciler.core import manifests, markers, policies
from reconciler.engine import presets
from reconciler.errors import ManifestError

STANDARD = "name: standard\ndescription: d\nmaxBump: minor\nbakeTime: 10m\ndeployTimeout: 5m\n"


def store(tmp_path: Path) -> scancache.Store:
    return scancache.Store(tmp_path / "cache.json", version="test")


def write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose YAML is parsed from now on."""
    parsed: list[str] = []
    read = policies.read_preset

    def spy(text: str, *, file: str) -> object:
        parsed.append(Path(file).stem)
        return read(text, file=file)

    monkeypatch.setattr(policies, "read_preset", spy)
    return parsed


def test_cached_presets_equal_parsed_ones_and_skip_the_yaml_parser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = store(tmp_path)
    assert presets.load(store=first) == presets.load()
    first.save()
    parsed = counting(monkeypatch)
    again = presets.load(store=store(tmp_path))  # a new process: the file only
    assert again == presets.load()
    assert parsed == sorted(again)  # the uncached load parsed each; the cached one none


def test_an_edited_preset_is_parsed_again(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "policies"
    write(directory, "standard", STANDARD)
    cache = store(tmp_path)
    assert presets.load(directory, store=cache)["standard"].maxBump == "minor"
    cache.save()
    write(directory, "standard", STANDARD.replace("minor", "patch"))
    parsed = counting(monkeypatch)
    assert presets.load(directory, store=store(tmp_path))["standard"].maxBump == "patch"
    assert parsed == ["standard"]


def test_a_cached_record_is_validated_like_a_file(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    write(directory, "standard", STANDARD)
    cache = store(tmp_path)
    presets.load(directory, store=cache)
    (key,) = [k for k in cache._used if k.startswith("preset:")]
    tampered = {"name": "standard", "description": "d", "maxBump": "huge",
                "bakeTime": "10m", "deployTimeout": "5m"}
    cache.put(key, {"data": tampered})
    with pytest.raises(ManifestError, match="maxBump"):
        presets.load(directory, store=cache)
    cache.put(key, "not a record")  # damaged: parsed from the file again
    assert presets.load(directory, store=cache)["standard"].maxBump == "minor"


def test_bad_yaml_is_the_same_error_with_or_without_the_cache(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    write(directory, "broken", "name: [unclosed\n")
    errors = []
    for cache in (None, store(tmp_path)):
        with pytest.raises(ManifestError) as err:
            presets.load(directory, store=cache)
        errors.append(str(err.value))
    assert errors[0] == errors[1] and errors[0].startswith(str(directory / "broken.yaml"))


def test_data_json_cannot_carry_is_not_cached(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    write(directory, "standard", STANDARD + "since: 2026-01-01\n")  # a date
    cache = store(tmp_path)
    with pytest.raises(ManifestError):  # an unknown field: the model says so
        presets.load(directory, store=cache)
    assert not [k for k in cache._used if k.startswith("preset:")]


def test_the_manifest_screen_matches_the_marker_key() -> None:
    # manifests screens files without importing markers (and the YAML stack with it).
    assert manifests.MARKER_SCREEN == markers.SCREEN
