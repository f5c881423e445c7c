"""Bindings for templates made from the spec: where their path parameters, body fields and credentials
come from on a replayed path.

In order: the spec's ``links`` (an operation's answer feeds another's parameter); a recorded template
that consumes a value of the same name (``path:order_id`` everywhere comes from ``POST /orders``'s
``body:$.id``); a recorded create of the resource the name says (``product_id`` <- the ``body:$.id``
of ``POST /products``); and the credentials of the recorded template nearest in path, whose headers
the request borrowed.
"""

from __future__ import annotations

from venom_replay.proxy.infer.model import (
    ActionTemplate,
    Consumption,
    Production,
    TemplateSet,
)
from venom_replay.proxy.infer.openapi_input.load import Operation, Spec

LINK_SCORE = 1.0
NAME_SCORE = 0.6
"""Name matches are guesses: below links and recorded flows, but still bindings the explorer uses."""


def _location(where: str, name: str) -> str:
    return name if name.startswith("body:") else f"{where}:{name}" if where in ("path", "query", "header") else f"body:$.{name}"


def link_bindings(op: Operation, spec: Spec, template_of: dict[str, ActionTemplate]) -> list[Consumption]:
    """Consumptions from the links other operations declare towards ``op``."""
    out = []
    wheres = {p.name: p.where for p in op.parameters}
    for producer_op in spec.operations:
        producer = template_of.get(producer_op.operation_id)
        if producer is None:
            continue
        for link in producer_op.links:
            if link.operation_id == op.operation_id:
                location = _location(wheres.get(link.parameter, "body"), link.parameter)
                out.append(Consumption(link.parameter, location, producer.id, link.source, score=LINK_SCORE, support=0, sessions=0))
    return out


def recorded_flow(location: str, tset: TemplateSet) -> Consumption | None:
    """The binding a recorded template has for the same location name, the best supported first."""
    same = [c for t in tset.templates.values() if t.count for c in t.consumes if c.location == location]
    if not same:
        return None
    best = max(same, key=lambda c: (c.score, c.support))
    return Consumption(best.var, location, best.producer, best.source, best.transform, score=NAME_SCORE, support=0, sessions=0)


def resource_create(name: str, path: str, tset: TemplateSet) -> Consumption | None:
    """``product_id`` (or ``id`` after ``/products``) <- a recorded ``POST .../products`` answer's ``id``."""
    segments = [s for s in path.split("/") if s]
    if name.endswith("_id"):
        collections = {name[:-3] + "s", name[:-3] + "es", name[:-3]}
    elif name == "id" and f"{{{name}}}" in segments and segments.index(f"{{{name}}}") > 0:
        collections = {segments[segments.index(f"{{{name}}}") - 1]}
    else:
        return None
    for tpl in tset.templates.values():
        last = tpl.path.rstrip("/").rsplit("/", 1)[-1]
        props = (tpl.response_schema or {}).get("properties") or {}
        if tpl.count and tpl.method == "POST" and last in collections and "id" in props:
            return Consumption(name, "", tpl.id, "body:$.id", score=NAME_SCORE, support=0, sessions=0)
    return None


def credential_bindings(neighbour: ActionTemplate | None) -> list[Consumption]:
    """The neighbour's header and cookie bindings (its credentials), for the headers borrowed from it."""
    if neighbour is None:
        return []
    return [Consumption(c.var, c.location, c.producer, c.source, c.transform, score=c.score, support=0, sessions=0)
            for c in neighbour.consumes if c.location.startswith(("header:", "cookie:"))]


def ensure_production(producer: ActionTemplate, var: str, source: str) -> None:
    """A producer a spec template reads from yields that value (it may have had no recorded consumer)."""
    if not any(p.source == source for p in producer.produces):
        producer.produces.append(Production(var, source))


def bindings_for(op: Operation, tpl: ActionTemplate, spec: Spec, tset: TemplateSet,
                 template_of: dict[str, ActionTemplate], neighbour: ActionTemplate | None) -> list[Consumption]:
    """Every binding of a spec template, one per location, the most trusted kind first."""
    chosen: dict[str, Consumption] = {}
    for c in link_bindings(op, spec, template_of):
        chosen.setdefault(c.location, c)
    wanted = [f"path:{p.name}" for p in op.params_in("path")]
    body = tpl.example_request.json() if tpl.example_request is not None else None
    if isinstance(body, dict):
        wanted += [f"body:$.{k}" for k in body if k.endswith("_id")]
    for location in wanted:
        if location in chosen:
            continue
        flow = recorded_flow(location, tset)
        if flow is None:
            name = location.split(":", 1)[1].removeprefix("$.")
            flow = resource_create(name, op.path, tset)
            if flow is not None:
                flow.location = location
        if flow is not None:
            chosen[location] = flow
    for c in credential_bindings(neighbour):
        chosen.setdefault(c.location, c)
    by_id = tset.templates
    for c in chosen.values():
        if c.producer in by_id:
            ensure_production(by_id[c.producer], c.var, c.source)
    return list(chosen.values())
