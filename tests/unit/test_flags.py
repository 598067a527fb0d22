"""The settings read without pydantic (interfaces/flags.py) are the models' own: the
flags' table is what the models generate today, and on generated flags and
variables, ``flags.load`` either gives every field the value the model gives it, or
leaves the decision to the model (None): it never accepts what the model refuses,
so every error a person sees is the model's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.interfaces import flags, settingsfields
from reconciler.interfaces import settings as config

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_is_what_the_models_generate() -> None:
    text = (ROOT / "reconciler" / "interfaces" / "settingsfields.py").read_text()
    assert text == config.fields_module(), (
        "regenerate: python -m reconciler.interfaces.settings --fields "
        "> reconciler/interfaces/settingsfields.py")
    assert set(settingsfields.GROUPS) == {g.__name__ for g in config.Settings.__subclasses__()}


# Values a person could give: good and bad addresses, paths, names, blanks, oddities.
POOL = ["file:///srv/repo.git", "https://git.example/org/repo.git",
                     "ssh://git@host/repo.git", "git@host:org/repo.git", "http://u:p@h/r",
                     "/srv/repo", "relative/dir", "", " ", "main", "clusters/staging",
                     "../outside", "/abs", "prod", "-bad", "a" * 70, "ssh", "openpgp",
        "key.pem", "true", "false", "x\n", "ftp://h/r", "file://", "a/../..", "é", "1"]
values = st.one_of(st.sampled_from(POOL), st.text(st.characters(
    codec="utf-8", exclude_characters="\x00"), max_size=8))
GROUPS = ("GitSettings", "ReleaseSettings", "SigningSettings")


@st.composite
def inputs(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, str]]:
    group = draw(st.sampled_from(GROUPS))
    fields = settingsfields.GROUPS[group]["fields"]
    given_flags: dict[str, Any] = {}
    env: dict[str, str] = {}
    for info in fields:
        source = draw(st.sampled_from(["flag", "env", "none", "none", "none", "none"]))
        if source == "flag":
            given_flags[info["name"]] = draw(st.booleans()) if info["kind"] == "bool" \
                else draw(values)
        elif source == "env":
            name = info["env"] if draw(st.booleans()) else info["env"].lower()
            env[name] = draw(st.sampled_from(["true", "0", "yes", "maybe"])) \
                if info["kind"] == "bool" else draw(values)
        else:
            given_flags[info["name"]] = None
    if "repo" in given_flags and draw(st.booleans()):
        given_flags["repo"] = "file:///srv/repo.git"
    return group, given_flags, env


def compare(group: str, given_flags: dict[str, Any], env: dict[str, str]) -> None:
    """``flags.load`` gives the model's values, or None; None whenever the model
    refuses."""
    model_class = getattr(config, group)
    with mock.patch.dict(os.environ, env, clear=True):
        plain = flags.load(group, given_flags)
        try:
            model = config.load(model_class, given_flags)
        except InputError:
            assert plain is None, f"flags.load accepted what {group} refuses: {plain!r}"
            return
    if plain is not None:
        for field in model_class.model_fields:
            got, want = getattr(plain, field), getattr(model, field)
            assert got == want and type(got) is type(want), (field, got, want)


@settings(max_examples=200, deadline=None)
@given(inputs())
def test_plain_values_are_the_models_or_none(case: tuple[str, dict[str, Any],
                                                         dict[str, str]]) -> None:
    compare(*case)


@pytest.mark.parametrize("group", GROUPS)
def test_each_value_of_each_setting_alone(group: str) -> None:
    """Every value of the pool in every field, as a flag and as a variable, the rest
    left to their defaults (a repository given): the cases the generated ones may
    draw too rarely."""
    for info in settingsfields.GROUPS[group]["fields"]:
        base = {"repo": "file:///srv/repo.git"} if group == "GitSettings" else {}
        pool: list[Any] = [True, False] if info["kind"] == "bool" else POOL
        for value in pool:
            compare(group, {**base, info["name"]: value}, {})
        for value in [*POOL, "true", "0", "yes"]:
            if "\x00" not in value:
                compare(group, base, {info["env"]: value})


def test_the_usual_command_line_is_read_without_the_model() -> None:
    environ = {"RECONCILER_GIT_PASSWORD": "s3cret", "HOME": "/home/x"}
    with mock.patch.dict(os.environ, environ, clear=True):
        plain = flags.load("GitSettings", {"repo": "https://h/r.git", "branch": None,
                                           "path": "clusters/staging"})
        model = config.load(config.GitSettings, {"repo": "https://h/r.git",
                                                 "path": "clusters/staging"})
        assert plain is not None and flags.load("ReleaseSettings", {"policies": None})
    assert {f: getattr(plain, f) for f in type(model).model_fields} == model.model_dump()
    with pytest.raises(AttributeError):
        plain.repo = "x"


def test_a_setting_the_table_cannot_read_is_left_to_the_model() -> None:
    # A variable that holds a bool: pydantic's words for "yes" / "maybe" decide.
    with mock.patch.dict(os.environ, {"RECONCILER_GIT_INSECURE_SKIP_HOST_KEY_CHECK": "yes"},
                         clear=True):
        assert flags.load("GitSettings", {"repo": "file:///r"}) is None
    # A group with a check the table only knows by name.
    assert flags.load("ClusterSettings", {}) is None
