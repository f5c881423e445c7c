"""Export any networkx graph that carries a small set of attributes, for people to review.

The attribute contract (everything else is carried along where the format allows it):
    node  ``label`` (text shown), ``kind`` (e.g. "template", "start", "state"), ``details``
          (a dict shown when the node is clicked in the HTML view)
    edge  ``kind`` (e.g. "observed", "dependency", "action"), ``label``, ``count``
The transition graph (graph/transition.py) and the explorer's state graph both follow it.

Formats, chosen by the file extension unless ``fmt`` is given:
    .graphml  GraphML via networkx (Gephi, yEd, Cytoscape); dict/list values become JSON strings
    .dot      Graphviz DOT, written here with DOT's quoting rules
    .json     networkx node-link JSON (``networkx.node_link_graph(data, edges="edges")`` reads it back)
    .mmd      a Mermaid flowchart
    .html     one self-contained, offline, interactive page (graph/html_template.html + graph_view.js)
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx

from venom_replay.proxy.errors import VenomError

# format name -> extensions that select it
FORMATS: dict[str, tuple[str, ...]] = {
    "graphml": (".graphml",),
    "dot": (".dot", ".gv"),
    "json": (".json",),
    "mmd": (".mmd", ".mermaid"),
    "html": (".html", ".htm"),
}
_ALIASES = {"mermaid": "mmd", "graphviz": "dot", "gv": "dot", "htm": "html", "node-link": "json"}

_HERE = Path(__file__).resolve().parent
# Graph-level attributes that are bulky working data, not something a reviewer reads.
_INTERNAL_GRAPH_ATTRS = frozenset({"sessions"})
# Styling per edge kind for the static formats; unknown kinds get the default.
_DOT_EDGE_STYLE = {
    "observed": 'color="#4a6fa5"',
    "dependency": 'color="#c2185b", style=dashed, fontcolor="#c2185b"',
}
_DOT_NODE_STYLE = {
    "start": 'shape=circle, style=filled, fillcolor="#333333", fontcolor=white, width=0.6, fixedsize=true',
    "template": 'shape=box, style="rounded,filled", fillcolor="#eef3fb"',
}


def supported_extensions() -> list[str]:
    return [ext for exts in FORMATS.values() for ext in exts]


def format_for(path: Path, fmt: str | None = None) -> str:
    """The format name for ``fmt`` or, when it is None, for the file's extension."""
    if fmt is not None:
        name = _ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
        if name not in FORMATS:
            raise VenomError(f"unknown graph format {fmt!r}; supported: {', '.join(FORMATS)}")
        return name
    suffix = path.suffix.lower()
    for name, exts in FORMATS.items():
        if suffix in exts:
            return name
    shown = f"extension {suffix!r}" if suffix else "no extension"
    raise VenomError(f"{path}: {shown} names no graph format; use one of {', '.join(supported_extensions())}")


def export_graph(g: nx.Graph, path: Path, fmt: str | None = None, *, title: str = "") -> Path:
    """Write ``g`` to ``path`` in the format its extension (or ``fmt``) names; returns the path.

    The file is written next to its destination and renamed into place, so an interrupted export
    never leaves a half-written file where a good one was.
    """
    path = Path(path)
    name = format_for(path, fmt)
    title = title or str(g.graph.get("title") or path.stem)
    writer: Callable[[nx.Graph, Path, str], None] = _WRITERS[name]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            writer(g, Path(tmp), title)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise VenomError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


# ------------------------------------------------------------------ shared views


def _edges(g: nx.Graph) -> Iterator[tuple[Any, Any, Any, dict[str, Any]]]:
    """(u, v, key, data) for multigraphs and simple graphs alike (key None for simple ones)."""
    if g.is_multigraph():
        yield from g.edges(keys=True, data=True)
    else:
        for u, v, data in g.edges(data=True):
            yield u, v, None, data


def _node_label(node: Any, data: dict[str, Any]) -> str:
    return str(data.get("label", node))


def _edge_label(data: dict[str, Any]) -> str:
    if "label" in data:
        return str(data["label"])
    return str(data["count"]) if "count" in data else ""


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _to_json(value: Any, **kw: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, **kw)


def _scalar(value: Any) -> str | int | float | bool | None:
    """A value GraphML/DOT can hold: scalars as they are, containers as JSON text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return _to_json(value)


# ------------------------------------------------------------------ GraphML


def _write_graphml(g: nx.Graph, path: Path, title: str) -> None:
    flat = g.__class__()
    flat.graph.update({k: _scalar(v) for k, v in g.graph.items() if k not in _INTERNAL_GRAPH_ATTRS and v is not None})
    flat.graph["title"] = title
    for node, data in g.nodes(data=True):
        flat.add_node(str(node), **{k: _scalar(v) for k, v in data.items() if v is not None})
    for u, v, key, data in _edges(g):
        attrs = {k: _scalar(val) for k, val in data.items() if val is not None}
        if key is None:
            flat.add_edge(str(u), str(v), **attrs)
        else:
            flat.add_edge(str(u), str(v), key=str(key), **attrs)
    # infer_numeric_types: a key holding ints on some edges and floats on others is one double key.
    nx.write_graphml(flat, path, infer_numeric_types=True)


# ------------------------------------------------------------------ node-link JSON


def _write_json(g: nx.Graph, path: Path, title: str) -> None:
    data = nx.node_link_data(g, edges="edges")
    data["graph"] = {**data.get("graph", {}), "title": title}
    path.write_text(_to_json(data, indent=1) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ DOT


def dot_quote(value: Any) -> str:
    """A DOT double-quoted string: backslash and quote escaped, newlines as DOT's ``\\n``."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _dot_attrs(pairs: list[tuple[str, Any]], style: str = "") -> str:
    parts = [f"{k}={dot_quote(v)}" for k, v in pairs]
    if style:
        parts.append(style)
    return f" [{', '.join(parts)}]" if parts else ""


def _write_dot(g: nx.Graph, path: Path, title: str) -> None:
    directed = g.is_directed()
    arrow = "->" if directed else "--"
    lines = [
        f"{'digraph' if directed else 'graph'} {dot_quote(title)} {{",
        f"  graph [label={dot_quote(title)}, labelloc=t, rankdir=LR, fontname=Helvetica];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    for node, data in g.nodes(data=True):
        kind = str(data.get("kind", ""))
        pairs: list[tuple[str, Any]] = [("label", _node_label(node, data))]
        pairs += [(k, v) for k, v in data.items() if k not in ("label", "details") and _is_dot_scalar(v)]
        details = data.get("details")
        if isinstance(details, dict):
            # Graphviz shows a tooltip in SVG output; keep it short and one value per line.
            short = [f"{k}: {v}" for k, v in details.items() if _is_dot_scalar(v) and "\n" not in str(v) and len(str(v)) <= 120]
            pairs.append(("tooltip", "\n".join(short)))
        lines.append(f"  {dot_quote(node)}{_dot_attrs(pairs, _DOT_NODE_STYLE.get(kind, ''))};")
    for u, v, key, data in _edges(g):
        kind = str(data.get("kind", ""))
        pairs = [("label", _edge_label(data))]
        if key is not None:
            pairs.append(("key", key))
        pairs += [(k, val) for k, val in data.items() if k != "label" and _is_dot_scalar(val)]
        lines.append(f"  {dot_quote(u)} {arrow} {dot_quote(v)}{_dot_attrs(pairs, _DOT_EDGE_STYLE.get(kind, ''))};")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _is_dot_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


# ------------------------------------------------------------------ Mermaid


def mermaid_text(value: Any) -> str:
    """Text safe inside a Mermaid quoted label: quotes, pipes and angle brackets as entity codes."""
    text = str(value).replace("#", "#35;").replace('"', "#quot;").replace("|", "#124;")
    text = text.replace("<", "#lt;").replace(">", "#gt;").replace("\r", "").replace("\n", "<br/>")
    return text


_MERMAID_SHAPES = {"start": ('(("', '"))'), "template": ('["', '"]')}
_MERMAID_ARROWS = {"dependency": "-.->"}
_MERMAID_COLOURS = {"observed": "#4a6fa5", "dependency": "#c2185b"}


def _write_mermaid(g: nx.Graph, path: Path, title: str) -> None:
    directed = g.is_directed()
    ids = {node: f"n{i}" for i, node in enumerate(g.nodes)}
    lines = ["---", f"title: {json.dumps(title, ensure_ascii=False)}", "---", "flowchart LR"]
    kinds: dict[str, list[str]] = {}
    for node, data in g.nodes(data=True):
        kind = str(data.get("kind", "node"))
        open_, close = _MERMAID_SHAPES.get(kind, ('("', '")'))
        lines.append(f"  {ids[node]}{open_}{mermaid_text(_node_label(node, data))}{close}")
        kinds.setdefault(_css_ident(kind), []).append(ids[node])
    edge_kinds: dict[str, list[int]] = {}
    for i, (u, v, _key, data) in enumerate(_edges(g)):
        kind = str(data.get("kind", ""))
        arrow = _MERMAID_ARROWS.get(kind, "-->") if directed else "---"
        label = _edge_label(data)
        text = f'|"{mermaid_text(label)}"|' if label else ""
        lines.append(f"  {ids[u]} {arrow}{text} {ids[v]}")
        edge_kinds.setdefault(kind, []).append(i)
    lines.append("  classDef start fill:#333,color:#fff,stroke:#333")
    lines.append("  classDef template fill:#eef3fb,stroke:#4a6fa5")
    for kind, members in kinds.items():
        if kind in ("start", "template"):
            lines.append(f"  class {','.join(members)} {kind}")
    for kind, indexes in edge_kinds.items():
        colour = _MERMAID_COLOURS.get(kind)
        if colour:
            lines.append(f"  linkStyle {','.join(map(str, indexes))} stroke:{colour}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _css_ident(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text) or "node"


# ------------------------------------------------------------------ HTML


def graph_view_data(g: nx.Graph, title: str) -> dict[str, Any]:
    """What the HTML view draws: nodes and edges with label, kind, count and click details."""
    ids = {node: str(node) for node in g.nodes}
    nodes = []
    for node, data in g.nodes(data=True):
        details = data.get("details")
        if not isinstance(details, dict):
            details = {k: v for k, v in data.items() if k not in ("label", "kind")}
        nodes.append(
            {
                "id": ids[node],
                "label": _node_label(node, data),
                "kind": str(data.get("kind", "node")),
                "count": data.get("count"),
                "method": data.get("method") or (details.get("method") if isinstance(details.get("method"), str) else None),
                "details": details,
            }
        )
    edges = []
    for i, (u, v, key, data) in enumerate(_edges(g)):
        details = data.get("details")
        if not isinstance(details, dict):
            details = {k: val for k, val in data.items() if k not in ("label", "kind", "count")}
        edges.append(
            {
                "id": f"e{i}",
                "source": ids[u],
                "target": ids[v],
                "key": None if key is None else str(key),
                "kind": str(data.get("kind", "edge")),
                "label": _edge_label(data),
                "count": data.get("count"),
                "details": details,
            }
        )
    return {"title": title, "directed": g.is_directed(), "nodes": nodes, "edges": edges}


def _script_safe_json(value: Any) -> str:
    # Inside <script type="application/json"> the text must never contain "</script" or "<!--";
    # \u003c etc. are the same string to JSON.parse.
    text = _to_json(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(g: nx.Graph, title: str) -> str:
    template = (_HERE / "html_template.html").read_text(encoding="utf-8")
    script = (_HERE / "graph_view.js").read_text(encoding="utf-8")
    if "</script" in script.lower():
        raise RuntimeError("graph_view.js must not contain '</script'")
    parts = {
        "TITLE": html.escape(title),
        "GRAPH_VIEW_JS": script,
        "GRAPH_DATA": _script_safe_json(graph_view_data(g, title)),
    }
    # One pass, so a title that happens to contain a placeholder is never expanded.
    return re.sub(r"\{\{(TITLE|GRAPH_VIEW_JS|GRAPH_DATA)\}\}", lambda m: parts[m.group(1)], template)


def _write_html(g: nx.Graph, path: Path, title: str) -> None:
    path.write_text(render_html(g, title), encoding="utf-8")


_WRITERS: dict[str, Callable[[nx.Graph, Path, str], None]] = {
    "graphml": _write_graphml,
    "dot": _write_dot,
    "json": _write_json,
    "mmd": _write_mermaid,
    "html": _write_html,
}
