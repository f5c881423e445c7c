"""Orderings of template calls that the recording never showed.

Definitions (over a transition graph built by ``graph/transition.py``)

*Step*: a template node (``kind="template"``); the start node is not a step.

*Requirement*: a template B needs one value per request ``location`` that has incoming
``dependency`` edges; the value is available once ANY producer of an edge into that location has run.
(Inference may list alternatives: an order id read from ``POST /orders`` or from ``GET /orders``.)
A binding whose producer is not in the graph has no edge, so it asks for nothing here.

*Dependency-respecting sequence* ``(t1, ..., tk)``: for every i and every requirement of ``ti``,
some ``tj`` with ``j < i`` is one of its producers. Sequences start with nothing bound, so only a
template without requirements can be ``t1``. A value stays bound once produced: repeating a template
(refund, refund) and calling a consumer after its resource was deleted are both allowed; that is
exactly what the explorer wants to try.

*Seen*: the sequence occurs as consecutive steps of some recorded session, i.e. it is a contiguous
subsequence (a substring) of a session's template sequence (``graph.graph["sessions"]``). Sessions
are cut where a step names no template, so a substring never spans such a gap.

*Unseen sequence*: a dependency-respecting sequence of 1..``max_depth`` steps that is not seen.
Every template in a graph built from a recording was recorded, so length-1 sequences are usually
all seen.

Order: by length, then lexicographically by template order, where templates are ordered by their
ids in natural order ("t2" before "t10"). The order does not depend on dict or set iteration order.

Both functions stream: memory holds the recorded substrings (a trie of depth ``max_depth``), one
path of the search, and a bounded cache, never the sequences themselves.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx

from venom_replay.proxy.errors import VenomError

from venom_replay.graph.transition import DEPENDENCY

_ENABLED_CACHE_LIMIT = 1024
"""Distinct requirement states whose enabled-template lists are kept; small so memory stays flat."""

Trie = dict[int, "Trie"]


def _natural_key(text: str) -> tuple[list[object], str]:
    # re.split with one group alternates text and digit runs, so positions compare like with like.
    parts: list[object] = [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", text))]
    return parts, text


@dataclass(slots=True)
class _Problem:
    """The graph reduced to integers: templates by index, requirements as bits of a mask."""

    ids: list[str]
    need: list[int]
    """need[t]: bits of the requirements template t has."""
    gives: list[int]
    """gives[t]: bits of the requirements that running template t satisfies."""
    seen: Trie
    """Every recorded substring of up to max_depth steps, as a trie over template indexes."""
    _enabled: dict[int, list[int]] = field(default_factory=dict)

    def enabled(self, mask: int) -> list[int]:
        """Templates (in order) whose requirements are all in ``mask``."""
        hit = self._enabled.get(mask)
        if hit is None:
            hit = [t for t, need in enumerate(self.need) if not need & ~mask]
            if len(self._enabled) >= _ENABLED_CACHE_LIMIT:
                self._enabled.clear()
            self._enabled[mask] = hit
        return hit


def _problem(graph: nx.MultiDiGraph, max_depth: int) -> _Problem:
    if max_depth < 0:
        raise VenomError(f"depth must be 0 or more, got {max_depth}")
    sessions = graph.graph.get("sessions")
    if not isinstance(sessions, dict):
        raise VenomError("this graph has no recorded sessions (graph.graph['sessions']); build it with build_transition_graph")
    ids = sorted((n for n, kind in graph.nodes(data="kind") if kind == "template"), key=_natural_key)
    index = {t: i for i, t in enumerate(ids)}

    # Requirement = (consumer, location); its producers are the sources of the dependency edges into it.
    producers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a, b, data in graph.edges(data=True):
        if data.get("kind") == DEPENDENCY and a in index and b in index:
            producers[(b, str(data.get("location", "")))].add(a)
    # Requirements with the same producer set are one bit: fewer bits, fewer distinct states.
    bit_of: dict[frozenset[str], int] = {}
    need = [0] * len(ids)
    gives = [0] * len(ids)
    for (consumer, _location), prods in sorted(producers.items()):
        key = frozenset(prods)
        if key not in bit_of:
            bit_of[key] = 1 << len(bit_of)
            for p in prods:
                gives[index[p]] |= bit_of[key]
        need[index[consumer]] |= bit_of[key]

    seen: Trie = {}
    for pieces in sessions.values():
        for run in pieces:
            seq = [index.get(t, -1) for t in run]
            for start in range(len(seq)):
                node = seen
                for t in seq[start : start + max_depth]:
                    if t < 0:
                        break  # a template no longer in the graph: nothing past it can match
                    node = node.setdefault(t, {})
    return _Problem(ids=ids, need=need, gives=gives, seen=seen)


def iter_unseen(graph: nx.MultiDiGraph, max_depth: int) -> Iterator[tuple[str, ...]]:
    """Yield every unseen dependency-respecting sequence of 1..max_depth template ids, lazily.

    See the module docstring for the exact definition and order. Shorter sequences come first, so
    taking the first n gives the shortest orderings to try.
    """
    problem = _problem(graph, max_depth)
    for length in range(1, max_depth + 1):
        yield from _unseen_of_length(problem, length)


def _unseen_of_length(p: _Problem, length: int) -> Iterator[tuple[str, ...]]:
    """Depth-first over dependency-respecting prefixes, following the trie while still seen."""
    ids, gives = p.ids, p.gives
    prefix: list[str] = []
    # Frame: [candidate templates, next candidate position, requirement mask, trie node or None].
    stack: list[list] = [[p.enabled(0), 0, 0, p.seen]]
    while stack:
        frame = stack[-1]
        candidates, pos, mask, node = frame
        if pos == len(candidates):
            stack.pop()
            if prefix:
                prefix.pop()
            continue
        frame[1] = pos + 1
        t = candidates[pos]
        # Once a prefix is unseen, every extension is unseen: no more trie look-ups below it.
        child = None if node is None else node.get(t)
        if len(stack) == length:
            if child is None:
                yield (*prefix, ids[t])
            continue
        new_mask = mask | gives[t]
        prefix.append(ids[t])
        stack.append([p.enabled(new_mask), 0, new_mask, child])


def count_unseen(graph: nx.MultiDiGraph, max_depth: int) -> dict[int, int]:
    """{length: number of unseen sequences} for lengths 1..max_depth, without listing them.

    count = (dependency-respecting sequences of that length) - (distinct recorded substrings of that
    length that respect dependencies). The first term is a dynamic program over requirement states
    (which requirements are satisfied so far): its cost grows with the number of distinct states
    reachable in max_depth steps, never with the number of sequences. The second walks the trie.
    """
    p = _problem(graph, max_depth)
    # Templates with equal (need, gives) behave alike: count them once with a multiplicity.
    groups: dict[tuple[int, int], int] = defaultdict(int)
    for need, gives in zip(p.need, p.gives):
        groups[(need, gives)] += 1
    group_list = sorted(groups.items())

    totals: dict[int, int] = {}
    states: dict[int, int] = {0: 1}
    for length in range(1, max_depth + 1):
        last = length == max_depth
        nxt: dict[int, int] = defaultdict(int)
        total = 0
        for mask, ways in states.items():
            for (need, gives), mult in group_list:
                if not need & ~mask:
                    total += ways * mult
                    if not last:  # the last level needs only the sum, not the states
                        nxt[mask | gives] += ways * mult
        totals[length] = total
        states = nxt

    seen_counts = dict.fromkeys(totals, 0)
    # Walk the trie along dependency-respecting paths only (a violation never heals).
    walk: list[tuple[Trie, int, int]] = [(p.seen, 0, 0)]
    while walk:
        node, mask, depth = walk.pop()
        for t, child in node.items():
            if p.need[t] & ~mask:
                continue
            seen_counts[depth + 1] += 1
            if depth + 1 < max_depth:
                walk.append((child, mask | p.gives[t], depth + 1))
    return {k: totals[k] - seen_counts[k] for k in totals}
