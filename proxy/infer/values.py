"""Walk requests and responses into ``location -> value`` pairs, and read or write one location.

Locations and sources use the strings described in model.py: ``body:$.a.b[0]``,
``query:name``, ``form:name``, ``header:Name``, ``cookie:name``, ``path:param``. This module is the
one place that knows how to get into (and back out of) JSON bodies, forms, headers and cookies, so
inference and instantiation agree on every location.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from venom_replay.proxy.recording import Request, Response

# Request headers that describe the transport or the client program, never application values.
SKIP_REQUEST_HEADERS = frozenset(
    {
        "host", "content-length", "connection", "accept-encoding", "user-agent", "accept", "cookie",
        "keep-alive", "transfer-encoding", "te", "upgrade", "x-venom-session", "proxy-connection",
        "proxy-authorization", "referer", "origin", "accept-language", "cache-control", "pragma",
        "content-type", "expect", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-dest", "dnt",
        "upgrade-insecure-requests", "priority",
    }
)
# Response headers that say how the bytes travel, not what the application produced.
SKIP_RESPONSE_HEADERS = frozenset(
    {
        "content-length", "connection", "keep-alive", "transfer-encoding", "content-encoding",
        "content-type", "set-cookie", "vary", "server", "access-control-allow-origin",
        "access-control-allow-headers", "access-control-allow-methods", "access-control-allow-credentials",
        "strict-transport-security", "x-content-type-options", "x-frame-options", "accept-ranges",
    }
)

MAX_ARRAY_ITEMS = 50
"""Only the first items of a long array are walked: ids deep in a 10k-row listing add cost, not evidence."""
MAX_VALUE_LEN = 4096

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*)\]|\[('(?:[^'\\]|\\.)*')\]")


# ---------------------------------------------------------------- JSON paths


def child_key(prefix: str, key: str) -> str:
    if _IDENT.match(key):
        return f"{prefix}.{key}"
    return f"{prefix}['{_quote(key)}']"


@lru_cache(maxsize=8192)
def _key_step(key: str) -> str:
    """``.name`` or ``['odd key']``: JSON bodies repeat the same few keys, so this is cached."""
    return f".{key}" if _IDENT.match(key) else f"['{_quote(key)}']"


def _quote(key: str) -> str:
    return key.replace("\\", "\\\\").replace("'", "\\'")


def parse_json_path(path: str) -> list[str | int]:
    """``$.a['b c'][0][*]`` -> ``['a', 'b c', 0, '*']``; raises ValueError for anything else."""
    if not path.startswith("$"):
        raise ValueError(f"JSON path must start with $: {path!r}")
    parts: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            raise ValueError(f"cannot read JSON path {path!r} at {path[pos:]!r}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append("*" if m.group(2) == "*" else int(m.group(2)))
        else:
            raw = m.group(3)[1:-1]
            parts.append(re.sub(r"\\(.)", r"\1", raw))
        pos = m.end()
    return parts


@lru_cache(maxsize=8192)
def json_path_keys(path: str) -> tuple[str, ...] | None:
    """The object keys a JSON path names, indices and ``[*]`` left out: ``$.items[*].id`` ->
    ``('items', 'id')``. None when the path cannot be read. Sources and locations repeat, so cached."""
    try:
        return tuple(p for p in parse_json_path(path) if isinstance(p, str) and p != "*")
    except ValueError:
        return None


def walk_json(value: Any, prefix: str = "$", *, generalize: bool = False) -> list[tuple[str, Any]]:
    """Every leaf as ``(json_path, scalar)``, in document order. ``generalize`` writes array indices as ``[*]``.

    Only the first ``MAX_ARRAY_ITEMS`` items of an array are walked. This runs on every body of a
    recording: nested calls with the leaf test inlined, switching to an explicit stack below
    ``_DEEP_NESTING`` levels so that pathological nesting cannot exhaust the interpreter's stack.
    """
    out: list[tuple[str, Any]] = []
    kind = type(value)
    if kind is dict:
        _walk_dict(out.append, prefix, value, generalize, 0)
    elif kind is list:
        _walk_list(out.append, prefix, value, generalize, 0)
    else:
        out.append((prefix, value))
    return out


_DEEP_NESTING = 64


def _walk_dict(emit: Any, path: str, cur: dict, generalize: bool, depth: int) -> None:
    step = _key_step
    for key, child in cur.items():
        child_path = path + step(key if type(key) is str else str(key))
        kind = type(child)
        if kind is dict or kind is list:
            _walk_child(emit, child_path, child, generalize, depth + 1)
        else:
            emit((child_path, child))


def _walk_list(emit: Any, path: str, cur: list, generalize: bool, depth: int) -> None:
    items = cur[:MAX_ARRAY_ITEMS] if len(cur) > MAX_ARRAY_ITEMS else cur
    star = f"{path}[*]" if generalize else ""
    for i, child in enumerate(items):
        child_path = star or f"{path}[{i}]"
        kind = type(child)
        if kind is dict or kind is list:
            _walk_child(emit, child_path, child, generalize, depth + 1)
        else:
            emit((child_path, child))


def _walk_child(emit: Any, path: str, child: Any, generalize: bool, depth: int) -> None:
    if depth >= _DEEP_NESTING:
        for pair in _walk_stack(child, path, generalize):
            emit(pair)
    elif type(child) is dict:
        _walk_dict(emit, path, child, generalize, depth)
    else:
        _walk_list(emit, path, child, generalize, depth)


def _walk_stack(value: Any, prefix: str, generalize: bool) -> list[tuple[str, Any]]:
    """``walk_json`` with an explicit stack, for subtrees nested too deep to walk by calls."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [(prefix, value)]
    pop, emit = stack.pop, out.append
    step = _key_step
    while stack:
        path, cur = pop()
        kind = type(cur)
        if kind is dict:
            children = []
            for key, child in cur.items():
                key = key if type(key) is str else str(key)
                children.append((path + step(key), child))
            stack.extend(reversed(children))
        elif kind is list:
            items = cur[:MAX_ARRAY_ITEMS]
            if generalize:
                star = f"{path}[*]"
                stack.extend((star, child) for child in reversed(items))
            else:
                stack.extend((f"{path}[{i}]", items[i]) for i in range(len(items) - 1, -1, -1))
        else:
            emit((path, cur))
    return out


def json_get(value: Any, path: str) -> Any:
    """The value at ``path`` (``[*]`` takes the first item); raises KeyError when absent."""
    cur = value
    for part in parse_json_path(path):
        if part == "*":
            if not isinstance(cur, list) or not cur:
                raise KeyError(path)
            cur = cur[0]
        elif isinstance(part, int):
            if not isinstance(cur, list) or part >= len(cur):
                raise KeyError(path)
            cur = cur[part]
        else:
            if not isinstance(cur, dict) or part not in cur:
                raise KeyError(path)
            cur = cur[part]
    return cur


def json_parent(value: Any, path: str) -> tuple[Any, str | int] | None:
    """The container ``path`` ends in inside ``value`` (``[*]`` is the first item) and the last key of
    ``path``; None when the path is empty or the container is not there."""
    parts = parse_json_path(path)
    if not parts:
        return None
    cur = value
    for part in parts[:-1]:
        try:
            cur = cur[0 if part == "*" else part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur, parts[-1]


def json_set(value: Any, path: str, new: Any) -> bool:
    """Set ``path`` inside ``value`` in place; False when the container is not there."""
    found = json_parent(value, path)
    if found is None:
        return False
    cur, last = found
    if isinstance(cur, dict) and isinstance(last, str) and last != "*":
        cur[last] = new
        return True
    if isinstance(cur, list):
        idx = 0 if last == "*" else last
        if isinstance(idx, int) and idx < len(cur):
            cur[idx] = new
            return True
    return False


# ---------------------------------------------------------------- cookies and forms


def parse_cookie_header(value: str) -> list[tuple[str, str]]:
    out = []
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if sep and name:
            out.append((name.strip(), val.strip()))
    return out


def parse_set_cookie(value: str) -> tuple[str, str] | None:
    first = value.split(";", 1)[0]
    name, sep, val = first.partition("=")
    if not sep or not name.strip():
        return None
    return name.strip(), val.strip()


def is_form(headers: list[tuple[str, str]]) -> bool:
    for key, val in headers:
        if key.lower() == "content-type":
            return "application/x-www-form-urlencoded" in val.lower()
    return False


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return []


# ---------------------------------------------------------------- whole messages


_COOKIE = "cookie"
"""Cached instead of a location: the header holds cookies (``header:...`` locations never equal it)."""
_MAX_HEADER_NAMES = 4096
"""Header names whose location is cached: a recording repeats the same few names."""


@lru_cache(maxsize=1024)
def _cookie_values(header: str) -> tuple[tuple[str, str], ...]:
    """``(cookie:<name>, value)`` pairs of a Cookie header: a session sends the same one again and again."""
    return tuple((f"cookie:{name}", val) for name, val in parse_cookie_header(header))


@lru_cache(maxsize=_MAX_HEADER_NAMES)
def _request_header_loc(name: str) -> str:
    """Header name as sent -> its request location (``""`` when skipped)."""
    lname = name.lower()
    if lname == "cookie":
        return _COOKIE
    if lname in SKIP_REQUEST_HEADERS or lname.startswith(("sec-ch-", "x-forwarded-")):
        return ""
    return f"header:{canonical_header(name)}"


@lru_cache(maxsize=_MAX_HEADER_NAMES)
def _response_header_source(name: str) -> str:
    """Header name as sent -> its response source (``""`` when skipped)."""
    lname = name.lower()
    if lname == "set-cookie":
        return _COOKIE
    if lname in SKIP_RESPONSE_HEADERS:
        return ""
    return f"header:{canonical_header(name)}"


class BodyLeaves:
    """Parsed JSON bodies and their ``body:`` leaves, remembering the last body per slot.

    Traffic repeats bodies (``{"ok": true}``, an unchanged resource read again, a constant command),
    mostly on the same endpoint: with one slot per template, a body equal to that template's previous
    one is neither parsed nor walked again, and a different one costs a single bytes comparison.
    Only bodies that start with ``{`` or ``[`` are remembered, because for those ``json()`` depends on
    the bytes alone (not on Content-Type). The parsed value and the leaves are shared between hits:
    callers must not change them.
    """

    __slots__ = ("generalize", "_last")

    def __init__(self, *, generalize: bool) -> None:
        self.generalize = generalize
        self._last: dict[Any, tuple[bytes, tuple[Any, list[tuple[str, Any]]]]] = {}

    def get(self, message: Request | Response, slot: Any = None) -> tuple[Any, list[tuple[str, Any]]]:
        """``(json value or None, leaves)`` of a message's body."""
        body = message.body
        cacheable = not message.body_truncated and body[:1] in (b"{", b"[")
        if cacheable:
            last = self._last.get(slot)
            if last is not None and last[0] == body:
                return last[1]
        data = message.json()
        result = (data, walk_json(data, "body:$", generalize=self.generalize) if data is not None else [])
        if cacheable:
            self._last[slot] = (bytes(body), result)
        return result


def request_values(req: Request, bodies: BodyLeaves | None = None, slot: Any = None) -> list[tuple[str, Any]]:
    """Every application value in a request except path segments (the caller maps those to params).

    Repeated query or form names keep their first value: a template binds one value per location.
    ``bodies`` (``generalize=False``) remembers the last JSON body seen in ``slot``.
    """
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for name, val in req.query:
        loc = f"query:{name}"
        if loc not in seen:
            seen.add(loc)
            out.append((loc, val))
    if req.body and not req.body_truncated:
        if is_form(req.headers):
            for name, val in form_pairs(req.body):
                loc = f"form:{name}"
                if loc not in seen:
                    seen.add(loc)
                    out.append((loc, val))
        elif bodies is not None:
            out.extend(bodies.get(req, slot)[1])
        else:
            data = req.json()
            if data is not None:
                out.extend(walk_json(data, "body:$"))
    for name, val in req.headers:
        loc = _request_header_loc(name)
        if not loc:
            continue
        if loc == _COOKIE:
            for loc, cval in _cookie_values(val):
                if loc not in seen:
                    seen.add(loc)
                    out.append((loc, cval))
        elif loc not in seen:
            seen.add(loc)
            out.append((loc, val))
    return out


_UNSET: Any = object()


def response_values(
    resp: Response, *, generalize: bool = True, data: Any = _UNSET, leaves: list[tuple[str, Any]] | None = None
) -> list[tuple[str, Any]]:
    """Every value a response carries: JSON leaves (arrays as ``[*]``), headers, Set-Cookie values.

    ``data`` is the already-parsed JSON body, when the caller has it; ``leaves`` its already-walked
    leaves (from ``BodyLeaves``, which must walk with the same ``generalize``).
    """
    if leaves is not None:
        out = list(leaves)
    else:
        if data is _UNSET:
            data = resp.json()
        out = walk_json(data, "body:$", generalize=generalize) if data is not None else []
    for name, val in resp.headers:
        source = _response_header_source(name)
        if not source:
            continue
        if source == _COOKIE:
            parsed = parse_set_cookie(val)
            if parsed:
                out.append((f"cookie:{parsed[0]}", parsed[1]))
        else:
            out.append((source, val))
    return out


def canonical_header(name: str) -> str:
    """``etag`` and ``ETag`` are one header; keep a stable spelling for locations."""
    special = {"etag": "ETag", "www-authenticate": "WWW-Authenticate"}
    lname = name.lower()
    return special.get(lname) or "-".join(p[:1].upper() + p[1:] for p in lname.split("-"))


def url_segments(value: str) -> list[str]:
    """Non-empty path segments of a URL or an absolute path; [] for anything that is not one."""
    if not value or len(value) > 2048 or " " in value:
        return []
    if value.startswith("/"):
        path = value.split("?", 1)[0].split("#", 1)[0]
    elif value.startswith(("http://", "https://")):
        try:
            path = urlsplit(value).path
        except ValueError:
            return []
    else:
        return []
    return [seg for seg in path.split("/") if seg]


def value_key(value: Any) -> str | None:
    """A comparable key: ``5`` and ``"5"`` meet (a path segment carries an id that JSON gave as a number).

    None for values that can carry no evidence (null, empty, containers, very long text).
    """
    kind = type(value)
    if kind is str:
        return value if value and len(value) <= MAX_VALUE_LEN else None
    if kind is int:
        return str(value)
    if kind is bool:
        return "\x00true" if value else "\x00false"
    if kind is float:
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return str(value) if value and len(value) <= MAX_VALUE_LEN else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    return None


def is_trivial_key(key: str) -> bool:
    """Booleans, 0, small integers and one- or two-character strings coincide too often to trust alone."""
    if len(key) <= 2 or key[0] == "\x00":
        return True
    if key.lstrip("-").isdigit():
        try:
            return abs(int(key)) < 100
        except ValueError:
            return False  # "--5" or superscript digits: text that only looks numeric
    return False
