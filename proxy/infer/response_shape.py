"""The expected shape of a template's responses: a JSON schema inferred from recorded bodies.

Bodies are folded one at a time into a small accumulator (types seen, properties and how often each
object had them, array items), so memory does not grow with the number of exchanges. The result is
a plain JSON schema (draft 2020-12) that ``jsonschema`` can validate live responses against: a
property is required when every recorded object had it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(slots=True)
class ShapeNode:
    types: set[str] = field(default_factory=set)
    objects: int = 0
    props: dict[str, "ShapeNode"] = field(default_factory=dict)
    prop_counts: dict[str, int] = field(default_factory=dict)
    items: "ShapeNode | None" = None

    def add(self, value: Any, depth: int = 0) -> None:
        if depth > 32:  # pathological nesting: the outer shape is what matters
            return
        if value is None:
            self.types.add("null")
        elif isinstance(value, bool):
            self.types.add("boolean")
        elif isinstance(value, int):
            self.types.add("integer")
        elif isinstance(value, float):
            self.types.add("number")
        elif isinstance(value, str):
            self.types.add("string")
        elif isinstance(value, list):
            self.types.add("array")
            if value and self.items is None:
                self.items = ShapeNode()
            for item in value[:50]:
                self.items.add(item, depth + 1)  # type: ignore[union-attr]
        elif isinstance(value, dict):
            self.types.add("object")
            self.objects += 1
            for key, child in value.items():
                key = str(key)
                node = self.props.get(key)
                if node is None:
                    node = self.props[key] = ShapeNode()
                node.add(child, depth + 1)
                self.prop_counts[key] = self.prop_counts.get(key, 0) + 1

    def merge(self, other: "ShapeNode") -> None:
        self.types |= other.types
        self.objects += other.objects
        for key, node in other.props.items():
            if key in self.props:
                self.props[key].merge(node)
            else:
                self.props[key] = node
            self.prop_counts[key] = self.prop_counts.get(key, 0) + other.prop_counts.get(key, 0)
        if other.items is not None:
            if self.items is None:
                self.items = other.items
            else:
                self.items.merge(other.items)

    def schema(self) -> dict[str, Any]:
        types = set(self.types)
        if "integer" in types and "number" in types:
            types.discard("integer")  # every integer is a number
        out: dict[str, Any] = {}
        if len(types) == 1:
            out["type"] = next(iter(types))
        elif types:
            out["type"] = sorted(types)
        if "object" in types:
            out["properties"] = {k: self.props[k].schema() for k in self.props}
            required = sorted(k for k, n in self.prop_counts.items() if n == self.objects)
            if required:
                out["required"] = required
        if "array" in types and self.items is not None:
            out["items"] = self.items.schema()
        return out


def infer_schema(bodies: list[Any]) -> dict[str, Any] | None:
    """A JSON schema that every one of ``bodies`` satisfies; None when there are none."""
    if not bodies:
        return None
    node = ShapeNode()
    for body in bodies:
        node.add(body)
    return node_schema(node)


def node_schema(node: ShapeNode | None) -> dict[str, Any] | None:
    if node is None or not node.types:
        return None
    return {"$schema": SCHEMA_DIALECT, **node.schema()}
