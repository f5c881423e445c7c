"""Redis checkpoints as a tree of deltas: each node holds only the keys that changed since its parent.

A node's content is the baseline overridden by the deltas on its path from the root. What a restore
from node A to node B must rewrite is the union of the deltas on the tree path between them (plus
the keys changed since A), which is small when the branches are short, whatever the keyspace size.

Looking a key up walks from the node towards the root until a delta names it. Every ``SPAN`` levels
a node also keeps ``merged``, every key changed on its whole path, so no walk is longer than
``SPAN`` nodes however long the history grows. Entries are opaque to this module (the adapters store
DUMP payloads or presence flags); ``None`` means the key did not exist there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SPAN = 32
MISSING: Any = object()  # named by no delta on the path: as it was at the baseline


class Node:
    __slots__ = ("delta", "depth", "merged", "parent")

    def __init__(self, parent: Node | None, delta: Mapping[bytes, Any]) -> None:
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.delta = dict(delta)
        self.merged: dict[bytes, Any] | None = {} if parent is None else None
        if parent is not None and self.depth % SPAN == 0:
            self.merged = _merge_path(self)


def _merge_path(node: Node) -> dict[bytes, Any]:
    """Every key changed between the root and ``node``, with its entry at ``node``."""
    chain = []
    while node.merged is None:
        chain.append(node)
        node = node.parent
    merged = dict(node.merged)
    for step in reversed(chain):
        merged.update(step.delta)
    return merged


def diff(a: Node, b: Node) -> set[bytes]:
    """Keys whose entry may differ between nodes ``a`` and ``b`` (the deltas on the path between them)."""
    keys: set[bytes] = set()
    while a is not b:
        if a.depth >= b.depth:
            keys.update(a.delta)
            a = a.parent
        else:
            keys.update(b.delta)
            b = b.parent
    return keys


def resolve(node: Node, keys: Iterable[bytes]) -> dict[bytes, Any]:
    """Each key's entry at ``node``; MISSING for keys left as they were at the baseline."""
    remaining = set(keys)
    found: dict[bytes, Any] = {}
    while remaining:
        if node.merged is not None:  # a summary of the whole path above: the walk ends here
            for key in remaining:
                found[key] = node.merged.get(key, MISSING)
            return found
        hits = remaining.intersection(node.delta) if len(node.delta) < 4 * len(remaining) else \
            {k for k in remaining if k in node.delta}
        for key in hits:
            found[key] = node.delta[key]
        remaining -= hits
        node = node.parent
    return found
