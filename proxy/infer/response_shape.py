"""The expected shape of a template's responses: a JSON schema inferred from recorded bodies.

Bodies are folded one at a time into a small accumulator (types seen, properties and how often each
object had them, how often a value was an empty list or map, array items), so memory does not grow
with the number of exchanges. The result is a plain JSON schema (draft 2020-12) that ``jsonschema``
validates live responses against. Types hold for a property *when it is present*; a property is
required only where the recording is good evidence that the server always sends it:

- every recorded object at that place had it, and there were at least ``MIN_REQUIRED_SUPPORT`` of
  them (a field seen in one or two answers may just have been set on those objects);
- it is not a list or map the recording only showed non-empty. Many servers leave empty lists and
  maps out of their JSON (protobuf-to-JSON does), so a fresh object without ``metrics`` is the same
  shape as one with ``"metrics": [...]``. Only when the recording shows the server sending an empty
  list or map there is its absence a change. An object with required fields of its own is a record,
  not a map, and stays required (``{"run": {"info": {...}}}`` keeps ``run`` and ``info``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

MIN_REQUIRED_SUPPORT = 3
"""Recorded objects a property must appear in (all of them) before it is required. Below three,
"always present" is what an optional field that happened to be set looks like; above it, templates
recorded a handful of times (the usual case) would lose every presence check."""

_CONTAINERS = frozenset({"array", "object"})


@dataclass(slots=True)
class ShapeNode:
    types: set[str] = field(default_factory=set)
    objects: int = 0
    props: dict[str, "ShapeNode"] = field(default_factory=dict)
    prop_counts: dict[str, int] = field(default_factory=dict)
    items: "ShapeNode | None" = None
    empties: int = 0
    """Values here that were an empty list or an empty map."""

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
            self.empties += not value
            if value and self.items is None:
                self.items = ShapeNode()
            for item in value[:50]:
                self.items.add(item, depth + 1)  # type: ignore[union-attr]
        elif isinstance(value, dict):
            self.types.add("object")
            self.objects += 1
            self.empties += not value
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
        self.empties += other.empties
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

    def may_be_left_out(self) -> bool:
        """A list or map the recording never showed empty: a server that omits empties leaves it out.
        A record (an object with fields of its own that must be there, like a run's ``info``) is not
        an empty map: it stays required."""
        if not self.types & _CONTAINERS or self.empties:
            return False
        return not ("object" in self.types and self.required())

    def required(self) -> list[str]:
        """The properties every recorded object had, with enough support, that are not omittable empties."""
        if self.objects < MIN_REQUIRED_SUPPORT:
            return []
        return sorted(k for k, n in self.prop_counts.items() if n == self.objects and not self.props[k].may_be_left_out())

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
            required = self.required()
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
