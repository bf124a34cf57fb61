"""Entity templates: the same JSON as the builder, from one substitution."""

import json
from typing import Any

import pytest

from weir_guest import ANNOTATION_LOCATION, Entity, EntityTemplate, Slot

SERVICE = EntityTemplate(
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": Slot("name"),
            "title": "100% %(name)s",
            "annotations": {ANNOTATION_LOCATION: Slot("location")},
            "tags": ["python", Slot("group")],
        },
        "spec": {"type": "service", "owner": Slot("owner"), "dependsOn": Slot("depends_on", json=True)},
    }
)


def filled(**values: Any) -> Any:
    return json.loads(SERVICE.fill(**values).json)


def test_slots_take_quoted_text_and_json_values() -> None:
    value = filled(name='svc "1"\n', location="url:x", group="g-1", owner="ünï ✓", depends_on=["a", 2.5])
    built = (
        Entity.builder("Component", 'svc "1"\n')
        .title("100% %(name)s")
        .annotation(ANNOTATION_LOCATION, "url:x")
        .tag("python")
        .tag("g-1")
        .spec("type", "service")
        .spec("owner", "ünï ✓")
        .spec("dependsOn", ["a", 2.5])
        .build()
    )
    assert value == json.loads(built.json)


def test_every_slot_needs_a_value_and_no_other_is_taken() -> None:
    with pytest.raises(TypeError, match=r"missing slots \['owner'\], unknown slots \[\]"):
        SERVICE.fill(name="n", location="l", group="g", depends_on=[])
    with pytest.raises(TypeError, match=r"missing slots \['owner'\], unknown slots \['ownr'\]"):
        SERVICE.fill(name="n", location="l", group="g", ownr="o", depends_on=[])


def test_text_slots_take_only_str() -> None:
    with pytest.raises(TypeError, match="slot 'group' takes a str"):
        SERVICE.fill(name="n", location="l", group=3, owner="o", depends_on=[])


def test_bad_templates_are_refused() -> None:
    with pytest.raises(ValueError, match="expected a Python identifier"):
        Slot("not a name")
    with pytest.raises(ValueError, match="both as text and as JSON"):
        EntityTemplate({"a": Slot("x"), "b": Slot("x", json=True)})
    with pytest.raises(ValueError, match="U\\+E000"):
        EntityTemplate({"a": "\ue000"})


def test_templates_with_one_slot_or_none_work_too() -> None:
    assert EntityTemplate({"kind": "Group", "metadata": {"name": Slot("name")}}).fill(name="g").json == (
        '{"kind":"Group","metadata":{"name":"g"}}'
    )
    assert EntityTemplate({"kind": "Group"}).fill().json == '{"kind":"Group"}'
