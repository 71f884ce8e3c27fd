"""Each catalog model's served schema is Replicate's, field by field.

The recorded schemas (``tests/data/replicate-schemas/<name>.json``) list each input with
its name, type, title, default, range, choices (and the enum component holding them),
``x-order`` (``null``: Replicate publishes none), ``nullable`` (``null``: not known),
format, items and description, and the ``Output``. The served ``openapi_schema`` must
carry exactly those, and nothing more.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from replicast.models import catalog
from replicast.models.registry import builtin_models

RECORDED = Path(__file__).parents[2] / "data" / "replicate-schemas"
SERVED = {m.full_name: m for m in builtin_models()}
_NOT_SCHEMA = {"name", "enum", "enum_component_name", "x-order", "nullable"}


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name.split('/')[1]}.json").read_text())


def test_every_catalog_model_is_recorded_and_served():
    assert sorted(p.stem for p in RECORDED.glob("*.json")) == sorted(
        name.split("/")[1] for name in catalog.names())
    assert set(catalog.names()) <= set(SERVED)
    assert len(catalog.names()) == 17


@pytest.mark.parametrize("name", catalog.names())
def test_the_served_schema_is_replicates(name):
    expected = recorded(name)
    schemas = SERVED[name].openapi_schema["components"]["schemas"]
    served = schemas["Input"]["properties"]
    # Order is x-order's (checked below): Replicate's JSON keys come in its database's order.
    assert sorted(f["name"] for f in expected["input"]) == sorted(served)
    assert schemas["Input"]["required"] == expected["required"]
    for field in expected["input"]:
        prop = served[field["name"]]
        where = f"{name} {field['name']}"
        if "enum" in field:
            component = field["enum_component_name"]
            assert prop["allOf"] == [{"$ref": f"#/components/schemas/{component}"}], where
            assert schemas[component] == expected["enum_components"][component], where
            assert "type" not in prop and "title" not in prop, where
        else:
            assert "allOf" not in prop and "enum" not in prop, where
        wanted = {k: v for k, v in field.items() if k not in _NOT_SCHEMA
                  and not (k == "type" and "enum" in field)}
        got = {k: v for k, v in prop.items() if k not in {"allOf", "x-order", "nullable"}}
        assert got == wanted, where
        if field["x-order"] is None:
            assert "x-order" not in prop, where
        else:
            assert prop["x-order"] == field["x-order"], where
        if field["nullable"] is not None:
            assert prop.get("nullable", False) is field["nullable"], where
    assert schemas["Output"] == expected["output"]


@pytest.mark.parametrize("name", catalog.names())
def test_the_version_is_the_one_recorded(name):
    expected = recorded(name)["version_id"]
    model = SERVED[name]
    if expected is None:
        assert len(model.version_id) == 64 and model.version_id != expected
    else:
        assert model.version_id == expected
    assert model.prediction_version == "hidden"

