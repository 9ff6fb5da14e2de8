"""The schema files are valid draft 2020-12 schemas and agree with their golden samples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_oracle import beyond_schema_ok, validator
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from sparsiflow import schemas


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = schemas.load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:sparsiflow:schema:{name}:v1"


def test_unknown_names_and_versions_raise() -> None:
    with pytest.raises(KeyError):
        schemas.load_schema("nope")
    with pytest.raises(KeyError):
        schemas.load_schema("edge-update", version=99)


def _cases(kind: str) -> list[Any]:
    return [
        pytest.param(name, f, id=f"{name}/{f.name}")
        for name in schemas.SCHEMA_NAMES
        for f in schemas.samples(name, kind)
    ]


@pytest.mark.parametrize(("name", "sample"), _cases("good"))
def test_good_samples_are_valid(name: str, sample: Any) -> None:
    doc = json.loads(sample.read_text())
    assert validator(name).is_valid(doc)
    assert name != "edge-update" or beyond_schema_ok(doc)


def _has_duplicate_key(text: str) -> bool:
    found = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found.extend(key for i, (key, _) in enumerate(items) if key in dict(items[:i]))
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return bool(found)


@pytest.mark.parametrize(("name", "sample"), _cases("bad"))
def test_bad_samples_break_the_contract(name: str, sample: Any) -> None:
    if sample.name.startswith("duplicate_key--"):  # a parsed document has no duplicates left
        assert _has_duplicate_key(sample.read_text())
        return
    try:
        doc = json.loads(sample.read_text())  # also reads NaN and Infinity, which JSON lacks
    except ValueError:
        assert sample.name.startswith("malformed_json--")
        return
    if name == "edge-update" and validator(name).is_valid(doc):
        assert not beyond_schema_ok(doc)
    else:
        assert not validator(name).is_valid(doc)
