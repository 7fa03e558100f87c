"""Validation of responses against the official TAMS 8.2 JSON schemas (docs/TESTING.md says where they live).

Schema validation is an extra assertion: without the schema files ``validate`` records the check it left
out and returns, so the rest of the test still runs; the terminal summary names the left-out checks once.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

# TAMS_SPEC_DIR points elsewhere (or at nothing, to see what runs without the schemas)
SPEC_DIR = Path(os.environ.get("TAMS_SPEC_DIR") or Path(__file__).resolve().parents[2] / "shared" / "tams-spec")
SCHEMA_DIR = SPEC_DIR / "schemas"
BASE = "file:///tams-spec/schemas/"

# schema name -> how many validations were left out for want of the schema files
LEFT_OUT: Counter[str] = Counter()


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
    """Asserts ``instance`` matches ``schema`` (e.g. "flow-get.json"); without the spec, notes the check."""
    if not spec_available():
        LEFT_OUT[schema] += 1
        return
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator({"$ref": BASE + schema}, registry=_registry(), format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{schema}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def validate_each(schema: str, items: list[Any]) -> None:
    assert isinstance(items, list)
    for item in items:
        validate(schema, item)


def example(name: str) -> Any:
    """A request or response example from the spec: the input of a test, so without it the test skips."""
    path = SPEC_DIR / "examples" / name
    if not path.exists():
        pytest.skip(f"spec example {name} not found under {SPEC_DIR} (docs/TESTING.md)")
    return json.loads(path.read_text())


def left_out_summary() -> str | None:
    """One line naming the schema checks this run left out, or None when every check ran."""
    if not LEFT_OUT:
        return None
    checks = ", ".join(f"{name} x{count}" for name, count in sorted(LEFT_OUT.items()))
    return (
        f"{sum(LEFT_OUT.values())} schema checks left out (no TAMS schemas at {SCHEMA_DIR}; docs/TESTING.md): {checks}"
    )
