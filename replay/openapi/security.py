"""The security schemes the recorded requests used: bearer, basic, API key headers, cookies."""

from __future__ import annotations

import re
from typing import Any

from venom_replay.proxy.recording import Request
from venom_replay.proxy.redact import is_secret_header

# Headers that name a credential but are not one the client chose to authenticate with.
_NOT_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrf-token", "x-xsrf-token"})


def request_schemes(req: Request) -> dict[str, dict[str, Any]]:
    """Scheme name -> OpenAPI security scheme, for the credentials this request carried."""
    found: dict[str, dict[str, Any]] = {}
    auth = req.header("Authorization") or ""
    kind = auth.partition(" ")[0].lower()
    if kind == "bearer":
        found["bearerAuth"] = {"type": "http", "scheme": "bearer"}
    elif kind == "basic":
        found["basicAuth"] = {"type": "http", "scheme": "basic"}
    for name, _ in req.headers:
        if is_secret_header(name) and name.lower() not in _NOT_CREDENTIALS:
            found[f"apiKey_{_ident(name)}"] = {"type": "apiKey", "in": "header", "name": name}
    for cookie in req.header_all("Cookie"):
        for pair in cookie.split(";"):
            name = pair.strip().partition("=")[0]
            if name:
                found[f"cookie_{_ident(name)}"] = {"type": "apiKey", "in": "cookie", "name": name}
    return found


def operation_security(requests: list[Request]) -> tuple[list[dict[str, list[str]]], dict[str, dict[str, Any]]]:
    """(the operation's ``security`` list, the schemes it names). Each distinct combination of
    credentials seen is one alternative; ``{}`` says that some calls carried none."""
    alternatives: list[dict[str, list[str]]] = []
    schemes: dict[str, dict[str, Any]] = {}
    for req in requests:
        found = request_schemes(req)
        schemes.update(found)
        alternative = {name: [] for name in sorted(found)}
        if alternative not in alternatives:
            alternatives.append(alternative)
    return (alternatives if any(alternatives) else []), schemes


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
