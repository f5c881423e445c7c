"""Masking secrets for everything that prints or exports a recording.

Recordings keep secrets as they were (replay needs the real cookie or token), but every summary,
report and `--redact` export goes through these helpers. A masked value keeps a short hint that is
safe to show and still useful when reading a report: the auth scheme ("Bearer ***"), cookie names
("session=***"), or the length ("***(len 32)").
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

from venom_replay.proxy.recording import Exchange, Request, Response

MASK = "***"

# Header names that always carry credentials.
_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
        "x-goog-api-key",
    }
)
# Other header names that look like they carry a credential (X-Foo-Token, X-Service-Api-Key, ...).
_SECRET_HEADER_RE = re.compile(r"(api[-_]?key|token|secret|password|passwd|session[-_]?id|signature)", re.I)

# JSON field (and query/form parameter) names that carry secrets. Matched on a normalised name:
# lower case with '-' turned into '_', so "accessToken", "access-token" and "ACCESS_TOKEN" all match.
_SECRET_FIELD_RE = re.compile(
    r"(^|_)(password|passwd|pwd|passphrase|secret|token|api_?key|apikey|private_?key|credentials?|"
    r"auth|authorization|cookie|session_?id|otp|pin|cvv|cvc|card_?number|ssn)($|_)"
)
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Field names that contain a secret word but name something harmless ("token_type": "Bearer").
_HARMLESS_FIELDS = frozenset({"token_type", "auth_type", "expires_in", "token_expires_in", "auth_method"})


def _normalise(name: str) -> str:
    return _CAMEL_RE.sub("_", name).replace("-", "_").lower()


def is_secret_header(name: str) -> bool:
    """True for header names whose values are credentials (Authorization, Cookie, X-Api-Key, ...)."""
    lname = name.lower()
    return lname in _SECRET_HEADERS or bool(_SECRET_HEADER_RE.search(lname))


def is_secret_field(name: str) -> bool:
    """True for JSON field / form / query names like password, token, secret, api_key, client_secret."""
    norm = _normalise(str(name))
    if norm in _HARMLESS_FIELDS:
        return False
    return bool(_SECRET_FIELD_RE.search(norm))


def mask_value(value: Any) -> str:
    """A safe stand-in for a secret value that keeps only its length."""
    text = value if isinstance(value, str) else json.dumps(value) if not isinstance(value, bytes) else value.decode("latin-1")
    return f"{MASK}(len {len(text)})"


# scheme://user:password@ -- the password runs to the last '@' before the path, query or fragment.
_URL_PASSWORD_RE = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*):[^/?#\s]*@")


def mask_url_password(url: str) -> str:
    """The URL with the password of its user info masked, for messages and reports:
    ``postgresql://app:s3cret@db/shop`` -> ``postgresql://app:***@db/shop``. Everything else is kept
    as written (no re-quoting); a URL without a password comes back unchanged. Every URL in the text
    is masked, so a list of them (``group:postgresql://...,redis://...``) is safe too."""
    return _URL_PASSWORD_RE.sub(lambda m: f"{m['head']}:{MASK}@", url)


def _mask_cookie_pairs(value: str, sep: str = ";") -> str:
    """"a=1; b=2" -> "a=***; b=***": cookie names help a reader, values are the secret."""
    parts = []
    for part in value.split(sep):
        name, eq, _ = part.strip().partition("=")
        parts.append(f"{name}={MASK}" if eq else MASK)
    return f"{sep} ".join(parts)


def _mask_set_cookie(value: str) -> str:
    # Keep the attributes (Path, HttpOnly, Max-Age): they are not secret and matter for debugging.
    first, sep, attrs = value.partition(";")
    name, eq, _ = first.strip().partition("=")
    masked = f"{name}={MASK}" if eq else MASK
    return masked + (sep + attrs if sep else "")


def redact_header_value(name: str, value: str) -> str:
    lname = name.lower()
    if lname in ("authorization", "proxy-authorization"):
        scheme, space, rest = value.partition(" ")
        # "Bearer abc" -> "Bearer ***"; a bare token has no scheme to keep.
        return f"{scheme} {MASK}" if space and rest else mask_value(value)
    if lname == "cookie":
        return _mask_cookie_pairs(value)
    if lname == "set-cookie":
        return _mask_set_cookie(value)
    return mask_value(value)


def redact_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with credential values masked; names and order kept."""
    return [(k, redact_header_value(k, v) if is_secret_header(k) else v) for k, v in pairs]


def redact_json(value: Any) -> Any:
    """A copy of a JSON value with every field named like a secret masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: (mask_value(v) if v is not None and not isinstance(v, (dict, list)) else redact_json(v))
            if is_secret_field(str(k))
            else redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value


def redact_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query or form pairs with secret-named parameters masked."""
    return [(k, mask_value(v) if is_secret_field(k) else v) for k, v in pairs]


def redact_path(path: str) -> str:
    """A path with a query string whose secret-named parameters are masked (``/login?token=***``)."""
    base, q, query = path.partition("?")
    if not q:
        return path
    # Work on the raw segments so that the rest of the query prints exactly as it was sent.
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        parts.append(f"{name}={mask_value(value)}" if eq and is_secret_field(unquote_plus(name)) else part)
    return f"{base}?{'&'.join(parts)}"


def _content_type(headers: list[tuple[str, str]]) -> str:
    for k, v in headers:
        if k.lower() == "content-type":
            return v.lower()
    return ""


def redact_body(headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A body with secrets masked: JSON fields and urlencoded form fields. Other bodies unchanged."""
    if not body:
        return body
    ctype = _content_type(headers)
    if "json" in ctype or body[:1] in (b"{", b"["):
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body
        return json.dumps(redact_json(parsed), ensure_ascii=False).encode()
    if "x-www-form-urlencoded" in ctype:
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
        except (ValueError, UnicodeDecodeError):
            return body
        return urlencode(redact_pairs(pairs), safe="*()").encode()
    return body


def _structured(headers: list[tuple[str, str]], body: bytes) -> bool:
    """Bodies whose secrets live in named fields (JSON, forms), which a cut body cannot show safely."""
    ctype = _content_type(headers)
    return "json" in ctype or "x-www-form-urlencoded" in ctype or body[:1] in (b"{", b"[")


def redact_request(req: Request) -> Request:
    body = req.body if req.body_truncated else redact_body(req.headers, req.body)
    return dataclasses.replace(
        req,
        query=redact_pairs(req.query),
        headers=redact_headers(req.headers),
        body=body,
        body_size=req.body_size if req.body_truncated else len(body),
    )


def redact_response(resp: Response) -> Response:
    body = resp.body if resp.body_truncated else redact_body(resp.headers, resp.body)
    return dataclasses.replace(
        resp,
        headers=redact_headers(resp.headers),
        body=body,
        body_size=resp.body_size if resp.body_truncated else len(body),
    )


def redact_exchange(ex: Exchange) -> Exchange:
    """A copy of an exchange with credentials masked in headers, query, JSON and form bodies.

    A truncated JSON body cannot be parsed, so it is dropped rather than exported half-masked.
    """
    req = redact_request(ex.request)
    resp = None if ex.response is None else redact_response(ex.response)
    if req.body_truncated and _structured(req.headers, req.body):
        req = dataclasses.replace(req, body=b"")
    if resp is not None and resp.body_truncated and _structured(resp.headers, resp.body):
        resp = dataclasses.replace(resp, body=b"")
    return dataclasses.replace(ex, request=req, response=resp, meta=dict(ex.meta))
