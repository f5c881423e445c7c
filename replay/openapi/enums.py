"""Enumerations in response schemas, only where the recording shows a small set of server states.

An enum in a published document is a promise that no other value comes back, so the rules are the
learned oracles' (``replay/learned/``) or stricter: strings only, a handful of values each seen more
than once, none that looks like an id, a URI, a hash, a token or a timestamp
(``looks_like_identifier``), none under an id-named or secret-named key, and none that a client sent
(free text echoed back is not a state). The same key under other operations may show states this
one never answered (``cancelled`` only after the cancel call), so an enum allows them all. Request
bodies never get one: what a client may send is not
learned from what it happened to send.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from venom_replay.proxy.infer.response_shape import MIN_REQUIRED_SUPPORT
from venom_replay.proxy.redact import is_secret_field
from venom_replay.replay.learned.identifiers import looks_like_identifier
from venom_replay.replay.learned.model import is_id_key

MAX_ENUM_VALUES = 8
MIN_ENUM_SUPPORT = 5
"""Values a field must show before it is enumerated (the learned oracles' ``min_support``)."""

Path = tuple[str, ...]
"""Where a value sits: property names, with ``[]`` for array items."""


def collect_strings(bodies: Iterable[Any]) -> dict[Path, list[Any]]:
    """Path -> every non-null scalar value recorded there."""
    found: dict[Path, list[Any]] = defaultdict(list)

    def walk(value: Any, path: Path, depth: int) -> None:
        if depth > 32:
            return
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*path, str(key)), depth + 1)
        elif isinstance(value, list):
            for item in value[:50]:
                walk(item, (*path, "[]"), depth + 1)
        elif value is not None:
            found[path].append(value)

    for body in bodies:
        walk(body, (), 0)
    return found


def client_strings(bodies: Iterable[Any]) -> set[str]:
    """Every string any recorded request body carried."""
    return {v for values in collect_strings(bodies).values() for v in values if isinstance(v, str)}


def key_of(path: Path) -> str:
    """The property name a value sits under (array items count as their list's)."""
    return next((p for p in reversed(path) if p != "[]"), "")


def strings_by_key(bodies: Iterable[Any]) -> dict[str, set[str]]:
    """Property name -> every string answered under it, in any body."""
    out: dict[str, set[str]] = defaultdict(set)
    for path, values in collect_strings(bodies).items():
        out[key_of(path)].update(v for v in values if isinstance(v, str))
    return out


def safe_enum(path: Path, values: list[Any], sent_by_clients: set[str], answered: dict[str, set[str]]) -> list[str] | None:
    """The sorted values to enumerate at ``path``, or None when an enum would not be safe.
    ``answered``: property name -> the strings every answer of the recording had under it."""
    key = key_of(path)
    if not key or is_id_key(key) or is_secret_field(key):
        return None
    if not values or not all(isinstance(v, str) for v in values):
        return None
    counts = Counter(values)
    if len(counts) > MAX_ENUM_VALUES or len(values) < max(MIN_ENUM_SUPPORT, MIN_REQUIRED_SUPPORT, 2 * len(counts)):
        return None
    if any(c == 1 for c in counts.values()):
        return None  # a value seen once says the next one may be new too
    allowed = set(counts) | answered.get(key, set())
    if len(allowed) > MAX_ENUM_VALUES:
        return None
    if any(looks_like_identifier(v) or v in sent_by_clients for v in allowed):
        return None
    return sorted(allowed)


def add_enums(schema: dict[str, Any], values_at: dict[Path, list[Any]], sent_by_clients: set[str],
              answered: dict[str, set[str]]) -> None:
    """Put an ``enum`` into ``schema`` (in place) wherever ``safe_enum`` allows one."""
    for path, values in values_at.items():
        allowed = safe_enum(path, values, sent_by_clients, answered)
        node = _node_at(schema, path) if allowed else None
        if node is not None and node.get("type") == "string":
            node["enum"] = allowed


def _node_at(schema: dict[str, Any], path: Path) -> dict[str, Any] | None:
    node: Any = schema
    for part in path:
        node = node.get("items") if part == "[]" else node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            return None
    return node
