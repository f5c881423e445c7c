"""The recording format: an append-only msgpack stream, the source of truth for everything else.

A recording is one file holding a stream of msgpack maps, each with a "type":

- ``header`` (first, exactly once): ``format`` = "venom-replay-recording", ``version``, ``created``
  (unix time), ``target`` (the URL recorded in front of, or null), ``tool`` and free ``meta``.
- ``exchange``: one HTTP exchange: ``seq`` (per file, increasing), ``session``, ``started``/``ended``
  (unix time), ``request``, ``response`` (null when the exchange failed) and ``error``.
- ``note``: something seen but not recorded as an exchange (a websocket message, an unsupported
  protocol), with a ``kind`` and free ``detail``; summaries count them.

Bodies are stored decoded (gzip/deflate/br/zstd removed), as msgpack bin; the headers are kept as
they were on the wire, Content-Encoding included. A body longer than the cap is cut and marked
``body_truncated`` with its full ``body_size``.

Each record is written with one ``write`` on an O_APPEND descriptor, so a writer killed with SIGKILL
loses at most the record in flight. The reader returns every complete record and says where a torn
tail starts instead of failing. A damaged stretch in the middle (a disk error, a bad copy) is skipped:
the reader finds the next record that decodes whole and goes on, and reports the stretch (offset,
bytes), so one bad byte never costs the records after it. Files are created with mode 0600: they
hold cookies and tokens.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from venom_replay.proxy.errors import RecordingError

FORMAT_NAME = "venom-replay-recording"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})

Pairs = list[tuple[str, str]]


def _get_header(headers: Pairs, name: str) -> str | None:
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def _get_all(headers: Pairs, name: str) -> list[str]:
    lname = name.lower()
    return [value for key, value in headers if key.lower() == lname]


def _parse_json(headers: Pairs, body: bytes) -> Any:
    """The JSON value of a body, or None when it is empty, not JSON, or truncated."""
    if not body:
        return None
    ctype = (_get_header(headers, "content-type") or "").lower()
    if "json" not in ctype and body[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def origin_url(scheme: str, host: str, port: int) -> str:
    """``http://api`` on the scheme's default port, else ``http://api:8080``."""
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}"


class _Message:
    """What a request and a response share: reading their headers and their JSON body."""

    __slots__ = ()
    headers: Pairs
    body: bytes
    body_truncated: bool

    def header(self, name: str) -> str | None:
        return _get_header(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        return _get_all(self.headers, name)

    def json(self) -> Any:
        return None if self.body_truncated else _parse_json(self.headers, self.body)


@dataclass(slots=True)
class Request(_Message):
    method: str
    scheme: str
    host: str
    port: int
    path: str
    query: Pairs = field(default_factory=list)
    headers: Pairs = field(default_factory=list)
    body: bytes = b""
    body_truncated: bool = False
    body_size: int = 0
    http_version: str = "HTTP/1.1"

    @property
    def url(self) -> str:
        from urllib.parse import urlencode

        query = f"?{urlencode(self.query)}" if self.query else ""
        return f"{origin_url(self.scheme, self.host, self.port)}{self.path}{query}"


@dataclass(slots=True)
class Response(_Message):
    status: int
    reason: str = ""
    headers: Pairs = field(default_factory=list)
    body: bytes = b""
    body_truncated: bool = False
    body_size: int = 0
    http_version: str = "HTTP/1.1"


@dataclass(slots=True)
class Exchange:
    seq: int
    session: str
    started: float
    ended: float
    request: Request
    response: Response | None = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Header:
    format: str
    version: int
    created: float
    target: str | None = None
    tool: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Note:
    kind: str
    time: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Recording:
    path: Path
    header: Header
    exchanges: list[Exchange]
    notes: list[Note]
    complete_records: int
    """Records read whole, the header included."""
    torn_tail: bool
    torn_offset: int | None
    """Byte offset where the unreadable tail starts, when there is one."""
    file_size: int
    skipped: list[tuple[int, int]] = field(default_factory=list)
    """Damaged stretches before the last good record: (byte offset, length), skipped by the reader."""

    def problems(self) -> list[str]:
        """One line per thing a user must know about this file's integrity (empty when whole)."""
        out = [f"{self.path}: skipped {length} unreadable bytes at offset {offset} (a damaged record; "
               f"the records after it were read)" for offset, length in self.skipped]
        if self.torn_tail:
            out.append(f"{self.path}: the last {self.file_size - (self.torn_offset or 0)} bytes (from offset "
                       f"{self.torn_offset}) are an incomplete record, as a recorder killed mid-write leaves")
        return out

    @property
    def sessions(self) -> list[str]:
        """Session ids in order of first appearance."""
        return list(dict.fromkeys(ex.session for ex in self.exchanges))


# ---------------------------------------------------------------- encoding


def _message_to_map(msg: Request | Response) -> dict[str, Any]:
    """The fields a request and a response share: headers and body."""
    return {
        "headers": [list(p) for p in msg.headers],
        "body": bytes(msg.body),
        "body_truncated": msg.body_truncated,
        "body_size": msg.body_size or len(msg.body),
        "http_version": msg.http_version,
    }


def _request_to_map(req: Request) -> dict[str, Any]:
    return {
        "method": req.method,
        "scheme": req.scheme,
        "host": req.host,
        "port": req.port,
        "path": req.path,
        "query": [list(p) for p in req.query],
        **_message_to_map(req),
    }


def _response_to_map(resp: Response) -> dict[str, Any]:
    return {"status": resp.status, "reason": resp.reason, **_message_to_map(resp)}


def exchange_to_map(ex: Exchange) -> dict[str, Any]:
    return {
        "type": "exchange",
        "seq": ex.seq,
        "session": ex.session,
        "started": ex.started,
        "ended": ex.ended,
        "request": _request_to_map(ex.request),
        "response": None if ex.response is None else _response_to_map(ex.response),
        "error": ex.error,
        "meta": ex.meta,
    }


def _pairs(raw: Any) -> Pairs:
    # The reader unpacks arrays as tuples, so each pair is already a (str, str) tuple.
    return list(raw)


def _message_from_map(m: dict[str, Any]) -> tuple[Pairs, bytes, bool, int, str]:
    """What a request and a response share, in the order both dataclasses declare it (they end alike):
    (headers, body, body_truncated, body_size, http_version)."""
    return (
        _pairs(m.get("headers") or ()),
        m.get("body") or b"",
        bool(m.get("body_truncated", False)),
        int(m.get("body_size", 0)),
        m.get("http_version", "HTTP/1.1"),
    )


def _request_from_map(m: dict[str, Any]) -> Request:
    return Request(m["method"], m["scheme"], m["host"], int(m["port"]), m["path"], _pairs(m.get("query") or ()), *_message_from_map(m))


def _response_from_map(m: dict[str, Any]) -> Response:
    return Response(int(m["status"]), m.get("reason", ""), *_message_from_map(m))


def exchange_from_map(m: dict[str, Any]) -> Exchange:
    resp = m.get("response")
    return Exchange(
        seq=int(m["seq"]),
        session=str(m["session"]),
        started=float(m["started"]),
        ended=float(m["ended"]),
        request=_request_from_map(m["request"]),
        response=None if resp is None else _response_from_map(resp),
        error=m.get("error"),
        meta=m.get("meta") or {},
    )


# ---------------------------------------------------------------- writing


class RecordingWriter:
    """Appends records to a recording, one ``write`` per record, file mode 0600.

    ``append=False`` refuses to touch an existing file, so a user's recording is never overwritten;
    ``append=True`` continues an existing recording (its header must be readable) and its numbering.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        target: str | None = None,
        tool: str = "venom-replay",
        meta: dict[str, Any] | None = None,
        append: bool = False,
        fsync: bool = False,
    ) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._packer = msgpack.Packer(use_bin_type=True)
        self.exchanges_written = 0
        self.notes_written = 0
        self._next_seq = 1
        exists = self.path.exists()
        if exists and not append:
            raise RecordingError(f"{self.path}: file exists; choose another --out or pass --append to add to it")
        if exists:
            existing = read_recording(self.path)
            if existing.torn_tail:
                # Cut the torn record off so that new records start on a record boundary.
                with open(self.path, "r+b") as fh:
                    fh.truncate(existing.torn_offset)
            if existing.exchanges:
                self._next_seq = max(ex.seq for ex in existing.exchanges) + 1
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (0 if exists else os.O_EXCL)
        self._fd: int | None = os.open(self.path, flags, 0o600)
        if not exists:
            self._write(
                {
                    "type": "header",
                    "format": FORMAT_NAME,
                    "version": FORMAT_VERSION,
                    "created": time.time(),
                    "target": target,
                    "tool": tool,
                    "meta": meta or {},
                }
            )

    def next_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _write(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise RecordingError(f"{self.path}: recording is closed")
        data = self._packer.pack(record)
        written = os.write(self._fd, data)
        while written < len(data):  # a short write is rare, but must not tear a record
            written += os.write(self._fd, data[written:])
        if self._fsync:
            os.fsync(self._fd)

    def write_exchange(self, ex: Exchange) -> None:
        if ex.seq <= 0:
            ex.seq = self.next_seq()
        else:
            self._next_seq = max(self._next_seq, ex.seq + 1)
        self._write(exchange_to_map(ex))
        self.exchanges_written += 1

    def write_note(self, kind: str, **detail: Any) -> None:
        self._write({"type": "note", "kind": kind, "time": time.time(), "detail": detail})
        self.notes_written += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- reading


def _header_from_map(path: Path, first: Any) -> Header:
    if not isinstance(first, dict) or first.get("type") != "header" or first.get("format") != FORMAT_NAME:
        raise RecordingError(
            f"{path}: not a venom-replay recording (expected a msgpack header record with format '{FORMAT_NAME}')"
        )
    version = first.get("version")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise RecordingError(f"{path}: recording format version {version!r} is not supported (this venom-replay reads version {supported})")
    return Header(
        format=first["format"],
        version=int(version),
        created=float(first.get("created") or 0.0),
        target=first.get("target"),
        tool=first.get("tool", ""),
        meta=first.get("meta") or {},
    )


def iter_records(path: str | os.PathLike[str], start: int = 0) -> Iterator[tuple[int, Any]]:
    """Yield ``(end_offset, record)`` for each msgpack object from byte ``start``; stops at the first
    bytes that do not decode (the caller decides whether that is a torn tail or a damaged stretch)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        unpacker = msgpack.Unpacker(fh, raw=False, use_list=False, strict_map_key=False, max_buffer_size=1 << 31)
        while True:
            try:
                obj = unpacker.unpack()
            except msgpack.OutOfData:
                return
            except (ValueError, msgpack.UnpackException, TypeError):
                return
            yield start + unpacker.tell(), obj


# Every record is a map whose first key is "type": a candidate record starts with a map header byte
# followed by the packed key.
_TYPE_KEY = b"\xa4type"
_MAP_HEADERS = frozenset(range(0x80, 0x90)) | {0xDE}


def _decode_record(rec: Any) -> Exchange | Note | None:
    """The exchange or note a decoded object holds, or None when it is not a well-formed record."""
    try:
        kind = rec.get("type") if isinstance(rec, dict) else None
        if kind == "exchange":
            return exchange_from_map(rec)
        if kind == "note":
            return Note(kind=str(rec.get("kind")), time=float(rec.get("time") or 0.0), detail=dict(rec.get("detail") or {}))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


def _next_record_start(path: Path, after: int) -> int | None:
    """The offset of the next byte sequence after ``after`` that decodes as one whole record."""
    with open(path, "rb") as fh:
        fh.seek(after)
        data = fh.read()  # offsets below are relative to ``after``
    pos = 0
    while True:
        pos = data.find(_TYPE_KEY, pos + 1)
        if pos < 0:
            return None
        begin = pos - (3 if pos >= 3 and data[pos - 3] == 0xDE else 1)
        if begin <= 0 or data[begin] not in _MAP_HEADERS:
            continue
        unpacker = msgpack.Unpacker(raw=False, use_list=False, strict_map_key=False, max_buffer_size=1 << 31)
        unpacker.feed(memoryview(data)[begin:])
        try:
            if _decode_record(unpacker.unpack()) is not None:
                return after + begin
        except (ValueError, msgpack.UnpackException, msgpack.OutOfData, TypeError):
            continue


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a whole recording. Raises RecordingError for a file that is not one."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such file") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror})") from None
    if path.is_dir():
        raise RecordingError(f"{path}: is a directory, expected a .vrec recording file")
    records = iter_records(path)
    try:
        first_end, first = next(records)
    except StopIteration:
        raise RecordingError(f"{path}: empty or not a venom-replay recording (no header record)") from None
    except PermissionError:
        raise RecordingError(f"{path}: permission denied") from None
    header = _header_from_map(path, first)
    # Many small objects and no cycles: the cyclic GC would only rescan them again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_body(path, header, records, first_end, size)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read_body(path: Path, header: Header, records: Iterator[tuple[int, Any]], first_end: int, size: int) -> Recording:
    exchanges: list[Exchange] = []
    notes: list[Note] = []
    skipped: list[tuple[int, int]] = []
    good_end = first_end
    complete = 1
    while True:
        for end, rec in records:
            item = _decode_record(rec)
            if item is None:
                break  # not a record: a torn tail, or a damaged stretch with records after it
            (exchanges if isinstance(item, Exchange) else notes).append(item)
            good_end = end
            complete += 1
        if good_end >= size:
            break
        resume = _next_record_start(path, good_end)
        if resume is None:
            break  # nothing whole after it: a torn tail
        skipped.append((good_end, resume - good_end))
        good_end = resume
        records = iter_records(path, resume)
    torn = good_end < size
    return Recording(
        path=path,
        header=header,
        exchanges=exchanges,
        notes=notes,
        complete_records=complete,
        torn_tail=torn,
        torn_offset=good_end if torn else None,
        file_size=size,
        skipped=skipped,
    )
