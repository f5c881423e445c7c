"""The transition graph over action templates.

``build_transition_graph(tset)`` turns what inference learned from a recording into a
``networkx.MultiDiGraph`` that people can look at (see ``graph/export.py``) and that
``graph/unseen.py`` enumerates orderings from.

Nodes
    One node per template (id = template id, ``kind="template"``) and one start node
    (id = ``START``, ``kind="start"``) where every recorded session begins.

Edges (a multigraph, so the two kinds between the same pair of nodes never merge)
    ``kind="observed"``, key ``"observed"``: B directly followed A in at least one recorded session;
    ``count`` says how often. Edges from the start node count the sessions that began with B.
    ``kind="dependency"``, key ``"dependency:<location>"``: B's request takes a value at ``location``
    that A's response produces (``var``, ``source``, ``transform``, ``score``, ``support``).

Graph attributes: ``title``, ``source`` (the recording), ``sessions`` (session id -> the
template ids it ran, in order; unseen-ordering enumeration needs whole sessions, not just pairs).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import networkx as nx

from venom_replay.proxy.recording import Exchange, Request, Response
from venom_replay.proxy.redact import redact_exchange
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet

START = "__start__"
"""Id of the node that every recorded session starts from."""

OBSERVED = "observed"
DEPENDENCY = "dependency"

# Example bodies are for reading in a click panel, not for replay: keep the HTML small.
_BODY_PREVIEW_CHARS = 4000


def session_sequences(tset: TemplateSet) -> dict[str, list[list[str]]]:
    """Each session's template ids in recorded order, cut where a step names no known template.

    A step whose template is missing (left out by inference) is not replayable, so the steps on
    either side of it were not consecutive template calls: the session splits there.
    """
    runs: dict[str, list[list[str]]] = {}
    for session_id, steps in tset.sessions.items():
        pieces: list[list[str]] = [[]]
        for step in steps:
            if step.template in tset.templates:
                pieces[-1].append(step.template)
            elif pieces[-1]:
                pieces.append([])
        runs[session_id] = [p for p in pieces if p]
    return runs


def _consecutive_pairs(runs: dict[str, list[list[str]]]) -> Iterator[tuple[str, str]]:
    for pieces in runs.values():
        for seq in pieces:
            yield from zip(seq, seq[1:])


def observed_pairs(tset: TemplateSet) -> set[tuple[str, str]]:
    """The (A, B) template-id pairs where B directly followed A in some recorded session.

    Session starts are not included (the start node is a graph concept, not a template).
    """
    return set(_consecutive_pairs(session_sequences(tset)))


def build_transition_graph(tset: TemplateSet, *, title: str = "") -> nx.MultiDiGraph:
    """The transition graph of a template set (see the module docstring for its shape)."""
    if START in tset.templates:
        raise ValueError(f"template id {START!r} is reserved for the start node")
    runs = session_sequences(tset)
    g = nx.MultiDiGraph(
        title=title or (f"transition graph of {tset.source}" if tset.source else "transition graph"),
        source=tset.source,
        sessions={sid: pieces for sid, pieces in runs.items() if pieces},
    )
    g.add_node(START, label="start", kind="start", count=len(g.graph["sessions"]), details=_start_details(tset, runs))
    for template in tset.templates.values():
        g.add_node(template.id, **_template_node_attrs(template, tset))

    # Only the first run of a session starts it; a run after a gap is not a session beginning.
    starts = Counter(pieces[0][0] for pieces in runs.values() if pieces)
    pairs = Counter(_consecutive_pairs(runs))
    observed = [((START, b), n) for b, n in sorted(starts.items())] + sorted(pairs.items())
    g.add_edges_from((a, b, OBSERVED, {"kind": OBSERVED, "count": n, "label": f"{n}×"}) for (a, b), n in observed)

    for consumer in tset.templates.values():
        for c in consumer.consumes:
            if c.producer not in tset.templates:
                continue  # a binding to a template not in the set: no node to draw it from
            key = f"{DEPENDENCY}:{c.location}"
            existing = g.get_edge_data(c.producer, consumer.id, key)
            if existing is not None:
                # Several sources of one producer feeding one location: one edge, all sources.
                existing["sources"].append(c.source)
                existing["support"] += c.support
                existing["score"] = max(existing["score"], c.score)
                continue
            g.add_edge(
                c.producer,
                consumer.id,
                key=key,
                kind=DEPENDENCY,
                var=c.var,
                location=c.location,
                source=c.source,
                sources=[c.source],
                transform=c.transform,
                score=c.score,
                support=c.support,
                count=c.support,
                label=c.var,
            )
    return g


# ------------------------------------------------------------------ node attributes


def _template_node_attrs(t: ActionTemplate, tset: TemplateSet) -> dict[str, Any]:
    return {
        "label": t.label,
        "kind": "template",
        "method": t.method,
        "path": t.path,
        "effect": t.effect,
        "count": t.count,
        "statuses": {str(code): n for code, n in sorted(t.statuses.items())},
        "produces": [f"{p.var} <- {p.source}" for p in t.produces],
        "consumes": [f"{c.var} -> {c.location} from {_template_label(tset, c.producer)} {c.source}" for c in t.consumes],
        "details": _template_details(t, tset),
    }


def _template_label(tset: TemplateSet, template_id: str) -> str:
    t = tset.templates.get(template_id)
    return t.label if t is not None else f"{template_id} (unknown template)"


def _template_details(t: ActionTemplate, tset: TemplateSet) -> dict[str, Any]:
    """What the HTML click panel shows for a template, secrets masked."""
    origin_port = "" if (t.scheme, t.port) in (("http", 80), ("https", 443)) else f":{t.port}"
    details: dict[str, Any] = {
        "id": t.id,
        "method": t.method,
        "path": t.path,
        "origin": f"{t.scheme}://{t.host}{origin_port}" if t.host else "",
        "effect": t.effect,
        "calls recorded": t.count,
        "status codes": ", ".join(f"{code} ×{n}" for code, n in sorted(t.statuses.items())),
        "produces": [f"{p.var} ← {p.source}" for p in t.produces],
        "consumes": [
            f"{c.var} → {c.location} from {_template_label(tset, c.producer)} [{c.source}]"
            + ("" if c.transform == "identity" else f" ({c.transform})")
            + f"  score {c.score:.2f}, {c.support} calls in {c.sessions} sessions"
            for c in t.consumes
        ],
        "inputs": [f"{f.location} ({f.kind})" for f in t.fields],
        "volatile": list(t.volatile),
    }
    if t.example_request is not None:
        request, response = _redacted_example(t.example_request, t.example_response)
        details["example request"] = format_request(request)
        if response is not None:
            details["example response"] = format_response(response)
    # Empty entries only add noise to the panel.
    return {k: v for k, v in details.items() if v not in ("", [], None)}


def _start_details(tset: TemplateSet, runs: dict[str, list[list[str]]]) -> dict[str, Any]:
    return {
        "what": "where every recorded session begins",
        "recording": tset.source,
        "sessions": len([r for r in runs.values() if r]),
        "templates": len(tset.templates),
        "exchanges left out": tset.ignored,
    }


def _redacted_example(req: Request, resp: Response | None) -> tuple[Request, Response | None]:
    masked = redact_exchange(Exchange(seq=0, session="", started=0.0, ended=0.0, request=req, response=resp))
    return masked.request, masked.response


def format_request(req: Request) -> str:
    """An HTTP/1.1-style text rendering of a request, for reading (not for sending)."""
    target = req.path
    if req.query:
        from urllib.parse import urlencode

        target += "?" + urlencode(req.query, safe="*()")
    lines = [f"{req.method} {target} {req.http_version}"]
    lines += [f"{k}: {v}" for k, v in req.headers]
    return _with_body(lines, req.headers, req.body, req.body_truncated, req.body_size)


def format_response(resp: Response) -> str:
    lines = [f"{resp.http_version} {resp.status} {resp.reason}".rstrip()]
    lines += [f"{k}: {v}" for k, v in resp.headers]
    return _with_body(lines, resp.headers, resp.body, resp.body_truncated, resp.body_size)


def _with_body(lines: list[str], headers: list[tuple[str, str]], body: bytes, truncated: bool, size: int) -> str:
    text = "\n".join(lines)
    if not body:
        return text + ("\n\n(body left out: it was cut while recording)" if truncated else "")
    return text + "\n\n" + _body_text(headers, body, truncated, size)


def _body_text(headers: list[tuple[str, str]], body: bytes, truncated: bool, size: int) -> str:
    ctype = next((v.lower() for k, v in headers if k.lower() == "content-type"), "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"({size or len(body)} bytes of binary {ctype or 'data'})"
    if "json" in ctype or text[:1] in ("{", "["):
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    if len(text) > _BODY_PREVIEW_CHARS:
        text = text[:_BODY_PREVIEW_CHARS] + f"\n… ({len(text) - _BODY_PREVIEW_CHARS} more characters)"
    elif truncated:
        text += f"\n… (cut while recording; {size} bytes in all)"
    return text
