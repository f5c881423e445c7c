"""Request and response body schemas, inferred from the recorded bodies.

The shapes are the inference's (``proxy/infer/response_shape.py``): types hold when a property is
present, and a property is required only where every recorded object had it, with enough support.
"""

from __future__ import annotations

from typing import Any

from venom_replay.proxy.infer.response_shape import ShapeNode
from venom_replay.proxy.recording import Exchange
from venom_replay.replay.openapi.enums import add_enums, collect_strings

JSON = "application/json"


def media_type(headers: list[tuple[str, str]], body: bytes) -> str | None:
    """The body's media type without parameters; None for no body."""
    if not body:
        return None
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    base = ctype.split(";")[0].strip().lower()
    if "json" in base or (not base and body[:1] in (b"{", b"[")):
        return JSON
    return base or "application/octet-stream"


def body_schema(bodies: list[Any]) -> dict[str, Any] | None:
    """A schema every one of ``bodies`` satisfies (the dialect is the document's: no ``$schema``)."""
    if not bodies:
        return None
    node = ShapeNode()
    for body in bodies:
        node.add(body)
    return node.schema() if node.types else None


def request_schema(exchanges: list[Exchange]) -> tuple[str, dict[str, Any]] | None:
    """(media type, schema) of the requests' bodies, by the most common media type."""
    kinds: dict[str, list[Exchange]] = {}
    for ex in exchanges:
        kind = media_type(ex.request.headers, ex.request.body)
        if kind:
            kinds.setdefault(kind, []).append(ex)
    if not kinds:
        return None
    kind, chosen = max(kinds.items(), key=lambda item: len(item[1]))
    if kind != JSON:
        return kind, {}
    schema = body_schema([b for ex in chosen if (b := ex.request.json()) is not None])
    return (kind, schema) if schema is not None else None


def response_schema(exchanges: list[Exchange], sent_by_clients: set[str], answered: dict[str, set[str]]
                    ) -> tuple[str, dict[str, Any]] | None:
    """(media type, schema) of the answers of one status, with the enums that are safe.
    ``answered``: property name -> every string any answer of the recording had under it."""
    responses = [ex.response for ex in exchanges if ex.response is not None and ex.response.body]
    if not responses:
        return None
    kind = media_type(responses[0].headers, responses[0].body) or JSON
    if kind != JSON:
        return kind, {}
    bodies = [b for resp in responses if (b := resp.json()) is not None]
    schema = body_schema(bodies)
    if schema is None:
        return None
    add_enums(schema, collect_strings(bodies), sent_by_clients, answered)
    return kind, schema
