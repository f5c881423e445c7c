"""Turn a template back into a concrete request, and read the values its response produces.

The explorer keeps the values bound on the current path as ``{(producer template id, source): value}``.
``render_request`` starts from one recorded request of the template (so inputs and constants keep
their recorded values together) and replaces every bound location with the value its producer
yielded on this path, applying the binding's transform. ``extract_values`` reads a live response
the same way inference read the recorded ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, Consumption
from venom_replay.proxy.infer.values import (
    canonical_header,
    form_pairs,
    is_form,
    json_get,
    json_set,
    parse_cookie_header,
    parse_set_cookie,
    url_segments,
)

_MISSING = object()


# ---------------------------------------------------------------- transforms


def apply_transform(transform: str, value: Any) -> Any:
    """The request value a produced value becomes: ``bearer``, ``url-segment:<i>``, ``format:<text {}>``."""
    if transform == "identity" or not transform:
        return value
    if transform == "bearer":
        return f"Bearer {value}"
    if transform.startswith("url-segment:"):
        segs = url_segments(str(value))
        try:
            return segs[int(transform.split(":", 1)[1])]
        except (IndexError, ValueError):
            return value
    if transform.startswith("format:"):
        return transform[len("format:"):].replace("{}", str(value), 1)
    raise VenomError(f"unknown binding transform {transform!r} (expected identity, bearer, url-segment:<i> or format:<text>)")


def _coerce_like(value: Any, recorded: Any) -> Any:
    """Keep the recorded JSON type: an id read from a Location header is text, the body wanted a number."""
    if recorded is _MISSING or recorded is None or isinstance(value, bool):
        return value
    if isinstance(recorded, bool):
        return value
    if isinstance(recorded, int) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(recorded, float) and isinstance(value, (str, int)):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(recorded, str) and isinstance(value, (int, float)):
        return str(value)
    return value


def _resolve(c: Consumption, values: Mapping[tuple[str, str], Any], recorded: Any) -> Any:
    """The value for one binding; the recorded value when the producer has not run on this path."""
    produced = values.get((c.producer, c.source), _MISSING)
    if produced is _MISSING:
        return recorded
    return _coerce_like(apply_transform(c.transform, produced), recorded)


def _bind_pair(
    pairs: list[tuple[str, str]],
    name: str,
    c: Consumption,
    values: Mapping[tuple[str, str], Any],
    matches: Callable[[str], bool] | None = None,
) -> None:
    """Set ``name`` in (key, value) pairs (query, form, headers, cookies) to the binding's value.

    The recorded pair keeps its position and key spelling; a binding whose producer has not run keeps
    the recorded value, and one with no recorded pair is appended.
    """
    matches = matches or (lambda key: key == name)
    idx = next((i for i, (k, _) in enumerate(pairs) if matches(k)), None)
    value = _resolve(c, values, pairs[idx][1] if idx is not None else _MISSING)
    if value is _MISSING:
        return
    if idx is None:
        pairs.append((name, str(value)))
    else:
        pairs[idx] = (pairs[idx][0], str(value))


# ---------------------------------------------------------------- rendering


def _skeleton(template: ActionTemplate, example: int) -> Request:
    examples = template.example_requests or ([template.example_request] if template.example_request else [])
    if not examples:
        return Request(template.method, template.scheme, template.host, template.port, template.path)
    src = examples[example % len(examples)]
    return Request(
        method=src.method,
        scheme=src.scheme,
        host=src.host,
        port=src.port,
        path=src.path,
        query=list(src.query),
        headers=list(src.headers),
        body=bytes(src.body),
        http_version=src.http_version,
    )


def path_params(pattern: str, path: str) -> dict[str, str] | None:
    """``/orders/{order_id}`` against ``/orders/7`` -> ``{'order_id': '7'}``; None when they differ."""
    pat = [s for s in pattern.split("/") if s]
    segs = [s for s in path.split("?", 1)[0].split("/") if s]
    if len(pat) != len(segs):
        return None
    out: dict[str, str] = {}
    for p, s in zip(pat, segs):
        if p.startswith("{") and p.endswith("}"):
            out[p[1:-1]] = s
        elif p != s:
            return None
    return out


def _field_example(template: ActionTemplate, location: str, example: int) -> Any:
    for f in template.fields:
        if f.location == location and f.examples:
            return f.examples[example % len(f.examples)]
    return _MISSING


def render_request(
    template: ActionTemplate,
    values: Mapping[tuple[str, str], Any],
    *,
    example: int = 0,
    base_url: str | None = None,
) -> Request:
    """A concrete request for ``template`` with every binding filled from ``values``.

    ``values`` maps ``(producer template id, source)`` to the latest value that producer yielded on the
    current path. A binding whose producer has not run keeps the recorded value (``missing_values``
    tells the explorer which those are). ``base_url`` sends the request to another origin (and path
    prefix) than the recorded one.
    """
    req = _skeleton(template, example)
    by_loc: dict[str, Consumption] = {c.location: c for c in template.consumes}

    # Path: parameters from bindings, else from the recorded request.
    recorded_params = path_params(template.path, req.path) or {}
    segments = []
    for seg in template.path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            loc = f"path:{name}"
            recorded = recorded_params.get(name, _MISSING)
            if recorded is _MISSING:
                recorded = _field_example(template, loc, example)
            value = _resolve(by_loc[loc], values, recorded) if loc in by_loc else recorded
            if value is _MISSING:
                raise VenomError(f"template {template.id}: no recorded value for path parameter {name!r}")
            segments.append(quote(str(value), safe=""))
        else:
            segments.append(seg)
    req.path = "/".join(segments) or "/"

    # Query parameters.
    for loc, c in by_loc.items():
        if loc.startswith("query:"):
            _bind_pair(req.query, loc[len("query:"):], c, values)

    # Body: JSON fields or form fields.
    body_bindings = [(loc, c) for loc, c in by_loc.items() if loc.startswith(("body:", "form:"))]
    if body_bindings and req.body:
        if is_form(req.headers):
            pairs = form_pairs(req.body)
            for loc, c in body_bindings:
                if loc.startswith("form:"):
                    _bind_pair(pairs, loc[len("form:"):], c, values)
            req.body = urlencode(pairs).encode()
        else:
            data = req.json()
            if data is not None:
                for loc, c in body_bindings:
                    if not loc.startswith("body:"):
                        continue
                    path = loc[len("body:"):]
                    try:
                        recorded = json_get(data, path)
                    except KeyError:
                        recorded = _MISSING
                    value = _resolve(c, values, recorded)
                    if value is not _MISSING:
                        json_set(data, path, value)
                req.body = json.dumps(data).encode()

    # Headers and cookies.
    headers = [(k, v) for k, v in req.headers if k.lower() not in ("content-length", "host")]
    cookie_bindings = [(loc[len("cookie:"):], c) for loc, c in by_loc.items() if loc.startswith("cookie:")]
    for loc, c in by_loc.items():
        if loc.startswith("header:"):
            name = loc[len("header:"):]
            _bind_pair(headers, name, c, values, lambda key, name=name: canonical_header(key) == name)
    if cookie_bindings:
        idx = next((i for i, (k, _) in enumerate(headers) if k.lower() == "cookie"), None)
        jar = parse_cookie_header(headers[idx][1]) if idx is not None else []
        for name, c in cookie_bindings:
            _bind_pair(jar, name, c, values)
        line = "; ".join(f"{k}={v}" for k, v in jar)
        if idx is None:
            headers.append(("Cookie", line))
        else:
            headers[idx] = (headers[idx][0], line)
    req.headers = headers

    if base_url:
        _retarget(req, base_url)
    req.body_size = len(req.body)
    return req


def _retarget(req: Request, base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VenomError(f"base URL {base_url!r} is not an http(s) URL")
    req.scheme = parts.scheme
    req.host = parts.hostname
    req.port = parts.port or (443 if parts.scheme == "https" else 80)
    prefix = parts.path.rstrip("/")
    if prefix:
        req.path = prefix + req.path


# ---------------------------------------------------------------- reading responses


def read_source(response: Response, source: str, *, _json: Any = _MISSING) -> Any:
    """The value at one source of a response; raises KeyError when it is not there."""
    kind, _, where = source.partition(":")
    if kind == "body":
        data = response.json() if _json is _MISSING else _json
        if data is None:
            raise KeyError(source)
        return json_get(data, where)
    if kind == "header":
        value = response.header(where)
        if value is None:
            raise KeyError(source)
        return value
    if kind == "cookie":
        for raw in response.header_all("set-cookie"):
            parsed = parse_set_cookie(raw)
            if parsed and parsed[0] == where:
                return parsed[1]
        raise KeyError(source)
    raise KeyError(source)


def extract_values(template: ActionTemplate, response: Response) -> dict[str, Any]:
    """``source -> value`` for every Production of ``template`` that this response carries."""
    out: dict[str, Any] = {}
    data = response.json() if any(p.source.startswith("body:") for p in template.produces) else None
    for prod in template.produces:
        try:
            out[prod.source] = read_source(response, prod.source, _json=data)
        except (KeyError, ValueError):
            continue
    return out


def missing_values(template: ActionTemplate, values: Mapping[tuple[str, str], Any]) -> list[Consumption]:
    """The bindings of ``template`` that no producer has filled on this path (empty: the call is enabled)."""
    return [c for c in template.consumes if (c.producer, c.source) not in values]
