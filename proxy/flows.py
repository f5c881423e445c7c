"""Turning mitmproxy HTTP flows into recorded exchanges.

Shared by the live recording addon and the importer of `mitmdump -w` flow dumps, so a flow is
recorded the same way whether it passed through our proxy or was saved by someone else's.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from typing import Any

from mitmproxy import http

from venom_replay.proxy.recording import Exchange, Request, Response

DEFAULT_BODY_CAP = 1 << 20  # 1 MiB per body: enough for API payloads, bounded for file downloads


def capped_body(message: http.Message, cap: int | None) -> tuple[bytes, bool, int, dict[str, Any]]:
    """(body, truncated, full size, notes) with Content-Encoding removed and the cap applied.

    Compressed bodies are decoded chunk by chunk and only the first ``cap`` bytes are kept, so a
    200 MB answer that compresses to little costs the recorder ``cap`` bytes, not 200 MB; the full
    size is still counted. A body whose encoding cannot be decoded is kept as it came over the wire
    and marked, so nothing is lost; a streamed body (mitmproxy did not buffer it) is empty and marked.
    """
    notes: dict[str, Any] = {}
    raw = message.raw_content
    if raw is None:
        return b"", False, 0, {"streamed": True}
    encoding = (message.headers.get("content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        return (*_cap(raw, len(raw), cap), notes)
    chunks = _decoded_chunks(encoding, raw)
    if chunks is None:  # an encoding we cannot stream: let mitmproxy try, as before
        body = message.get_content(strict=False) or b""
        if body is raw:
            notes["undecoded_encoding"] = encoding
        return (*_cap(body, len(body), cap), notes)
    kept = bytearray()
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if cap is None or cap < 0 or len(kept) < cap:
                kept += chunk if cap is None or cap < 0 else chunk[: cap - len(kept)]
    except Exception:  # a corrupt stream: keep the bytes as they came over the wire
        notes["undecoded_encoding"] = encoding
        return (*_cap(raw, len(raw), cap), notes)
    return (*_cap(bytes(kept), size, cap), notes)


def _cap(body: bytes, size: int, cap: int | None) -> tuple[bytes, bool, int]:
    """(the kept bytes, whether the body was cut, its full size)."""
    if cap is not None and cap >= 0 and size > cap:
        return bytes(body[:cap]), True, size
    return bytes(body), False, size


_OUTPUT_STEP = 256 * 1024  # decoded bytes produced at a time (gzip, deflate, zstd)
_BROTLI_INPUT = 64  # brotli has no output limit here: feeding little input at a time bounds each step


def _decoded_chunks(encoding: str, raw: bytes) -> Iterator[bytes] | None:
    """The decoded body in bounded pieces, for the encodings we can decode incrementally (else None)."""
    if encoding in ("gzip", "x-gzip"):
        return _inflate(raw, 47)  # gzip or zlib header, detected
    if encoding == "deflate":
        return _inflate(raw, 47 if raw[:1] == b"\x78" else -15)  # zlib-wrapped, or raw deflate
    if encoding == "br":
        import brotli

        decoder = brotli.Decompressor()
        return (decoder.process(raw[i:i + _BROTLI_INPUT]) for i in range(0, len(raw), _BROTLI_INPUT))
    if encoding == "zstd":
        return _unzstd(raw)
    return None


def _inflate(raw: bytes, wbits: int) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    data = raw
    while data:
        yield inflater.decompress(data, _OUTPUT_STEP)
        data = inflater.unconsumed_tail
    yield inflater.flush()


def _unzstd(raw: bytes) -> Iterator[bytes]:
    import io

    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True) as reader:
        while chunk := reader.read(_OUTPUT_STEP):
            yield chunk


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
