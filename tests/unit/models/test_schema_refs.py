"""Inputs of an openapi_schema with Cog's references resolved, for every reader."""

from __future__ import annotations

from replicast.models.schema_refs import input_properties, required_inputs

SCHEMA = {"components": {"schemas": {
    "Input": {"type": "object", "required": ["prompt"], "properties": {
        "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
        "scheduler": {"allOf": [{"$ref": "#/components/schemas/scheduler"}],
                      "default": "K_EULER", "description": "Which scheduler", "x-order": 1},
        "seed": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
                 "title": "Seed"},
        "broken": {"allOf": [{"$ref": "#/components/schemas/missing"}], "type": "string"},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    }},
    "scheduler": {"type": "string", "enum": ["K_EULER", "DDIM"], "title": "scheduler",
                  "description": "An enumeration."},
}}}


def test_references_are_merged_but_not_what_describes_the_component():
    properties = input_properties(SCHEMA)
    assert properties["scheduler"] == {
        "type": "string", "enum": ["K_EULER", "DDIM"],
        "default": "K_EULER", "description": "Which scheduler", "x-order": 1}
    undescribed = {"components": {"schemas": {
        "Input": {"properties": {"mode": {"allOf": [{"$ref": "#/components/schemas/mode"}]}}},
        "mode": {"type": "string", "enum": ["a"], "title": "mode",
                 "description": "An enumeration."}}}}
    assert input_properties(undescribed)["mode"] == {"type": "string", "enum": ["a"]}
    assert properties["prompt"] == SCHEMA["components"]["schemas"]["Input"]["properties"][
        "prompt"]


def test_optional_inputs_take_their_non_null_branch():
    assert input_properties(SCHEMA)["seed"] == {"type": "integer", "minimum": 0,
                                                "title": "Seed"}


def test_a_true_union_keeps_its_branches_and_no_one_type():
    assert input_properties(SCHEMA)["either"] == {
        "anyOf": [{"type": "integer"}, {"type": "string"}]}


def test_a_dangling_reference_leaves_the_property_as_it_is():
    assert input_properties(SCHEMA)["broken"] == {"type": "string"}


def test_required_inputs_and_an_empty_schema():
    assert required_inputs(SCHEMA) == {"prompt"}
    assert input_properties({}) == {} and required_inputs({}) == set()
