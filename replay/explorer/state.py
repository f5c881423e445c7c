"""State identity and the explored state graph.

A state is what the databases hold (their fingerprints, volatile columns already left out by the
adapters) plus the values bound so far on the path (volatile ones reduced to "bound"). Two paths that
reach equal states are merged, so the explored graph is a real state graph: a ``GET`` that changes
nothing loops back to the state it started from instead of growing a tree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
from venom_replay.proxy.infer.model import TemplateSet

ValueKey = tuple[str, str]

BOOKKEEPING = ""
"""The producer id of what a path keeps for itself among its values (the recorded -> live translation,
values per resource): never a template id, so no binding asks for it; it is left out of a state's
identity (it follows from the path) and of what checkers see."""


def is_bookkeeping(key: ValueKey) -> bool:
    return key[0] == BOOKKEEPING


def public_values(values: Mapping[ValueKey, Any]) -> Mapping[ValueKey, Any]:
    """``values`` without the path's bookkeeping (the same mapping when it has none)."""
    if not any(k[0] == BOOKKEEPING for k in values):
        return values
    return {k: v for k, v in values.items() if k[0] != BOOKKEEPING}


def volatile_sources(tset: TemplateSet) -> set[ValueKey]:
    """(producer, source) pairs whose values vary with nothing to explain them (tokens, timestamps)."""
    out: set[ValueKey] = set()
    for tpl in tset.templates.values():
        volatile = set(tpl.volatile)
        for prod in tpl.produces:
            kind, _, where = prod.source.partition(":")
            if (kind == "body" and where in volatile) or prod.source in volatile or kind == "cookie":
                out.add((tpl.id, prod.source))
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def state_key(fingerprints: Iterable[str], values: Mapping[ValueKey, Any], volatile: set[ValueKey]) -> str:
    """A short stable hash of the databases' content and the (normalised) bound values."""
    h = hashlib.blake2b(digest_size=8)
    for fp in fingerprints:
        h.update(fp.encode())
        h.update(b"\0")
    for key in sorted(values):
        if key[0] == BOOKKEEPING:
            continue
        h.update(_canonical(list(key)).encode())
        # A volatile value only counts as "bound": a fresh token does not make a new state.
        h.update(b"=*" if key in volatile else b"=" + _canonical(values[key]).encode())
        h.update(b"\0")
    return h.hexdigest()


def values_digest(values: Mapping[ValueKey, Any]) -> str:
    """All of ``values`` (volatile and bookkeeping ones too) as one hash: two visits of a state with
    equal digests hold the same tokens, so one's checkpoint serves the other's path."""
    h = hashlib.blake2b(digest_size=8)
    for key in sorted(values):
        h.update(_canonical([list(key), values[key]]).encode())
        h.update(b"\0")
    return h.hexdigest()


@dataclass(slots=True)
class StateNode:
    key: str
    depth: int
    fingerprint: str
    values: dict[ValueKey, Any]
    path: tuple[Any, ...]
    """Actions from the root along the first (shortest under BFS) path that reached this state."""
    lineage: tuple[str, ...]
    """State keys from the root to this state (this one last), along ``path``."""
    results: tuple[Any, ...] = ()
    """The executed steps (StepResult) along ``path``; refreshed when the path is re-executed."""
    prefix_len: int = 0
    """States below a prefix root: the first ``prefix_len`` actions of ``path`` are the recorded
    prefix."""
    prefix_marks: tuple[int, ...] = ()
    """How the recorded prefix spans ``lineage``: its first steps lead from the baseline through the
    shorter prefix roots to this one, step i ending after ``prefix_marks[i]`` actions (so reaching a
    later prefix root re-executes only the recorded steps since the one before)."""


class StateGraph:
    """States as nodes, executed actions as edges (one edge per template between two states)."""

    def __init__(self) -> None:
        self.graph = nx.MultiDiGraph()
        self.nodes: dict[str, StateNode] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def add_state(self, node: StateNode, *, root: bool = False, prefix_root: bool = False) -> None:
        self.nodes[node.key] = node
        self.graph.add_node(
            node.key,
            label="start" if root else f"P{len(self.nodes) - 1}" if prefix_root else f"S{len(self.nodes) - 1}",
            kind="root" if root else "prefix-root" if prefix_root else "state",
            details={"depth": node.depth, "bound values": len(node.values),
                     "db fingerprint": node.fingerprint[:16], "first reached by": " -> ".join(map(str, node.path)) or "(start)"},
        )

    def add_transition(self, src: str, dst: str, *, template: str, label: str, status: int | None,
                       findings: Iterable[str] = ()) -> None:
        """Record one executed action; repeated executions of the same edge count up."""
        if self.graph.has_edge(src, dst, key=template):
            data = self.graph.edges[src, dst, template]
            data["count"] += 1
        else:
            self.graph.add_edge(src, dst, key=template, template=template, label=label, kind="ok",
                                count=1, statuses=[], findings=[])
            data = self.graph.edges[src, dst, template]
        if status is not None and status not in data["statuses"]:
            data["statuses"].append(status)
        for f in findings:
            if f not in data["findings"]:
                data["findings"].append(f)
        # Edge kind drives the colour in exports: a finding beats an error beats a success.
        if data["findings"]:
            data["kind"] = "finding"
        elif any(s >= 400 for s in data["statuses"]) or status is None:
            data["kind"] = "error" if data["kind"] != "finding" else data["kind"]
        codes = ",".join(str(s) for s in sorted(data["statuses"])) or "error"
        data["label"] = f"{label} [{codes}]"

    def mark_finding_state(self, key: str) -> None:
        if key in self.graph:
            self.graph.nodes[key]["kind"] = "finding"
