"""Recorded values -> live values: what lets the recording itself be replayed faithfully.

The recording holds the values the server gave then (ids, tokens, ETags, versions, timestamps); a
replay gets others. After each replayed exchange its live answer is compared with the recorded one
(JSON bodies walked in parallel, Location, ETag, Set-Cookie and the other headers) and every value
that came back different is remembered as recorded -> live. Before each later recorded request is
sent, its recorded values are replaced by their live ones in path segments, query values, JSON and
form body leaves, headers and cookies; nothing else of the request changes.

A value that coincides easily (a small number, a short word: ``page=1``, ``status=paid``) is replaced
only where a template binding (or a cross-session hint: in the replay of the whole recording, a flow
between sessions is a flow like any other) marks the location as carrying a produced value, and only
with the pair that binding's own producer taught (user 3 is not product 3). Distinctive values (uuids,
tokens, timestamps, large ids) are replaced wherever they stand, inside longer text too
(``Bearer <token>``, a URL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urlencode

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, CrossSessionHint
from venom_replay.proxy.infer.values import (
    MAX_ARRAY_ITEMS,
    canonical_header,
    child_key,
    form_pairs,
    is_form,
    json_get,
    parse_cookie_header,
    parse_set_cookie,
    url_segments,
)
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.explorer.state import BOOKKEEPING, ValueKey

_MISSING: Any = object()
_INDEX = re.compile(r"\[\d+\]")
_NOT_COMPARED = frozenset({"date", "content-length", "content-type", "content-encoding", "connection", "keep-alive",
                           "transfer-encoding", "server", "vary", "set-cookie", "age", "expires"})
MIN_SUBSTRING = 12
"""Shortest recorded value replaced inside longer text (a token in ``Bearer <token>``, an id in a URL)."""
MAX_DEPTH = 32
TRANSLATION: ValueKey = (BOOKKEEPING, "recorded -> live")
"""Where a path keeps its ``Translation`` among its values: it follows from the recorded steps on it."""


def comparable(value: Any) -> str | None:
    """A comparable spelling (``16`` and ``"16"`` meet, as a path segment carries a JSON number);
    None for what never translates (booleans, null, containers, empty text)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return value if value and len(value) <= 4096 else None
    return None


def distinctive(key: str) -> bool:
    """Too specific to coincide: a number of a million or more (a timestamp), text of 16 characters
    or more, or text of 6 or more with a digit in it (an id, a token, a date)."""
    digits = key.lstrip("-")
    if digits.replace(".", "", 1).isdigit():
        try:
            return abs(float(key)) >= 1e6
        except ValueError:
            return False
    return len(key) >= 16 or (len(key) >= 6 and any(c.isdigit() for c in key))


def _like(recorded: Any, live: Any) -> Any:
    """``live`` in the recorded value's JSON type (an id read from a header is text; the body had a number)."""
    if isinstance(recorded, str):
        return live if isinstance(live, str) else comparable(live) or str(live)
    if isinstance(recorded, bool) or not isinstance(recorded, (int, float)) or not isinstance(live, str):
        return live
    try:
        return int(live) if isinstance(recorded, int) else float(live)
    except ValueError:
        return live


def _general(source: str) -> str:
    """``body:$.runs[3].id`` -> ``body:$.runs[*].id``, the spelling of template productions."""
    return _INDEX.sub("[*]", source)


# ---------------------------------------------------------------- comparing answers


def _walk_pair(rec: Any, live: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any, Any]]:
    """``(source, recorded, live)`` for every scalar of two JSON documents that differs. Lists are
    compared item by item only when they have the same length: otherwise items do not correspond."""
    if depth > MAX_DEPTH:
        return
    if isinstance(rec, dict) and isinstance(live, dict):
        for k, v in rec.items():
            if k in live:
                yield from _walk_pair(v, live[k], child_key(path, str(k)), depth + 1)
    elif isinstance(rec, list) and isinstance(live, list):
        if len(rec) == len(live):
            for i, (a, b) in enumerate(zip(rec[:MAX_ARRAY_ITEMS], live)):
                yield from _walk_pair(a, b, f"{path}[{i}]", depth + 1)
    elif not isinstance(rec, (dict, list)) and not isinstance(live, (dict, list)):
        if comparable(rec) is not None and comparable(live) is not None and comparable(rec) != comparable(live):
            yield path, rec, live


def _unquoted_etag(value: str) -> str:
    return value.removeprefix("W/").strip('"')


def _header_pairs(rec: Response, live: Response) -> Iterator[tuple[str, Any, Any]]:
    """Differing headers (first value of each name), a Location's differing path segments, the
    ETag's quoted and bare forms, and cookies set by name."""
    live_first: dict[str, str] = {}
    for name, value in live.headers:
        live_first.setdefault(name.lower(), value)
    seen: set[str] = set()
    for name, value in rec.headers:
        lname = name.lower()
        if lname in seen or lname in _NOT_COMPARED or lname not in live_first:
            continue
        seen.add(lname)
        other = live_first[lname]
        if other == value:
            continue
        source = f"header:{canonical_header(name)}"
        yield source, value, other
        if lname == "etag":
            yield source, _unquoted_etag(value), _unquoted_etag(other)
        elif lname in ("location", "content-location"):
            a, b = url_segments(value), url_segments(other)
            if len(a) == len(b):
                yield from ((source, x, y) for x, y in zip(a, b) if x != y)
    live_cookies = dict(c for c in map(parse_set_cookie, live.header_all("set-cookie")) if c)
    for raw in rec.header_all("set-cookie"):
        cookie = parse_set_cookie(raw)
        if cookie and cookie[0] in live_cookies and live_cookies[cookie[0]] != cookie[1]:
            yield f"cookie:{cookie[0]}", cookie[1], live_cookies[cookie[0]]


def differing_values(rec: Response, live: Response) -> Iterator[tuple[str, Any, Any]]:
    """Every ``(source, recorded value, live value)`` where a live answer differs from the recorded one."""
    rj, lj = rec.json(), live.json()
    if rj is not None and lj is not None:
        yield from _walk_pair(rj, lj, "body:$")
    yield from _header_pairs(rec, live)


# ---------------------------------------------------------------- the translation


@dataclass(frozen=True, slots=True)
class Translation:
    """What the replay so far learned: recorded value -> live value (immutable: a path shares it
    with the paths that branch from it; ``learned`` returns a new one)."""

    anywhere: Mapping[str, Any] = field(default_factory=dict)
    """Distinctive recorded values: replaced wherever they stand."""
    by_source: Mapping[tuple[str, str, str], Any] = field(default_factory=dict)
    """``(producer template, source, recorded value) -> live``: a bound location asks its producer's."""
    long: tuple[tuple[str, str], ...] = ()
    """The distinctive values long enough to be replaced inside longer text, longest first."""

    def __len__(self) -> int:
        return len(self.by_source)

    def learned(self, tpl: ActionTemplate, recorded: Response, live: Response) -> Translation:
        """This translation plus what ``live`` (the answer to a replay of ``recorded``'s request) taught."""
        anywhere, by_source = dict(self.anywhere), dict(self.by_source)
        changed = False
        for source, rec_value, live_value in differing_values(recorded, live):
            key = comparable(rec_value)
            if key is None:
                continue
            changed = True
            source = _general(source)
            by_source[(tpl.id, source, key)] = live_value
            if distinctive(key):
                anywhere[key] = live_value
        if not changed:
            return self
        long = tuple(sorted(((k, comparable(v) or str(v)) for k, v in anywhere.items()
                             if len(k) >= MIN_SUBSTRING and " " not in k), key=lambda kv: -len(kv[0])))
        return Translation(anywhere, by_source, long)

    # ---------------------------------------------------------------- one value

    def value(self, recorded: Any, binding: Consumption | CrossSessionHint | None) -> Any:
        """The live value for one recorded value; ``binding``: the template binding of its location."""
        key = comparable(recorded)
        if key is None:
            return recorded
        live = _MISSING
        if binding is not None:
            live = self.by_source.get((binding.producer, binding.source, key), _MISSING)
        if live is _MISSING:
            live = self.anywhere.get(key, _MISSING)
        if live is not _MISSING:
            return _like(recorded, live)
        return self.text(recorded) if isinstance(recorded, str) else recorded

    def text(self, text: str) -> str:
        """``text`` with every long distinctive recorded value in it replaced."""
        if len(text) < MIN_SUBSTRING:
            return text
        for rec, live in self.long:
            if rec in text:
                text = text.replace(rec, live)
        return text

    # ---------------------------------------------------------------- a whole request

    def request(self, tpl: ActionTemplate, req: Request) -> Request:
        """A copy of the recorded request ``req`` (an instance of ``tpl``) with its recorded values
        replaced by the live ones. Nothing is added or left out."""
        bound: dict[str, Consumption | CrossSessionHint] = {h.location: h for h in tpl.cross_session}
        bound.update((c.location, c) for c in tpl.consumes)
        return replace(
            req,
            path=self._path(tpl, req.path, bound),
            query=[(k, str(self.value(v, bound.get(f"query:{k}")))) for k, v in req.query],
            headers=[self._header(k, v, bound) for k, v in req.headers],
            body=self._body(req, bound),
        )

    def _path(self, tpl: ActionTemplate, path: str, bound: Mapping[str, Consumption | CrossSessionHint]) -> str:
        names = [s[1:-1] if s.startswith("{") and s.endswith("}") else None for s in tpl.path.split("/") if s]
        segments = path.split("/")
        real = [i for i, s in enumerate(segments) if s]
        if len(real) != len(names) or path_params(tpl.path, path) is None:
            names = [None] * len(real)
        for i, name in zip(real, names):
            raw = unquote(segments[i])
            live = self.value(raw, bound.get(f"path:{name}") if name else None)
            if live != raw:
                segments[i] = quote(str(live), safe="")
        return "/".join(segments)

    def _header(self, name: str, value: str, bound: Mapping[str, Consumption | CrossSessionHint]) -> tuple[str, str]:
        if name.lower() in ("host", "content-length"):
            return name, value
        if name.lower() == "cookie":
            jar = [(k, str(self.value(v, bound.get(f"cookie:{k}")))) for k, v in parse_cookie_header(value)]
            return name, "; ".join(f"{k}={v}" for k, v in jar)
        return name, str(self.value(value, bound.get(f"header:{canonical_header(name)}")))

    def _body(self, req: Request, bound: Mapping[str, Consumption | CrossSessionHint]) -> bytes:
        if not req.body or req.body_truncated:
            return req.body
        if is_form(req.headers):
            pairs = form_pairs(req.body)
            new = [(k, str(self.value(v, bound.get(f"form:{k}")))) for k, v in pairs]
            return urlencode(new).encode() if new != pairs else req.body
        data = req.json()
        if data is not None:
            new_data = self._json(data, "body:$", bound)
            return json.dumps(new_data).encode() if new_data != data else req.body
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return req.body
        new_text = self.text(text)
        return new_text.encode() if new_text != text else req.body

    def _json(self, data: Any, loc: str, bound: Mapping[str, Consumption | CrossSessionHint], depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return data
        if isinstance(data, dict):
            return {k: self._json(v, child_key(loc, str(k)), bound, depth + 1) for k, v in data.items()}
        if isinstance(data, list):
            return [self._json(v, f"{loc}[{i}]", bound, depth + 1) for i, v in enumerate(data)]
        return self.value(data, bound.get(loc) or bound.get(_general(loc)))


def sent_value(tpl: ActionTemplate, req: Request, location: str) -> Any:
    """The value a request carries at a template location (``path:id``, ``query:q``, ``body:$.a``,
    ``form:f``, ``header:Name``, ``cookie:c``); raises KeyError when it carries none."""
    kind, _, where = location.partition(":")
    if kind == "path":
        params = path_params(tpl.path, req.path) or {}
        if where not in params:
            raise KeyError(location)
        return unquote(params[where])
    if kind == "body":
        data = req.json()
        if data is None:
            raise KeyError(location)
        try:
            return json_get(data, where)
        except ValueError:
            raise KeyError(location) from None
    pairs: list[tuple[str, str]] = []
    if kind == "query":
        pairs = list(req.query)
    elif kind == "form":
        pairs = form_pairs(req.body) if is_form(req.headers) else []
    elif kind == "header":
        pairs = [(canonical_header(k), v) for k, v in req.headers]
    elif kind == "cookie":
        pairs = [p for k, v in req.headers if k.lower() == "cookie" for p in parse_cookie_header(v)]
    for k, v in pairs:
        if k == where:
            return v
    raise KeyError(location)


def translation_of(values: Mapping[ValueKey, Any]) -> Translation:
    """The translation a path has learned so far (an empty one before any recorded step)."""
    found = values.get(TRANSLATION)
    return found if isinstance(found, Translation) else EMPTY


EMPTY = Translation()
