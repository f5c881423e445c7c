"""Turn a template back into a concrete request, and read the values its response produces.

The explorer keeps the values bound on the current path as ``{(producer template id, source): value}``.
``render_request`` starts from one recorded request of the template, its chosen example (so inputs
and constants keep their recorded values together, and the request keeps that variant's shape) and
replaces every bound location the example has with the value its producer yielded on this path,
applying the binding's transform. It never adds a part the example lacked: a plain read gets no
``?_since=``, a create with ``If-None-Match: *`` no ``If-Match``. ``extract_values`` reads a live
response the same way inference read the recorded ones.

Identities: a password that a call set (``Production.user_from``) is kept per user, as
``(template, "identity:<user>")``; a ``basic`` binding renders its example's recorded user with the
password that user has on the path, whichever template set it last.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, Consumption
from venom_replay.proxy.infer.credentials import basic_credentials
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
IDENTITY = "identity:"
"""Source prefix of a password kept per user: ``(template id, "identity:alice")``."""


# ---------------------------------------------------------------- transforms


def apply_transform(transform: str, value: Any) -> Any:
    """The request value a produced value becomes: ``bearer``, ``url-segment:<i>``, ``format:<text {}>``."""
    if transform == "identity" or not transform:
        return value
    if transform == "bearer":
        return f"Bearer {value}"
    if transform == "basic":  # value: "user:password"
        return "Basic " + base64.b64encode(str(value).encode()).decode()
    if transform.startswith("url-segment:"):
        segs = url_segments(str(value))
        try:
            return segs[int(transform.split(":", 1)[1])]
        except (IndexError, ValueError):
            return value
    if transform.startswith("format:"):
        return transform[len("format:"):].replace("{}", str(value), 1)
    raise VenomError(f"unknown binding transform {transform!r} (expected identity, bearer, basic, url-segment:<i> or format:<text>)")


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
    the recorded value. A pair the example does not have is not added: that variant had no such part.
    """
    matches = matches or (lambda key: key == name)
    idx = next((i for i, (k, _) in enumerate(pairs) if matches(k)), None)
    if idx is None:
        return
    value = _resolve(c, values, pairs[idx][1])
    pairs[idx] = (pairs[idx][0], str(value))


# ---------------------------------------------------------------- rendering


def _examples(template: ActionTemplate) -> list[Request]:
    return template.example_requests or ([template.example_request] if template.example_request else [])


def _skeleton(template: ActionTemplate, example: int) -> Request:
    examples = _examples(template)
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


def has_location(req: Request, location: str) -> bool:
    """Does the request have this part (a query parameter, a body field, a header, a cookie)?"""
    kind, _, where = location.partition(":")
    if kind == "path":
        return True
    if kind == "query":
        return any(k == where for k, _ in req.query)
    if kind == "form":
        return is_form(req.headers) and any(k == where for k, _ in form_pairs(req.body))
    if kind == "body":
        try:
            json_get(req.json(), where)
        except (KeyError, ValueError):
            return False
        return True
    if kind == "header":
        return any(canonical_header(k) == where for k, _ in req.headers)
    if kind == "cookie":
        return any(name == where for k, v in req.headers if k.lower() == "cookie" for name, _ in parse_cookie_header(v))
    return False


def applicable(template: ActionTemplate, example: int | None) -> list[Consumption]:
    """The bindings a request rendered from ``example`` takes: those whose part the example has and
    whose recorded value came from the binding (all of them when ``example`` is None)."""
    if example is None:
        return list(template.consumes)
    examples = _examples(template)
    if not examples:
        return list(template.consumes)
    i = example % len(examples)
    skip = template.unbound_examples.get(i, ())
    return [c for c in template.consumes if c.location not in skip and has_location(examples[i], c.location)]


def render_request(
    template: ActionTemplate,
    values: Mapping[tuple[str, str], Any],
    *,
    example: int = 0,
    base_url: str | None = None,
) -> Request:
    """A concrete request for ``template``'s example ``example``, every binding it takes filled from ``values``.

    ``values`` maps ``(producer template id, source)`` to the latest value that producer yielded on the
    current path. A binding whose producer has not run keeps the recorded value (``missing_values``
    tells the explorer which those are); a part the example lacks is never added. ``base_url`` sends
    the request to another origin (and path prefix) than the recorded one.
    """
    req = _skeleton(template, example)
    by_loc: dict[str, Consumption] = {c.location: c for c in applicable(template, example)}

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

    _render_body(req, [(loc, c) for loc, c in by_loc.items() if loc.startswith(("body:", "form:"))], values)

    # Headers and cookies.
    headers = [(k, v) for k, v in req.headers if k.lower() not in ("content-length", "host")]
    for loc, c in by_loc.items():
        if loc.startswith("header:"):
            name = loc[len("header:"):]
            if c.transform == "basic":
                _render_basic(headers, name, values)
            else:
                _bind_pair(headers, name, c, values, lambda key, name=name: canonical_header(key) == name)
    cookie_bindings = [(loc[len("cookie:"):], c) for loc, c in by_loc.items() if loc.startswith("cookie:")]
    idx = next((i for i, (k, _) in enumerate(headers) if k.lower() == "cookie"), None)
    if cookie_bindings and idx is not None:
        jar = parse_cookie_header(headers[idx][1])
        for name, c in cookie_bindings:
            _bind_pair(jar, name, c, values)
        headers[idx] = (headers[idx][0], "; ".join(f"{k}={v}" for k, v in jar))
    req.headers = headers

    if base_url:
        _retarget(req, base_url)
    req.body_size = len(req.body)
    return req


def _render_body(req: Request, bindings: list[tuple[str, Consumption]], values: Mapping[tuple[str, str], Any]) -> None:
    """JSON or form fields of the body set from their bindings (only fields the body has)."""
    if not bindings or not req.body:
        return
    if is_form(req.headers):
        pairs = form_pairs(req.body)
        for loc, c in bindings:
            if loc.startswith("form:"):
                _bind_pair(pairs, loc[len("form:"):], c, values)
        req.body = urlencode(pairs).encode()
        return
    data = req.json()
    if data is None:
        return
    for loc, c in bindings:
        if not loc.startswith("body:"):
            continue
        path = loc[len("body:"):]
        try:
            recorded = json_get(data, path)
        except KeyError:
            continue
        json_set(data, path, _resolve(c, values, recorded))
    req.body = json.dumps(data).encode()


def _render_basic(headers: list[tuple[str, str]], name: str, values: Mapping[tuple[str, str], Any]) -> None:
    """The recorded Basic user, with the password that user has on this path (recorded when none)."""
    idx = next((i for i, (k, _) in enumerate(headers) if canonical_header(k) == name), None)
    credentials = basic_credentials(headers[idx][1]) if idx is not None else None
    if idx is None or credentials is None:
        return
    password = identity_password(values, credentials[0])
    if password is not _MISSING:
        headers[idx] = (headers[idx][0], apply_transform("basic", f"{credentials[0]}:{password}"))


def identity_password(values: Mapping[tuple[str, str], Any], user: str) -> Any:
    """The password ``user`` got last on this path, from any template that set one; else ``_MISSING``."""
    source = IDENTITY + user
    for key in reversed(list(values)):
        if key[1] == source:
            return values[key]
    return _MISSING


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


def _message_part(message: Request | Response, kind: str, where: str, data: Any = _MISSING) -> Any:
    """A JSON body field or a header of a request or an answer; raises KeyError when it is not there."""
    if kind == "body":
        data = message.json() if data is _MISSING else data
        if data is None:
            raise KeyError(where)
        return json_get(data, where)
    value = message.header(where) if kind == "header" else None
    if value is None:
        raise KeyError(where)
    return value


def read_source(response: Response, source: str, *, _json: Any = _MISSING) -> Any:
    """The value at one source of a response; raises KeyError when it is not there."""
    kind, _, where = source.partition(":")
    if kind == "cookie":
        for raw in response.header_all("set-cookie"):
            parsed = parse_set_cookie(raw)
            if parsed and parsed[0] == where:
                return parsed[1]
        raise KeyError(source)
    return _message_part(response, kind, where, _json)


def read_request(template: ActionTemplate, request: Request, location: str) -> Any:
    """The value at one location of a request (``body:$.password``, ``query:user``, ``path:name``);
    raises KeyError when it is not there."""
    kind, _, where = location.partition(":")
    if kind == "path":
        # The request may have been sent under a path prefix: match the pattern from the right.
        segs = [s for s in request.path.split("?", 1)[0].split("/") if s]
        n = len([s for s in template.path.split("/") if s])
        params = path_params(template.path, "/" + "/".join(segs[len(segs) - n:])) if len(segs) >= n else None
        if params is None or where not in params:
            raise KeyError(location)
        return params[where]
    if kind in ("query", "form"):
        pairs = request.query if kind == "query" else form_pairs(request.body) if is_form(request.headers) else []
        for k, v in pairs:
            if k == where:
                return v
        raise KeyError(location)
    return _message_part(request, kind, where)


CALLER = "caller"
"""``Production.user_from`` for a password the caller set for itself: the user is the request's Basic user."""


def read_identity(template: ActionTemplate, location: str, request: Request, response: Response | None) -> Any:
    """The value at an identity location of one exchange (``request:<location>``, ``caller``, or a
    response source); None when it is not there."""
    try:
        if location == CALLER:
            basic = basic_credentials(request.header("authorization"))
            return basic[0] if basic is not None else None
        if location.startswith("request:"):
            return read_request(template, request, location[len("request:"):])
        return read_source(response, location) if response is not None else None
    except (KeyError, ValueError):
        return None


def extract_values(template: ActionTemplate, response: Response, request: Request | None = None) -> dict[str, Any]:
    """``source -> value`` for every Production of ``template`` that this exchange carries.

    A password a successful call set (``user_from``) is returned as ``identity:<user>`` (it needs the
    ``request`` that was sent); a production read from the request, under its ``request:`` source.
    """
    out: dict[str, Any] = {}
    data = response.json() if any(p.source.startswith("body:") for p in template.produces) else None
    for prod in template.produces:
        if prod.user_from or prod.source.startswith("request:"):
            if request is not None and 200 <= response.status < 300:
                _extract_identity(template, prod.source, prod.user_from, request, response, out)
            continue
        try:
            out[prod.source] = read_source(response, prod.source, _json=data)
        except (KeyError, ValueError):
            continue
    return out


def _extract_identity(template: ActionTemplate, source: str, user_from: str, request: Request, response: Response,
                      out: dict[str, Any]) -> None:
    value = read_identity(template, source, request, response)
    if value is None:
        return
    if not user_from:
        out[source] = value
        return
    user = read_identity(template, user_from, request, response)
    if user is not None:
        out[IDENTITY + str(user)] = value


def missing_values(template: ActionTemplate, values: Mapping[tuple[str, str], Any], example: int | None = None) -> list[Consumption]:
    """The bindings that no producer has filled on this path (empty: the call is enabled).

    With ``example``, only the bindings that example's variant takes (see ``applicable``): a PATCH
    recorded without ``If-Match`` does not wait for an ETag. A ``basic`` binding never waits: an
    account may exist before any call of the path creates it (the admin's, a user the recording
    created when exploring from where it ended), so its recorded password is sent until a call of
    the path sets another.
    """
    return [c for c in applicable(template, example) if c.transform != "basic" and (c.producer, c.source) not in values]
