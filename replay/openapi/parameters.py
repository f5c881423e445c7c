"""Path, query and header parameters of an operation, from its template and recorded requests."""

from __future__ import annotations

import re
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.infer.response_shape import MIN_REQUIRED_SUPPORT
from venom_replay.proxy.recording import Request
from venom_replay.proxy.redact import is_secret_field, is_secret_header, mask_value

_INTEGER = re.compile(r"-?\d{1,18}")


def path_values(template: ActionTemplate, req: Request) -> dict[str, str]:
    """Path parameter -> the value this request had there (empty when the path does not line up)."""
    pattern = template.path.strip("/").split("/")
    actual = req.path.split("?")[0].strip("/").split("/")
    if len(pattern) != len(actual):
        return {}
    return {p[1:-1]: a for p, a in zip(pattern, actual) if p.startswith("{") and p.endswith("}")}


def value_schema(values: list[str]) -> dict[str, Any]:
    """``integer`` when every recorded value was one, else ``string``: never an enum (clients chose them)."""
    return {"type": "integer"} if values and all(_INTEGER.fullmatch(v) for v in values) else {"type": "string"}


def _example(values: list[str], secret: bool) -> Any:
    if not values:
        return None
    if secret:
        return mask_value(values[0])
    return int(values[0]) if all(_INTEGER.fullmatch(v) for v in values) else values[0]


def _parameter(name: str, where: str, values: list[str], required: bool, secret: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": value_schema(values)}
    example = _example(values, secret)
    if example is not None:
        out["example"] = example
    return out


def operation_parameters(template: ActionTemplate, requests: list[Request]) -> list[dict[str, Any]]:
    """The parameters of one operation. Path parameters are always required (OpenAPI says so); a
    query parameter or header is required only when every recorded call, and enough of them, had it."""
    params: list[dict[str, Any]] = []
    for name in template.params:
        values = [v for req in requests if (v := path_values(template, req).get(name)) is not None]
        params.append(_parameter(name, "path", values, True, False))
    total = len(requests)
    query: dict[str, list[str]] = {}
    for req in requests:
        for name, value in req.query:
            query.setdefault(name, []).append(value)
    for name, values in query.items():
        present = sum(1 for req in requests if any(k == name for k, _ in req.query))
        params.append(_parameter(name, "query", values, present == total >= MIN_REQUIRED_SUPPORT, is_secret_field(name)))
    for name in _variant_headers(template):
        values = [v for req in requests if (v := req.header(name)) is not None]
        present = sum(1 for req in requests if req.header(name) is not None)
        params.append(_parameter(name, "header", values, present == total >= MIN_REQUIRED_SUPPORT, False))
    return params


_NOT_PARAMETERS = frozenset({"accept", "content-type", "content-length", "authorization"})


def _variant_headers(template: ActionTemplate) -> list[str]:
    """Headers the inference kept as parts of a request shape (If-Match, a custom header), minus
    credentials (security schemes describe those) and the ones OpenAPI describes elsewhere."""
    names: dict[str, str] = {}
    for variant in template.variants:
        for part in variant.parts:
            kind, _, where = part.partition(":")
            name = where.partition("=")[0]
            if kind == "header" and name.lower() not in _NOT_PARAMETERS and not is_secret_header(name):
                names.setdefault(name.lower(), name)
    return list(names.values())
