"""Request values for an operation the traffic never called: the spec's examples and defaults first,
then what the recording showed for a field of the same name (the learned domain), then a value of the
schema's type."""

from __future__ import annotations

from typing import Any

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.infer.openapi_input.match import fits

_MISSING = object()


class LearnedValues:
    """Recorded values by field name, over every template's path parameters and top-level body fields."""

    def __init__(self, tset: TemplateSet) -> None:
        self.by_name: dict[str, list[Any]] = {}
        for tpl in tset.templates.values():
            for req in tpl.example_requests:
                for name, value in (path_params(tpl.path, req.path) or {}).items():
                    self.by_name.setdefault(name, []).append(value)
                body = req.json()
                if isinstance(body, dict):
                    for name, value in body.items():
                        self.by_name.setdefault(name, []).append(value)

    def first(self, name: str, schema: dict[str, Any]) -> Any:
        for value in self.by_name.get(name, []):
            if fits(schema, value):
                return value
        return _MISSING


def value_for(name: str, schema: dict[str, Any], learned: LearnedValues, example: Any = None) -> Any:
    """One value for a field: example, default, first enum value, learned value, type placeholder."""
    for candidate in (example, schema.get("example"), schema.get("default")):
        if candidate is not None:
            return candidate
    if schema.get("enum"):
        return schema["enum"][0]
    seen = learned.first(name, schema)
    if seen is not _MISSING:
        return seen
    return placeholder(schema, learned)


def placeholder(schema: dict[str, Any], learned: LearnedValues) -> Any:
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object" or "properties" in schema:
        return body_for(schema, learned)
    return "example"


def body_for(schema: dict[str, Any], learned: LearnedValues) -> dict[str, Any]:
    """A JSON object for a schema: its required properties and those the spec gives a value for."""
    required = set(schema.get("required") or [])
    out = {}
    for name, prop in (schema.get("properties") or {}).items():
        if name in required or any(k in prop for k in ("example", "default", "enum")):
            out[name] = value_for(name, prop, learned)
    return out
