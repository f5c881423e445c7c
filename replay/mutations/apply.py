"""Applying a mutation to a rendered request (JSON body fields, query parameters, path parameters)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from venom_replay.proxy.infer.values import json_parent, json_set
from venom_replay.proxy.recording import Request
from venom_replay.replay.mutations.model import Mutation


class NotApplicable(ValueError):
    """The request has no such part (another variant's field, a body that is not JSON)."""


def apply_mutation(request: Request, template_path: str, mutation: Mutation) -> Request:
    """A copy of ``request`` with ``mutation`` applied; NotApplicable when it has no such part."""
    kind, _, where = mutation.location.partition(":")
    if kind == "body":
        return _body(request, where, mutation)
    if kind == "query":
        return _query(request, where, mutation)
    if kind == "path":
        return _path(request, template_path, where, mutation)
    raise NotApplicable(mutation.location)


def _body(request: Request, path: str, mutation: Mutation) -> Request:
    try:
        data = json.loads(request.body or b"null")
    except ValueError:
        raise NotApplicable(f"{mutation.location}: the body is not JSON") from None
    if mutation.kind == "drop":
        if not _json_delete(data, path):
            raise NotApplicable(mutation.location)
    elif not json_set(data, path, mutation.value):
        raise NotApplicable(mutation.location)
    body = json.dumps(data, ensure_ascii=False).encode()
    return replace(request, body=body, body_size=len(body), query=list(request.query), headers=list(request.headers))


def _json_delete(data: Any, path: str) -> bool:
    found = json_parent(data, path)
    if found is None:
        return False
    cur, last = found
    if isinstance(cur, dict) and last in cur:
        del cur[last]
        return True
    return False


def _query(request: Request, name: str, mutation: Mutation) -> Request:
    if not any(k == name for k, _ in request.query):
        raise NotApplicable(mutation.location)
    if mutation.kind == "drop":
        query = [(k, v) for k, v in request.query if k != name]
    else:
        text = mutation.value if isinstance(mutation.value, str) else json.dumps(mutation.value)
        query = [(k, text if k == name else v) for k, v in request.query]
    return replace(request, query=query, headers=list(request.headers))


def _path(request: Request, template_path: str, name: str, mutation: Mutation) -> Request:
    pattern = template_path.strip("/").split("/")
    segments = request.path.split("/")
    try:
        index = pattern.index("{" + name + "}")
    except ValueError:
        raise NotApplicable(mutation.location) from None
    # The request path may carry the target's prefix: count from its end.
    at = len(segments) - len(pattern) + index
    if at < 0 or mutation.kind == "drop":
        raise NotApplicable(mutation.location)
    segments[at] = quote(str(mutation.value), safe="")
    return replace(request, path="/".join(segments), query=list(request.query), headers=list(request.headers))
