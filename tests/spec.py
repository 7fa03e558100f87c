"""Validation of responses against the official TAMS 8.2 JSON schemas in ../shared/tams-spec."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SPEC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "tams-spec"
SCHEMA_DIR = SPEC_DIR / "schemas"
BASE = "file:///tams-spec/schemas/"


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in SCHEMA_DIR.glob("*.json"):
        contents = json.loads(path.read_text())
        resources.append((BASE + path.name, Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def spec_available() -> bool:
    return SCHEMA_DIR.is_dir()


def validate(schema: str, instance: Any) -> None:
    """Asserts ``instance`` matches ``schema`` (e.g. "flow-get.json"); skips when the spec is absent."""
    if not spec_available():
        pytest.skip(f"the official TAMS schemas are not at {SCHEMA_DIR} (../shared beside the checkout)")
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator({"$ref": BASE + schema}, registry=_registry(),
                                     format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{schema}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def validate_each(schema: str, items: list[Any]) -> None:
    assert isinstance(items, list)
    for item in items:
        validate(schema, item)


def example(name: str) -> Any:
    path = SPEC_DIR / "examples" / name
    if not path.exists():
        pytest.skip(f"spec example {path} not found (../shared beside the checkout)")
    return json.loads(path.read_text())
