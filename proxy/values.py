"""Walk requests and responses into ``location -> value`` pairs, and read or write one location.

Locations and sources use the strings described in template_model: ``body:$.a.b[0]``,
``query:name``, ``form:name``, ``header:Name``, ``cookie:name``, ``path:param``. This module is the
one place that knows how to get into (and back out of) JSON bodies, forms, headers and cookies, so
inference and instantiation agree on every location.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .recording import Request, Response

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

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


def walk_json(value: Any, prefix: str = "$", *, generalize: bool = False) -> list[tuple[str, Any]]:
    """Every leaf as ``(json_path, scalar)``, in document order. ``generalize`` writes array indices as ``[*]``.

    An explicit stack instead of recursive generators: this runs on every body of a recording.
    """
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [(prefix, value)]
    pop, push, emit = stack.pop, stack.append, out.append
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


def json_set(value: Any, path: str, new: Any) -> bool:
    """Set ``path`` inside ``value`` in place; False when the container is not there."""
    parts = parse_json_path(path)
    if not parts:
        return False
    cur = value
    for part in parts[:-1]:
        try:
            cur = cur[0 if part == "*" else part]
        except (KeyError, IndexError, TypeError):
            return False
    last = parts[-1]
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


def request_values(req: Request) -> list[tuple[str, Any]]:
    """Every application value in a request except path segments (the caller maps those to params).

    Repeated query or form names keep their first value: a template binds one value per location.
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
        else:
            data = req.json()
            if data is not None:
                out.extend((f"body:{p}", v) for p, v in walk_json(data))
    for name, val in req.headers:
        lname = name.lower()
        if lname == "cookie":
            for cname, cval in parse_cookie_header(val):
                loc = f"cookie:{cname}"
                if loc not in seen:
                    seen.add(loc)
                    out.append((loc, cval))
        elif lname not in SKIP_REQUEST_HEADERS and not lname.startswith(("sec-ch-", "x-forwarded-")):
            loc = f"header:{canonical_header(name)}"
            if loc not in seen:
                seen.add(loc)
                out.append((loc, val))
    return out


_UNSET: Any = object()


def response_values(resp: Response, *, generalize: bool = True, data: Any = _UNSET) -> list[tuple[str, Any]]:
    """Every value a response carries: JSON leaves (arrays as ``[*]``), headers, Set-Cookie values.

    ``data`` is the already-parsed JSON body, when the caller has it.
    """
    out: list[tuple[str, Any]] = []
    if data is _UNSET:
        data = resp.json()
    if data is not None:
        out.extend((f"body:{p}", v) for p, v in walk_json(data, generalize=generalize))
    for name, val in resp.headers:
        lname = name.lower()
        if lname == "set-cookie":
            parsed = parse_set_cookie(val)
            if parsed:
                out.append((f"cookie:{parsed[0]}", parsed[1]))
        elif lname not in SKIP_RESPONSE_HEADERS:
            out.append((f"header:{canonical_header(name)}", val))
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
    if key.startswith("\x00"):
        return True
    if len(key) <= 2:
        return True
    if key.lstrip("-").isdigit():
        return abs(int(key)) < 100
    return False
