"""Importing traffic recorded by other tools: HAR files and mitmproxy flow dumps.

- HAR (browser devtools "Save all as HAR", Playwright's ``record_har_path``): bodies may be plain
  text or base64; each page (``pageref``) becomes a session, entries without a page share one.
- mitmproxy flow dumps (``mitmdump -w``): read with mitmproxy's own FlowReader and converted the
  same way the live addon converts flows; sessions follow client connections.
- A venom-replay recording can be copied too, which is how ``--redact`` exports are made.

The kind is detected from the content, not the file name. Exchanges are written as they are
read, so a large flow dump is never held in memory.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from venom_replay.proxy.errors import RecordingError
from venom_replay.proxy.flows import DEFAULT_BODY_CAP
from venom_replay.proxy.recording import (
    FORMAT_NAME,
    Exchange,
    Note,
    RecordingWriter,
    Request,
    Response,
    read_recording,
)
from venom_replay.proxy.redact import redact_exchange

KINDS = ("har", "mitmproxy", "vrec")


@dataclass
class ImportResult:
    kind: str
    exchanges: int = 0
    sessions: set[str] = field(default_factory=set)
    notes: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per input item that could not become an exchange (also written as notes)."""


# ---------------------------------------------------------------- detection


def detect_kind(path: Path) -> str:
    """'har', 'mitmproxy' or 'vrec' from the first bytes; a one-line error for anything else."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RecordingError(f"{path}: is a directory, expected a HAR file or a mitmproxy flow dump") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror})") from None
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"{"):
        return "har"
    if FORMAT_NAME.encode() in head or (head[:1] and 0x80 <= head[0] <= 0x8F and b"header" in head):
        return "vrec"
    # A tnetstring starts with its length in ASCII digits and a colon: "1234:".
    digits, colon, _ = head.partition(b":")
    if colon and digits.isdigit():
        return "mitmproxy"
    what = "an empty file" if not head else "not a HAR file, a mitmproxy flow dump or a venom-replay recording"
    raise RecordingError(f"{path}: {what} (expected HAR JSON with log.entries, or a `mitmdump -w` dump)")


# ---------------------------------------------------------------- writing


def write_exchanges(
    out: str | os.PathLike[str],
    exchanges: Iterable[Exchange],
    *,
    notes: Iterable[Note] = (),
    target: str | None = None,
    redact: bool = False,
    source: str = "",
    tool: str = "venom-replay import",
    body_cap: int | None = None,
    result: ImportResult | None = None,
) -> int:
    """Write exchanges (and notes) to a new recording; returns how many exchanges were written.

    A half-written output is removed when reading the input fails, so a failed import leaves
    nothing that looks like a recording.
    """
    out = Path(out)
    meta = {"source": source, "redacted": redact}
    written = 0
    writer = RecordingWriter(out, target=target, tool=tool, meta=meta)
    try:
        with writer:
            for ex in exchanges:
                if body_cap is not None:
                    _cap_bodies(ex, body_cap)
                writer.write_exchange(redact_exchange(ex) if redact else ex)
                written += 1
                if result is not None:
                    result.exchanges += 1
                    result.sessions.add(ex.session)
            for note in notes:
                writer.write_note(note.kind, **note.detail)
                if result is not None:
                    result.notes += 1
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return written


def _cap_bodies(ex: Exchange, cap: int) -> None:
    for msg in (ex.request, ex.response):
        if msg is not None and cap >= 0 and len(msg.body) > cap:
            msg.body_size = max(msg.body_size, len(msg.body))
            msg.body = msg.body[:cap]
            msg.body_truncated = True


def import_file(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    kind: str | None = None,
    redact: bool = False,
    body_cap: int | None = DEFAULT_BODY_CAP,
) -> ImportResult:
    """Convert a HAR file, a mitmproxy flow dump or a recording into a new recording at ``out``."""
    src = Path(src)
    kind = kind or detect_kind(src)
    if kind not in KINDS:
        raise RecordingError(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
    if Path(out).exists():
        raise RecordingError(f"{out}: file exists; choose another output file")
    result = ImportResult(kind=kind)
    notes: list[Note] = []
    target: str | None = None
    if kind == "har":
        exchanges: Iterable[Exchange] = iter_har(src, result, notes)
    elif kind == "mitmproxy":
        exchanges = iter_flow_dump(src, result, notes)
    else:
        rec = read_recording(src)
        exchanges, notes, target = rec.exchanges, list(rec.notes), rec.header.target
        body_cap = None  # already capped when it was recorded
    # The readers fill `notes` while exchanges stream; the writer takes notes after the exchanges.
    write_exchanges(out, exchanges, notes=notes, target=target, redact=redact, source=str(src), body_cap=body_cap, result=result)
    return result


# ---------------------------------------------------------------- HAR


def _har_time(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _har_headers(raw: Any) -> list[tuple[str, str]]:
    # HTTP/2 HARs list pseudo-headers (":authority"); they are not headers a client sends.
    return [(str(h["name"]), str(h.get("value", ""))) for h in raw or () if not str(h.get("name", "")).startswith(":")]


def _har_body(content: dict[str, Any] | None, where: str, size: Any = None) -> bytes:
    if not content:
        return b""
    text = content.get("text")
    if text is None:
        return b""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where} is marked base64 but does not decode") from None
    text = str(text)
    body = text.encode("utf-8")
    size = content.get("size", size)
    if isinstance(size, int) and size == len(text) != len(body):
        # Binary stored as one character per byte (mitmproxy's hardump does this): keep the bytes.
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return body


def _har_request(entry: dict[str, Any]) -> Request:
    raw = entry["request"]
    url = urlsplit(raw["url"])
    if not url.scheme or not url.hostname:
        raise ValueError(f"request.url {raw['url']!r} is not an absolute URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    post = raw.get("postData") or {}
    body = _har_body(post, "request.postData", raw.get("bodySize"))
    if not body and post.get("params"):
        from urllib.parse import urlencode

        body = urlencode([(p["name"], p.get("value", "")) for p in post["params"]]).encode()
    return Request(
        method=str(raw["method"]).upper(),
        scheme=url.scheme,
        host=url.hostname,
        port=port,
        path=url.path or "/",
        # Some tools leave queryString empty; the URL is the authority then.
        query=[(str(q["name"]), str(q.get("value", ""))) for q in raw.get("queryString") or ()]
        or parse_qsl(url.query, keep_blank_values=True),
        headers=_har_headers(raw.get("headers")),
        body=body,
        body_size=len(body),
        http_version=_http_version(raw.get("httpVersion")),
    )


def _http_version(text: Any) -> str:
    text = str(text or "HTTP/1.1")
    if text.lower() in ("h2", "http/2", "http/2.0"):
        return "HTTP/2.0"
    if text.lower() in ("h3", "http/3", "http/3.0"):
        return "HTTP/3"
    return text.upper()


def _har_exchange(entry: dict[str, Any], page_names: dict[str, str]) -> Exchange:
    request = _har_request(entry)
    raw = entry.get("response") or {}
    status = int(raw.get("status") or 0)
    started = _har_time(entry.get("startedDateTime"))
    ended = started + max(float(entry.get("time") or 0.0), 0.0) / 1000.0
    response = None
    error = None
    if status > 0:
        body = _har_body(raw.get("content"), "response.content")
        response = Response(
            status=status,
            reason=str(raw.get("statusText") or ""),
            headers=_har_headers(raw.get("headers")),
            body=body,
            body_size=len(body),
            http_version=_http_version(raw.get("httpVersion")),
        )
    else:
        # Browsers write status 0 for requests that failed or were blocked.
        error = str(raw.get("_error") or raw.get("_failureText") or "no response (status 0 in the HAR)")
    page = entry.get("pageref")
    if page:
        session = page_names.setdefault(page, f"page-{len(page_names) + 1}")
    elif entry.get("connection"):
        session = f"conn-{entry['connection']}"
    else:
        session = "har"
    return Exchange(seq=0, session=session, started=started, ended=ended, request=request, response=response, error=error, meta={"imported": "har"})


def iter_har(path: Path, result: ImportResult, notes: list[Note]) -> Iterator[Exchange]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise RecordingError(f"{path}: not UTF-8 text, so not a HAR file") from None
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected a HAR file") from None
    entries = data.get("log", {}).get("entries") if isinstance(data, dict) and isinstance(data.get("log"), dict) else None
    if not isinstance(entries, list):
        raise RecordingError(f"{path}: JSON but not a HAR file (expected an object with log.entries)")
    # Pages are numbered in the order the HAR lists them, so sessions read page-1, page-2, ...
    page_names: dict[str, str] = {}
    for page in data["log"].get("pages") or ():
        if isinstance(page, dict) and page.get("id"):
            page_names.setdefault(page["id"], f"page-{len(page_names) + 1}")
    ordered = sorted(enumerate(entries), key=lambda ie: (_har_time(ie[1].get("startedDateTime")) if isinstance(ie[1], dict) else 0.0, ie[0]))
    for index, entry in ordered:
        try:
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            yield _har_exchange(entry, page_names)
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            result.skipped.append(f"entry {index}: {reason}")
            notes.append(Note(kind="import_skipped", time=0.0, detail={"source": "har", "entry": index, "reason": reason}))


# ---------------------------------------------------------------- mitmproxy flow dumps


def iter_flow_dump(path: Path, result: ImportResult, notes: list[Note]) -> Iterator[Exchange]:
    from mitmproxy import exceptions, http
    from mitmproxy.io import FlowReader

    from venom_replay.proxy.flows import exchange_from_flow

    conn_sessions: dict[str, str] = {}
    count = 0
    with open(path, "rb") as fh:
        flows = iter(FlowReader(fh).stream())
        while True:
            try:
                flow = next(flows)
            except StopIteration:
                return
            except (exceptions.FlowReadException, AttributeError, KeyError, TypeError, ValueError) as exc:
                # mitmproxy raises several kinds of errors for damaged dumps; all mean the same here.
                where = f"after {count} flows" if count else "at the start"
                raise RecordingError(f"{path}: not a readable mitmproxy flow dump ({where}: {str(exc) or type(exc).__name__})") from None
            count += 1
            if not isinstance(flow, http.HTTPFlow):
                kind = type(flow).__name__.removesuffix("Flow").lower()
                notes.append(Note(kind=kind, time=flow.timestamp_created, detail={"reason": f"{kind} flow in the dump", "index": count}))
                continue
            session = conn_sessions.setdefault(flow.client_conn.id, f"conn-{len(conn_sessions) + 1}")
            if flow.websocket is not None:
                notes.append(
                    Note(
                        kind="websocket",
                        time=flow.timestamp_created,
                        detail={"url": flow.request.pretty_url, "session": session, "messages": len(flow.websocket.messages)},
                    )
                )
            ex = exchange_from_flow(flow, session=session, cap=None)
            ex.meta["imported"] = "mitmproxy"
            yield ex
