"""Turning mitmproxy HTTP flows into recorded exchanges.

Shared by the live recording addon and the importer of `mitmdump -w` flow dumps, so a flow is
recorded the same way whether it passed through our proxy or was saved by someone else's.
"""

from __future__ import annotations

import time
from typing import Any

from mitmproxy import http

from venom_replay.proxy.recording import Exchange, Request, Response

DEFAULT_BODY_CAP = 1 << 20  # 1 MiB per body: enough for API payloads, bounded for file downloads


def capped_body(message: http.Message, cap: int | None) -> tuple[bytes, bool, int, dict[str, Any]]:
    """(body, truncated, full size, notes) with Content-Encoding removed and the cap applied.

    A body whose encoding cannot be decoded is kept as it came over the wire and marked, so
    nothing is lost; a streamed body (mitmproxy did not buffer it) is empty and marked.
    """
    notes: dict[str, Any] = {}
    if message.raw_content is None:
        return b"", False, 0, {"streamed": True}
    body = message.get_content(strict=False) or b""
    encoding = message.headers.get("content-encoding")
    if encoding and body is message.raw_content and encoding.lower() not in ("identity", ""):
        notes["undecoded_encoding"] = encoding
    size = len(body)
    if cap is not None and cap >= 0 and size > cap:
        return bytes(body[:cap]), True, size, notes
    return bytes(body), False, size, notes


def split_path(path: str) -> str:
    """The path without its query string (the query is stored as pairs)."""
    return path.split("?", 1)[0]


def _message_fields(message: http.Message, cap: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the fields a recorded request and response share, notes): headers as sent, the capped body."""
    body, truncated, size, notes = capped_body(message, cap)
    fields = {
        "headers": [(k, v) for k, v in message.headers.items(multi=True)],
        "body": body,
        "body_truncated": truncated,
        "body_size": size,
        "http_version": message.http_version,
    }
    return fields, notes


def request_from_flow(flow: http.HTTPFlow, cap: int | None) -> tuple[Request, dict[str, Any]]:
    req = flow.request
    fields, notes = _message_fields(req, cap)
    query = [(k, v) for k, v in req.query.items(multi=True)]
    return Request(method=req.method, scheme=req.scheme, host=req.host, port=req.port, path=split_path(req.path), query=query, **fields), notes


def response_from_flow(flow: http.HTTPFlow, cap: int | None) -> tuple[Response | None, dict[str, Any]]:
    resp = flow.response
    if resp is None:
        return None, {}
    fields, notes = _message_fields(resp, cap)
    return Response(status=resp.status_code, reason=resp.reason, **fields), notes


def exchange_from_flow(flow: http.HTTPFlow, *, session: str, cap: int | None = DEFAULT_BODY_CAP, seq: int = 0) -> Exchange:
    """One exchange for a finished (or failed) HTTP flow; ``seq=0`` lets the writer number it."""
    request, req_notes = request_from_flow(flow, cap)
    response, resp_notes = response_from_flow(flow, cap)
    started = flow.request.timestamp_start or time.time()
    if flow.response is not None and flow.response.timestamp_end:
        ended = flow.response.timestamp_end
    elif flow.error is not None and flow.error.timestamp:
        ended = flow.error.timestamp
    else:
        ended = time.time()
    meta: dict[str, Any] = {}
    if req_notes:
        meta["request_notes"] = req_notes
    if resp_notes:
        meta["response_notes"] = resp_notes
    if flow.websocket is not None:
        meta["websocket"] = True
    return Exchange(
        seq=seq,
        session=session,
        started=started,
        ended=ended,
        request=request,
        response=response,
        error=flow.error.msg if flow.error is not None else None,
        meta=meta,
    )
