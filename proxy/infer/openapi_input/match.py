"""Recorded templates matched to the spec's operations, and where the two disagree.

A template matches an operation with its method and a path of as many segments where each spec
literal equals the recorded literal (a spec parameter may stand for a recorded literal or parameter);
the operation with most literal segments in common wins. A matched template takes the spec's
parameter names (``/orders/{id}`` learned, ``/orders/{order_id}`` in the spec). Types and required
fields are checked against the recorded requests and answers: traffic wins where the two disagree,
and each disagreement becomes a warning, so a wrong spec is reported, not obeyed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.openapi_input.load import Operation, Spec

_PARAM = re.compile(r"\{[^}/]*\}")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


@dataclass(slots=True)
class Match:
    template: ActionTemplate
    operation: Operation


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def path_score(spec_path: str, template_path: str) -> int | None:
    """Literal segments in common, or None when the spec path cannot stand for the template's."""
    spec, rec = _segments(spec_path), _segments(template_path)
    if len(spec) != len(rec):
        return None
    score = 0
    for s, r in zip(spec, rec):
        if _is_param(s):
            continue
        if s != r:
            return None
        score += 1
    return score


def match_templates(tset: TemplateSet, spec: Spec) -> list[Match]:
    """Each recorded template with the operation that describes it (unmatched templates left out)."""
    matches = []
    for tpl in tset.templates.values():
        scored = [(path_score(op.path, tpl.path), op) for op in spec.operations if op.method == tpl.method]
        scored = [(s, op) for s, op in scored if s is not None]
        if scored:
            matches.append(Match(tpl, max(scored, key=lambda pair: pair[0])[1]))
    return matches


def adopt_parameter_names(match: Match) -> None:
    """Rename the template's path parameters to the spec's, everywhere the template names them."""
    renames = {r[1:-1]: s[1:-1] for s, r in zip(_segments(match.operation.path), _segments(match.template.path))
               if _is_param(s) and _is_param(r) and s != r}
    if not renames or len(set(renames.values())) != len(renames):
        return
    tpl = match.template

    def loc(location: str) -> str:
        kind, _, name = location.partition(":")
        return f"path:{renames[name]}" if kind == "path" and name in renames else location

    tpl.path = "/" + "/".join(f"{{{renames.get(seg[1:-1], seg[1:-1])}}}" if _is_param(seg) else seg for seg in _segments(tpl.path))
    for c in tpl.consumes:
        c.location = loc(c.location)
    for f in tpl.fields:
        f.location = loc(f.location)
    for hint in tpl.cross_session:
        hint.location = loc(hint.location)
    for p in tpl.produces:
        if p.user_from.startswith("request:"):
            p.user_from = "request:" + loc(p.user_from[len("request:"):])
    tpl.unbound_examples = {i: [loc(x) for x in locs] for i, locs in tpl.unbound_examples.items()}


def type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return next((name for name, kinds in _JSON_TYPES.items() if name != "integer" and isinstance(value, kinds)), "unknown")


def fits(schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value``'s JSON type is one the schema allows (no type in the schema: any)."""
    allowed = schema.get("type")
    if allowed is None:
        return True
    names = allowed if isinstance(allowed, list) else [allowed]
    if schema.get("nullable") and value is None:
        return True
    if isinstance(value, bool):
        return "boolean" in names
    return any(isinstance(value, _JSON_TYPES.get(str(n), ())) for n in names)


def disagreements(match: Match) -> list[str]:
    """Where the spec and the recorded traffic disagree about this template (traffic kept)."""
    tpl, op = match.template, match.operation
    out: list[str] = []
    schema = op.body_schema or {}
    props: dict[str, Any] = schema.get("properties") or {}
    # A template whose recorded calls all failed teaches nothing about what the server accepts.
    succeeded = any(200 <= status < 300 for status in tpl.statuses)
    bodies = [body for body in (req.json() for req in tpl.example_requests) if isinstance(body, dict)] if succeeded else []
    for name, prop in props.items():
        values = [b[name] for b in bodies if name in b]
        wrong = [v for v in values if not fits(prop, v)]
        if wrong:
            out.append(f"{op.label}: the spec says request field {name!r} is {prop.get('type')}, the recorded traffic sent "
                       f"{type_of(wrong[0])} ({len(wrong)} of {len(values)} requests): the recorded type is kept")
    for name in schema.get("required") or []:
        lacking = sum(1 for b in bodies if name not in b)
        if lacking:
            out.append(f"{op.label}: the spec says request field {name!r} is required, {lacking} recorded request(s) "
                       f"of a template that succeeded lacked it: it stays optional")
    out += _answer_disagreements(op, tpl.response_schema or {}, "$")
    return out


def _answer_disagreements(op: Operation, learned: dict[str, Any], where: str) -> list[str]:
    spec_props = (op.response_schema or {}).get("properties") or {} if where == "$" else {}
    learned_props = learned.get("properties") or {}
    out = []
    for name, prop in spec_props.items():
        seen = learned_props.get(name)
        if not isinstance(seen, dict) or "type" not in seen or "type" not in prop:
            continue
        seen_types = set(seen["type"] if isinstance(seen["type"], list) else [seen["type"]])
        spec_types = set(prop["type"] if isinstance(prop["type"], list) else [prop["type"]])
        if "number" in spec_types:
            spec_types.add("integer")
        if prop.get("nullable"):
            spec_types.add("null")
        if not seen_types <= spec_types:
            out.append(f"{op.label}: the spec says answer field {name!r} is {prop['type']}, the recorded answers had "
                       f"{'/'.join(sorted(seen_types))}: the recorded type is kept")
    return out


def adopt_template_ids(tset: TemplateSet) -> None:
    """Template ids follow the renamed paths (``METHOD /path``), in every reference to them, so reports
    speak the spec's names; an id that would clash with another is kept."""
    renames: dict[str, str] = {}
    taken = set(tset.templates)
    for tid, tpl in tset.templates.items():
        wanted = tpl.label if _PARAM.sub("{}", tid) == _PARAM.sub("{}", tpl.label) else tid  # an id with an origin stays
        if wanted != tid and wanted not in taken:
            renames[tid] = wanted
            taken.add(wanted)
    if not renames:
        return
    tset.templates = {renames.get(tid, tid): tpl for tid, tpl in tset.templates.items()}
    for tpl in tset.templates.values():
        tpl.id = renames.get(tpl.id, tpl.id)
        for c in tpl.consumes:
            c.producer = renames.get(c.producer, c.producer)
        for hint in tpl.cross_session:
            hint.producer = renames.get(hint.producer, hint.producer)
    for steps in tset.sessions.values():
        for step in steps:
            step.template = renames.get(step.template, step.template)
