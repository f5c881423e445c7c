"""Templates for the spec's operations that the recording never called, marked ``from spec``.

A spec template has no recorded exchange (``count == 0``). Its one example request is built from the
spec (examples, defaults, learned values: values.py) and borrows the headers of the recorded template
nearest in path, so it carries the same kind of credentials; bindings.py then binds its parameters.
"""

from __future__ import annotations

import json

from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.openapi_input.load import Operation
from venom_replay.proxy.infer.openapi_input.values import (
    LearnedValues,
    body_for,
    value_for,
)
from venom_replay.proxy.recording import Request

_NOT_BORROWED = frozenset({"content-length", "host", "content-type", "if-match", "if-none-match", "idempotency-key"})


def is_from_spec(template: ActionTemplate) -> bool:
    """A template made from the spec alone: no recorded call behind it."""
    return template.count == 0 and not template.exchange_seqs


def neighbour(op: Operation, tset: TemplateSet) -> ActionTemplate | None:
    """The recorded template whose path shares the longest prefix with the operation's (same method preferred)."""
    want = [s for s in op.path.split("/") if s]

    def common(tpl: ActionTemplate) -> tuple[int, bool, int]:
        have = [s for s in tpl.path.split("/") if s]
        n = 0
        for a, b in zip(want, have):
            if a != b and not (a.startswith("{") and b.startswith("{")):
                break
            n += 1
        return n, tpl.method == op.method, tpl.count

    recorded = [t for t in tset.templates.values() if t.count and t.example_request is not None]
    return max(recorded, key=common, default=None)


def _effect(op: Operation) -> str:
    last = op.path.rstrip("/").rsplit("/", 1)[-1]
    if op.method == "GET":
        return "read"
    if op.method == "DELETE":
        return "delete"
    if op.method == "POST" and not last.startswith("{") and op.path.count("{") == 0:
        return "create"
    if op.method in ("PUT", "PATCH") and last.startswith("{"):
        return "update"
    return "action"


def synthesize(op: Operation, tset: TemplateSet, learned: LearnedValues, near: ActionTemplate | None) -> ActionTemplate:
    """A template for ``op``, its example request built from the spec."""
    path = op.path
    for p in op.params_in("path"):
        path = path.replace(f"{{{p.name}}}", str(value_for(p.name, p.schema, learned, p.example)))
    query = [(p.name, str(value_for(p.name, p.schema, learned, p.example))) for p in op.params_in("query")
             if p.required or p.example is not None or "default" in p.schema]
    headers = [(k, v) for k, v in (near.example_request.headers if near and near.example_request else []) if k.lower() not in _NOT_BORROWED]
    headers += [(p.name, str(value_for(p.name, p.schema, learned, p.example))) for p in op.params_in("header") if p.required]
    body = b""
    if op.body_schema is not None:
        data = op.body_example if op.body_example is not None else body_for(op.body_schema, learned)
        body = json.dumps(data).encode()
        headers.append(("Content-Type", "application/json"))
    scheme, host, port = (near.scheme, near.host, near.port) if near else ("http", "", 80)
    req = Request(op.method, scheme, host, port, path, query=query, headers=headers, body=body, body_size=len(body))
    tid = op.label if op.label not in tset.templates else f"{op.label} (spec)"
    return ActionTemplate(id=tid, method=op.method, path=op.path, scheme=scheme, host=host, port=port, count=0,
                          effect=_effect(op), example_request=req, example_requests=[req])  # type: ignore[arg-type]
