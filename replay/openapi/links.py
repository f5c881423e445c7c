"""OpenAPI ``links`` from the value bindings: which answer's field feeds which request's parameter.

A binding ``GET /orders/{order_id}`` path:order_id <- ``POST /orders`` body:$.id becomes, on the
create's success answers, a link to the read with ``order_id: $response.body#/id``. Only bindings a
runtime expression can state are linked: the value as it was answered (transform ``identity``), read
from the body or a header, into a path, query or header parameter or a field of a JSON body.
Credentials (``bearer``, ``basic``) are the security schemes' business; a value cut out of a URL
(``url-segment``) or reformatted has no expression and is left out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate, Consumption
from venom_replay.proxy.infer.values import parse_json_path
from venom_replay.proxy.redact import is_secret_header

Links = dict[str, dict[str, Any]]
"""Link name -> OpenAPI link object."""


def source_expression(source: str) -> str | None:
    """``body:$.items[*].id`` -> ``$response.body#/items/0/id`` (an item stands for any), ``header:X`` ->
    ``$response.header.X``; None for what an expression cannot read (cookies, request values)."""
    kind, _, where = source.partition(":")
    if kind == "header":
        return f"$response.header.{where}"
    if kind != "body":
        return None
    try:
        parts = parse_json_path(where)
    except ValueError:
        return None
    pointer = "".join("/" + ("0" if p == "*" else str(p).replace("~", "~0").replace("/", "~1")) for p in parts)
    return f"$response.body#{pointer}"


def _target(consumption: Consumption) -> tuple[str, Any] | None:
    """("parameter" | "body", name or JSON body path) for where the value goes, or None."""
    kind, _, where = consumption.location.partition(":")
    if kind in ("path", "query"):
        return "parameter", where
    if kind == "header" and not is_secret_header(where):
        return "parameter", where
    if kind == "body":
        try:
            keys = parse_json_path(where)
        except ValueError:
            return None
        if keys and all(isinstance(k, str) and k != "*" for k in keys):
            return "body", keys
    return None


def _set_nested(body: dict[str, Any], keys: list[str], value: str) -> None:
    for key in keys[:-1]:
        nested = body.setdefault(key, {})
        if not isinstance(nested, dict):
            return
        body = nested
    body[keys[-1]] = value


def links_by_producer(templates: dict[str, ActionTemplate], operation_ids: dict[str, str]) -> dict[str, Links]:
    """Producer template id -> the links its success answers carry."""
    out: dict[str, Links] = defaultdict(dict)
    for consumer in templates.values():
        for c in consumer.consumes:
            if c.transform != "identity" or c.producer not in templates:
                continue
            expression = source_expression(c.source)
            target = _target(c)
            if expression is None or target is None:
                continue
            name = operation_ids[consumer.id]
            link = out[c.producer].setdefault(name, {
                "operationId": name,
                "description": f"{consumer.label} takes values that {templates[c.producer].label} answered.",
            })
            kind, where = target
            if kind == "parameter":
                link.setdefault("parameters", {})[where] = expression
            else:
                _set_nested(link.setdefault("requestBody", {}), where, expression)
    return dict(out)
