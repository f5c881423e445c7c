"""The explored state graph folded into a few nodes, for report.html's full-graph view.

Hundreds of states cannot be read as one drawing. Two foldings keep the shape: by depth (one node per
number of steps from the start, edges counting the transitions between depths) and by template (one
node per action, an edge A -> B when B was executed from a state that A led to). Edges keep the
strongest kind of the transitions they fold (a finding beats an error beats a success). Nearly every
action follows nearly every other, so the template view draws for each action only its most frequent
predecessors and every edge that carries a finding; the node's details list all its predecessors.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import networkx as nx

_KIND_RANK = {"ok": 0, "error": 1, "finding": 2}
DRAWN_PREDECESSORS = 3


def _strongest(kinds: set[str]) -> str:
    return max(kinds, key=lambda k: _KIND_RANK.get(k, 0), default="ok")


def _depth(data: dict[str, Any]) -> int:
    details = data.get("details")
    depth = details.get("depth") if isinstance(details, dict) else None
    return depth if isinstance(depth, int) else 0


def _edges(graph: nx.Graph) -> list[tuple[Any, Any, dict[str, Any]]]:
    return list(graph.edges(data=True))


def by_depth(graph: nx.Graph) -> nx.MultiDiGraph:
    depth = {n: _depth(d) for n, d in graph.nodes(data=True)}
    states: Counter[int] = Counter(depth.values())
    with_findings = Counter(depth[n] for n, d in graph.nodes(data=True) if d.get("kind") == "finding")
    folded = nx.MultiDiGraph()
    for level in sorted(states):
        extra = f", {with_findings[level]} with a finding" if with_findings[level] else ""
        folded.add_node(f"depth {level}", label=f"depth {level}: {states[level]} states{extra}",
                        kind="finding" if with_findings[level] else "state",  # boxes: "start" draws a dot
                        details={"depth": level, "states": states[level], "states with a finding": with_findings[level]})
    grouped: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for u, v, data in _edges(graph):
        grouped[depth[u], depth[v]].append(data)
    for (a, b), edges in sorted(grouped.items()):
        templates = sorted({str(e.get("template", e.get("label", ""))) for e in edges})
        count = sum(int(e.get("count", 1)) for e in edges)
        folded.add_edge(f"depth {a}", f"depth {b}", label=f"{count} transitions, {len(templates)} actions",
                        kind=_strongest({str(e.get("kind", "ok")) for e in edges}), count=count,
                        details={"actions": templates})
    return folded


def by_template(graph: nx.Graph) -> nx.MultiDiGraph:
    entered_by: dict[Any, set[str]] = defaultdict(set)
    for _u, v, data in _edges(graph):
        entered_by[v].add(str(data.get("template", "")))
    roots = {n for n, d in graph.nodes(data=True) if d.get("kind") in ("root", "prefix-root")}
    folded = nx.MultiDiGraph()
    folded.add_node("(start)", label="start", kind="start", details={"states": len(roots)})
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    runs: Counter[str] = Counter()
    kinds: dict[str, set[str]] = defaultdict(set)
    for u, _v, data in _edges(graph):
        template = str(data.get("template", ""))
        runs[template] += int(data.get("count", 1))
        kinds[template].add(str(data.get("kind", "ok")))
        sources = entered_by.get(u) or {"(start)"}
        for source in sources:
            pairs[source, template].append(data)
    folded_edges = {pair: (sum(int(e.get("count", 1)) for e in edges), _strongest({str(e.get("kind", "ok")) for e in edges}))
                    for pair, edges in pairs.items()}
    for template in sorted(runs):
        before = sorted(((a, n) for (a, b), (n, _) in folded_edges.items() if b == template), key=lambda p: (-p[1], p[0]))
        folded.add_node(template, label=template, kind="finding" if "finding" in kinds[template] else "template",
                        details={"executions": runs[template], "follows": {a: n for a, n in before}})
        drawn = {a for a, _ in before[:DRAWN_PREDECESSORS]}
        for a, count in before:
            kind = folded_edges[a, template][1]
            if a in drawn or kind == "finding":
                folded.add_edge(a, template, label=f"{count}×", kind=kind, count=count)
    return folded
