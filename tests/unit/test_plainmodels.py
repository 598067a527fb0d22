"""The plain copies of the models (core/plainmodels.py) stay the models' equals: the
same classes, fields, aliases and nesting, and on generated Rollouts and presets
that pydantic accepts, the same value for every field and every method, after the
full dump went through JSON (the scan cache's form). A field added to a model
without its copy fails here, not in a warm ``plan`` months later."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.core import hooks, models, plainmodels


def model_classes(root: type[pydantic.BaseModel]) -> dict[str, type[pydantic.BaseModel]]:
    """``root`` and every model its fields hold, by name."""
    found: dict[str, type[pydantic.BaseModel]] = {}

    def walk(cls: type[pydantic.BaseModel]) -> None:
        found[cls.__name__] = cls
        for info in cls.model_fields.values():
            for nested in nested_models(info.annotation):
                if nested.__name__ not in found:
                    walk(nested)

    walk(root)
    return found


def nested_models(annotation: Any) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in nested_models(arg)]


MODELS = {**model_classes(models.Rollout), "PolicyPreset": models.PolicyPreset}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_a_copy_with_the_same_fields(name: str) -> None:
    model = MODELS[name]
    plain = getattr(plainmodels, name)
    assert sorted(plain.FIELDS) == sorted(model.model_fields)
    for field, info in model.model_fields.items():
        key, nested = plain.FIELDS[field]
        assert key == (info.alias or field), f"{name}.{field}"
        expected = [m.__name__ for m in nested_models(info.annotation)]
        assert ([nested.__name__] if nested else []) == expected, f"{name}.{field}"
    assert (model.model_config.get("extra") == "allow") == plain.EXTRA
    own = {n for n, v in vars(model).items() if not n.startswith("_")
           and (inspect.isfunction(v) or isinstance(v, property))}
    assert own <= set(dir(plain)), f"{name} lacks {sorted(own - set(dir(plain)))}"


durations = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 90), st.sampled_from("smh"))
names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
extras = st.dictionaries(st.from_regex(r"x[a-zA-Z]{0,6}", fullmatch=True),
                         st.one_of(text, st.integers(), st.booleans(), st.none()), max_size=2)
selector = st.fixed_dictionaries({}, optional={
    "matchLabels": st.dictionaries(names, names, max_size=2),
    "matchExpressions": st.lists(st.fixed_dictionaries(
        {"key": names, "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"])},
        optional={"values": st.lists(names, max_size=2)}), max_size=2)})
hook = st.fixed_dictionaries(
    {"name": names, "url": st.sampled_from(["http://h/x", "https://h:8443/y"])},
    optional={"type": st.sampled_from(hooks.TYPES), "timeout": st.sampled_from(["5s", "1m"]),
              "interval": durations, "metadata": st.dictionaries(names, names, max_size=2)})
spec = st.fixed_dictionaries({}, optional={
    "releasesImagePolicy": st.fixed_dictionaries({"name": names},
                                                 optional={"namespace": st.none() | names}),
    "wantedVersion": st.none() | st.sampled_from(["1.2.3", "v2.0.0-rc.1"]),
    "versionHistoryLimit": st.integers(1, 50),
    "availableReleasesRetentionDays": st.none() | st.integers(1, 9),
    "availableReleasesMinCount": st.none() | st.integers(1, 9),
    "bakeTime": st.none() | durations, "deployTimeout": st.none() | durations,
    "healthCheckSelector": st.fixed_dictionaries({}, optional={
        "selector": st.none() | selector, "namespaceSelector": st.none() | selector}),
    "versionConstraint": st.none() | st.sampled_from([">=1.2.0 <2.0.0", "^1.2", "1.x"]),
    "maxBump": st.none() | st.sampled_from(["patch", "minor", "major"]),
    "policy": st.none() | names, "suspend": st.booleans(),
    "promotion": st.fixed_dictionaries({"from": st.lists(names, min_size=1, max_size=2)},
                                       optional={"soakTime": st.none() | durations,
                                                 "rollout": st.none() | names}),
    "writeMode": st.none() | st.sampled_from(["direct", "pull-request"]),
    "hooks": st.lists(hook, max_size=2, unique_by=lambda h: h["name"]),
    "approval": st.none() | st.sampled_from(["auto", "manual"]),
    "steps": st.none() | st.lists(st.integers(1, 99), min_size=1, max_size=3, unique=True)
    .map(lambda ws: [{"weight": w, "bakeTime": "1m"} for w in sorted(ws)]),
}).flatmap(lambda s: extras.map(lambda e: {**e, **s}))
rollouts = st.fixed_dictionaries({
    "apiVersion": st.just("kuberik.com/v1alpha1"), "kind": st.just("Rollout"),
    "metadata": st.fixed_dictionaries({"name": names}, optional={
        "namespace": st.none() | names, "labels": st.dictionaries(names, names, max_size=2),
        "generation": st.none() | st.integers(0, 9)}).flatmap(
            lambda m: extras.map(lambda e: {**e, **m}))},
    optional={"spec": spec, "status": st.none() | st.dictionaries(names, names, max_size=1)})


def same(plain: Any, model: Any, where: str) -> None:
    """``plain`` holds what ``model`` holds, field by field, all the way down."""
    if isinstance(model, pydantic.BaseModel):
        assert type(plain).__name__ == type(model).__name__, where
        for field in type(model).model_fields:
            same(getattr(plain, field), getattr(model, field), f"{where}.{field}")
        assert plain.unknown_fields() == sorted((model.model_extra or {}).keys()), where
    elif isinstance(model, list):
        assert isinstance(plain, list) and len(plain) == len(model), where
        for i, (p, m) in enumerate(zip(plain, model, strict=True)):
            same(p, m, f"{where}[{i}]")
    else:
        assert plain == model and type(plain) is type(model), where


def through_cache(model: pydantic.BaseModel) -> Any:
    return json.loads(json.dumps(model.model_dump(by_alias=True)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rollouts)
def test_a_rollout_read_back_from_its_dump_is_the_model(data: dict[str, Any]) -> None:
    try:
        model = models.Rollout.model_validate(data)
    except pydantic.ValidationError:
        assume(False)
        return
    plain = plainmodels.as_model(through_cache(model))
    same(plain, model, "rollout")
    assert plain == model and plain.model_dump() == model.model_dump(by_alias=True)
    assert plain.model_dump(by_alias=False) == json.loads(json.dumps(model.model_dump()))
    assert plain.key == model.key
    spec, pspec = model.spec, plain.spec
    assert (pspec.bake_time(), pspec.deploy_timeout()) == (spec.bake_time(),
                                                           spec.deploy_timeout())
    if spec.promotion is not None:
        assert pspec.promotion is not None
        assert pspec.promotion.soak_time() == spec.promotion.soak_time()
    for p, m in zip(pspec.steps or [], spec.steps or [], strict=True):
        assert p.bake_time() == m.bake_time()
    for ph, mh in zip(pspec.hooks, spec.hooks, strict=True):
        assert (ph.timeout_seconds(), ph.every()) == (mh.timeout_seconds(), mh.every())


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries(
    {"name": names, "description": st.just("d"),
     "maxBump": st.sampled_from(["patch", "minor", "major"]), "bakeTime": durations,
     "deployTimeout": durations},
    optional={"versionConstraint": st.none() | st.just("^1.2"),
              "allowPrerelease": st.booleans()}))
def test_a_preset_read_back_from_its_dump_is_the_model(data: dict[str, Any]) -> None:
    model = models.PolicyPreset.model_validate(data)
    plain = plainmodels.as_preset(through_cache(model))
    same(plain, model, "preset")
    assert plain == model


def test_a_dump_that_is_not_one_is_refused_and_a_copy_is_frozen() -> None:
    with pytest.raises(KeyError):
        plainmodels.as_model({"apiVersion": "kuberik.com/v1alpha1", "kind": "Rollout"})
    dump = through_cache(models.PolicyPreset.model_validate(
        {"name": "x", "description": "d", "maxBump": "minor", "bakeTime": "1m",
         "deployTimeout": "1m"}))
    with pytest.raises(KeyError):
        plainmodels.as_preset({**dump, "colour": "blue"})  # the preset forbids extras
    preset = plainmodels.as_preset(dump)
    with pytest.raises(AttributeError):
        preset.name = "y"  # type: ignore[misc]
