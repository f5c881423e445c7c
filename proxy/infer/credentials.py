"""Credentials in requests: who is calling, and which request fields set a password.

Shared by the grouping into flow sessions (a credential is a session), the request variants (one
example per caller) and the identity bindings (a Basic password set by an earlier request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from venom_replay.proxy.infer.values import json_path_keys, parse_cookie_header
from venom_replay.proxy.recording import Request
from venom_replay.proxy.redact import is_secret_header

AUTH_COOKIE_RE = re.compile(r"sess|sid|auth|token|jwt|login|user|remember", re.I)
"""Cookies that identify a login, by name; other cookies (theme, csrf) change without a new identity."""
_NOT_CREDENTIAL_HEADERS = frozenset({"cookie", "set-cookie", "proxy-authorization", "x-csrf-token", "x-xsrf-token"})
_PASSWORD_FIELD = re.compile(r"pass(word|wd|phrase)?$|^pwd$|(^|_)pwd$|secret$|api_?key$", re.I)
_OLD_PASSWORD_FIELD = re.compile(r"(current|old|previous|existing|confirm)", re.I)
MIN_PASSWORD = 3
"""Shorter passwords (``pw``) are shared by everyone in test traffic: they say nothing about who."""


def auth_cookies(cookie_pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The login cookies among a request's cookies (all of them when none has a login-like name)."""
    pairs = list(cookie_pairs)
    named = [(k, v) for k, v in pairs if AUTH_COOKIE_RE.search(k)]
    return sorted(named or pairs)


@lru_cache(maxsize=4096)
def short_hash(value: str) -> str:
    """A hash, not the credential itself: session ids are printed in summaries and reports."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@lru_cache(maxsize=1024)
def is_credential_header(lname: str) -> bool:
    """A (lower-case) request header name that carries a credential of its own: an API key, a token."""
    return lname not in _NOT_CREDENTIAL_HEADERS and is_secret_header(lname)


def credential_of(req: Request) -> str | None:
    """The credential a request carries, as a stable key: its Authorization, API-key header or login cookies."""
    cookies: list[tuple[str, str]] = []
    for name, value in req.headers:
        lname = name.lower()
        if lname == "authorization" and value:
            return "authorization:" + value
        if lname == "cookie":
            cookies.extend(parse_cookie_header(value))
        elif value and is_credential_header(lname):
            return f"{lname}:{value}"
    if cookies:
        logins = [(k, v) for k, v in cookies if AUTH_COOKIE_RE.search(k)]
        if logins:
            return "cookie:" + "; ".join(f"{k}={v}" for k, v in sorted(logins))
    return None


def basic_credentials(value: str | None) -> tuple[str, str] | None:
    """``Basic dXNlcjpwdw==`` -> ``("user", "pw")``; None for anything else."""
    if not value:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def password_fields(values: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """``(location, value)`` of the fields that set a password or key (``password``, ``new_password``,
    ``api_key``), the new one first; ``current_password`` and ``old_password`` prove one, they set none."""
    out = []
    for loc, value in values:
        if not isinstance(value, str) or not value or loc.startswith(("header:", "cookie:")):
            continue
        name = field_name(loc)
        if name and _PASSWORD_FIELD.search(name) and not _OLD_PASSWORD_FIELD.search(name):
            out.append((loc, value))
    out.sort(key=lambda lv: "new" not in field_name(lv[0]).lower())
    return out


def field_name(loc: str) -> str:
    kind, _, where = loc.partition(":")
    if kind == "body":
        keys = json_path_keys(where)
        return keys[-1] if keys else ""
    return where
