"""The OpenAPI 3.1 document: paths and operations assembled from the parts the other modules learn."""

from __future__ import annotations

from collections import defaultdict
from http import HTTPStatus
from pathlib import Path
from typing import Any

from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange
from venom_replay.replay.openapi.enums import client_strings, strings_by_key
from venom_replay.replay.openapi.examples import request_example, response_example
from venom_replay.replay.openapi.links import Links, links_by_producer
from venom_replay.replay.openapi.naming import operation_ids
from venom_replay.replay.openapi.observations import (
    TemplateTraffic,
    traffic_by_template,
)
from venom_replay.replay.openapi.parameters import operation_parameters
from venom_replay.replay.openapi.schemas import request_schema, response_schema
from venom_replay.replay.openapi.security import operation_security

OPENAPI_VERSION = "3.1.0"


def build_document(tset: TemplateSet, exchanges: list[Exchange], *, title: str = "", version: str = "1.0.0") -> dict[str, Any]:
    """The document for ``tset``, learned from the recorded ``exchanges`` it came from."""
    traffic = traffic_by_template(tset.templates.values(), exchanges)
    ids = operation_ids(tset.templates.values())
    links = links_by_producer(tset.templates, ids)
    sent = client_strings(b for ex in exchanges if (b := ex.request.json()) is not None)
    answered = strings_by_key(b for ex in exchanges if ex.response is not None and (b := ex.response.json()) is not None)
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    schemes: dict[str, dict[str, Any]] = {}
    for t in tset.templates.values():
        operation, used = _operation(traffic[t.id], ids[t.id], links.get(t.id, {}), (sent, answered))
        paths[t.path][t.method.lower()] = operation
        schemes.update(used)
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title or f"API learned from {Path(tset.source).name or 'a recording'}",
            "version": version,
            "description": "Learned by venom-replay from recorded traffic: it describes what the recording showed, "
                           "not everything the API accepts.",
        },
        "servers": [{"url": u} for u in dict.fromkeys(t.origin for t in tset.templates.values())],
        "paths": {p: paths[p] for p in sorted(paths)},
    }
    if schemes:
        doc["components"] = {"securitySchemes": {k: schemes[k] for k in sorted(schemes)}}
    return doc


Strings = tuple[set[str], dict[str, set[str]]]
"""What the clients sent, and what every answer had under each property name (for enums)."""


def _operation(traffic: TemplateTraffic, op_id: str, links: Links, strings: Strings) -> tuple[dict[str, Any], dict[str, Any]]:
    t = traffic.template
    requests = [ex.request for ex in traffic.exchanges]
    security, schemes = operation_security(requests)
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": t.label,
        "description": f"Seen {t.count} times in {t.sessions} recorded sessions ({t.effect}).",
    }
    parameters = operation_parameters(t, requests)
    if parameters:
        op["parameters"] = parameters
    body = _request_body(traffic)
    if body:
        op["requestBody"] = body
    op["responses"] = _responses(traffic, links, strings)
    # Always written: an empty list says the recorded calls carried no credentials.
    op["security"] = security
    return op, schemes


def _request_body(traffic: TemplateTraffic) -> dict[str, Any] | None:
    learned = request_schema(traffic.exchanges)
    if learned is None:
        return None
    kind, schema = learned
    media: dict[str, Any] = {"schema": schema}
    example = request_example([ex.request for ex in traffic.exchanges])
    if example is not None and kind.endswith("json"):
        media["example"] = example
    with_body = sum(1 for ex in traffic.exchanges if ex.request.body)
    return {"required": with_body == len(traffic.exchanges), "content": {kind: media}}


def _responses(traffic: TemplateTraffic, links: Links, strings: Strings) -> dict[str, Any]:
    by_status: dict[int, list[Exchange]] = defaultdict(list)
    for ex in traffic.answered:
        by_status[ex.response.status].append(ex)  # type: ignore[union-attr]
    statuses = sorted(by_status) or sorted(traffic.template.statuses)
    out: dict[str, Any] = {}
    for status in statuses:
        answer: dict[str, Any] = {"description": _reason(status, by_status.get(status, []))}
        learned = response_schema(by_status.get(status, []), *strings)
        if learned is not None:
            kind, schema = learned
            media: dict[str, Any] = {"schema": schema}
            example = response_example([ex.response for ex in by_status[status] if ex.response is not None])
            if example is not None and kind.endswith("json"):
                media["example"] = example
            answer["content"] = {kind: media}
        if links and 200 <= status < 300:
            answer["links"] = links
        out[str(status)] = answer
    if not out:
        out["default"] = {"description": "No answer was recorded."}
    return out


def _reason(status: int, exchanges: list[Exchange]) -> str:
    recorded = next((ex.response.reason for ex in exchanges if ex.response is not None and ex.response.reason), "")
    if recorded:
        return recorded
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"
