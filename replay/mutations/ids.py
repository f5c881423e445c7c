"""Ids that belong to something else, for a path parameter: another resource kind's, another identity's.

RESTler's use-after-free and resource-hierarchy checkers need a spec to know which id is which; the
recording already says it: each create answer's id, the kind of thing it created (the collection it
was posted to) and who created it (the request's credential).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.infer.credentials import credential_of
from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.recording import Request, Response


@dataclass(frozen=True, slots=True)
class CreatedId:
    value: Any
    kind: str
    """The collection it was created in (``/posts``), or the creating call's path."""
    creator: str | None
    """The credential of the request that created it (None: anonymous)."""
    label: str
    """The creating call (``POST /posts``)."""


def _answer_id(data: Any) -> Any:
    """The id a create answer names: ``id`` at the top, or inside a ``data`` wrapper (Kinto)."""
    for obj in (data, data.get("data") if isinstance(data, dict) else None):
        if isinstance(obj, dict) and isinstance(obj.get("id"), (str, int)) and not isinstance(obj.get("id"), bool):
            return obj["id"]
    return None


def created_ids(exchanges: Iterable[tuple[ActionTemplate, Request, Response]]) -> list[CreatedId]:
    """Every id a recorded 2xx create answer handed out, with its kind and creator."""
    out = []
    for tpl, request, response in exchanges:
        if tpl.effect != "create" or not 200 <= response.status < 300:
            continue
        value = _answer_id(response.json())
        if value is not None:
            out.append(CreatedId(value, collection_of(tpl.path), credential_of(request), tpl.label))
    return out


def collection_of(path: str) -> str:
    """``/posts/{post_id}`` and ``/posts`` -> ``/posts``: the collection a path addresses."""
    parts = path.rstrip("/").split("/")
    while parts and parts[-1].startswith("{"):
        parts.pop()
    return "/".join(parts) or "/"


def param_kind(template: ActionTemplate, name: str) -> str:
    """The collection path parameter ``name`` of ``template`` picks from (the path up to it)."""
    parts = template.path.split("/")
    cut = parts.index("{" + name + "}") if "{" + name + "}" in parts else len(parts)
    return "/".join(parts[:cut]) or "/"


def other_kind_ids(template: ActionTemplate, name: str, created: Iterable[CreatedId]) -> Iterator[CreatedId]:
    """Ids of things of another kind than the one ``name`` addresses (a comment's id as a post's).
    Only ids that cannot also name a thing of the right kind: small integers count up in every table,
    so a product's 1 is also an order's 1, and sending it would only repeat an unmutated call."""
    created = list(created)
    kind = param_kind(template, name)
    own = {str(item.value) for item in created if item.kind == kind}
    seen: set[str] = set()
    for item in created:
        if item.kind == kind or item.kind in seen or isinstance(item.value, int) or str(item.value).isdigit():
            continue
        if str(item.value) not in own:
            seen.add(item.kind)
            yield item


def other_identity_ids(template: ActionTemplate, name: str, request: Request,
                       created: Iterable[CreatedId]) -> Iterator[CreatedId]:
    """Ids of the same kind that another identity created than the one ``request`` is sent as."""
    kind, caller = param_kind(template, name), credential_of(request)
    for item in created:
        if item.kind == kind and item.creator is not None and item.creator != caller:
            yield item
