"""What a grant or revocation is about (its scope), which later calls it covers, and the members and ACL lists of objects as the path has shown them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from venom_replay.proxy.infer.bindings import norm_name
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals.callers import _scalar
from venom_replay.replay.checkers.principals.names import (
    access_class,
    is_everyone,
    principal_names,
)
from venom_replay.replay.checkers.steps import is_read, succeeded


@dataclass(frozen=True, slots=True)
class Scope:
    """What an access change is about: objects by URL (each with everything below it), objects by
    id (``("experimentid", "1")``: a request naming that id under that name), and group principals
    (object paths) whose ACL entries elsewhere extend it."""

    urls: frozenset[str] = frozenset()
    ids: frozenset[tuple[str, str]] = frozenset()
    groups: frozenset[str] = frozenset()
    kind: str = ""
    """The sort of access, comparable between the recording and a replay (``list:data.members``,
    ``field:experimentid``, ``path:/teams/{t}/members/{u}``)."""

    @property
    def empty(self) -> bool:
        return not (self.urls or self.ids or self.groups)


@dataclass(frozen=True, slots=True)
class AccessChange:
    """One step that granted or revoked access to some principals."""

    index: int
    kind: Literal["grant", "revoke"]
    principals: frozenset[str]
    """The principal strings as the call wrote them (``account:bob``, ``bob``)."""
    scope: Scope
    how: str
    """In words, for findings: ``removed from data.members of /v1/buckets/b/groups/g``."""

    def names(self) -> set[str]:
        return {n for p in self.principals for n in principal_names(p)}

    def concerns(self, names: Iterable[str]) -> bool:
        return bool(self.names() & set(names))


def _url(path: str) -> str:
    return "/" + "/".join(s for s in path.split("?", 1)[0].split("/") if s)


def url_under(url: str, base: str) -> bool:
    """``url`` is ``base`` or below it, allowing up to two segments of prefix in front of ``base``
    (``/v1/buckets/b`` is below the principal ``/buckets/b``)."""
    url, base = _url(url), _url(base)
    if base == "/":
        return False
    segs = url.split("/")[1:]
    for skip in range(3):
        here = "/" + "/".join(segs[skip:])
        if here == base or here.startswith(base + "/"):
            return True
    return False


def _request_ids(step: StepResult) -> set[tuple[str, str]]:
    """The ids a request names, by normalised field name: body and query fields (``experiment_id``,
    ``run_id``), and ``resource_type`` + ``resource_id`` pairs as ``<type>_id``."""
    out: set[tuple[str, str]] = set()
    fields: dict[str, Any] = {k: v for k, v in step.request.query}
    body = step.request.json()
    if isinstance(body, dict):
        fields.update(body)
    kind = fields.get("resource_type")
    for key, value in fields.items():
        if not _scalar(value) or isinstance(value, dict):
            continue
        name = norm_name(str(key))
        if name == "resourceid" and isinstance(kind, str) and kind:
            out.add((norm_name(f"{kind}_id"), str(value)))
        elif name.endswith("id") and name not in ("userid", "accountid"):
            out.add((name, str(value)))
    return out


def covers(scope: Scope, step: StepResult, book: ListBook | None = None, children: Iterable[tuple[str, str]] = ()) -> bool:
    """Whether ``step`` addresses something the scope is about: a URL at or below one of its
    objects (or an object whose ACL names one of its groups), or one of its ids (or an id a call on
    it handed out: a run created in the experiment)."""
    url = step.request.path
    urls = set(scope.urls)
    if book is not None and scope.groups:
        urls |= book.acl_holders(scope.groups)
    if any(url_under(url, u) for u in urls):
        return True
    ids = set(scope.ids) | set(children)
    return bool(ids) and bool(_request_ids(step) & ids)


def children_of(path: Sequence[StepResult], scope: Scope, upto: int) -> set[tuple[str, str]]:
    """Ids that successful calls on the scope's ids handed out before ``upto`` (the runs created in an
    experiment), transitively."""
    ids = set(scope.ids)
    if not ids:
        return set()
    found: set[tuple[str, str]] = set()
    for step in path[:upto]:
        if not succeeded(step) or is_read(step.template) or not (_request_ids(step) & (ids | found)):
            continue
        for name, value in _answer_ids(step.response.json() if step.response is not None else None):
            if len(value) >= 4 and (name, value) not in ids:
                found.add((name, value))
    return found


def _answer_ids(data: Any, depth: int = 0) -> Iterator[tuple[str, str]]:
    if not isinstance(data, dict) or depth > 3:
        return
    for key, value in data.items():
        name = norm_name(str(key))
        if isinstance(value, dict):
            yield from _answer_ids(value, depth + 1)
        elif _scalar(value) and name.endswith("id") and name not in ("userid", "accountid"):
            yield name, str(value)


_LIST_KEY = re.compile(r"^(members|principals|users|usernames|collaborators|readers|writers|editors|viewers|"
                       r"owners|admins|grantees|shared_?with|acl)$", re.IGNORECASE)
_ACL_PARENT = re.compile(r"^(permissions|acl|acls|access|grants|sharing)$", re.IGNORECASE)


def principal_lists(data: Any) -> dict[str, list[str]]:
    """Members and ACL lists in a JSON body, by dotted key path (``data.members``,
    ``permissions.write``): lists of strings under a members-like key or inside a permissions map."""
    out: dict[str, list[str]] = {}

    def walk(node: Any, keys: tuple[str, ...], in_acl: bool) -> None:
        if not isinstance(node, dict) or len(keys) > 4:
            return
        for key, value in node.items():
            here = (*keys, str(key))
            if isinstance(value, dict):
                walk(value, here, in_acl or bool(_ACL_PARENT.match(str(key))))
            elif (isinstance(value, list) and all(isinstance(v, str) for v in value)
                  and (in_acl or _LIST_KEY.match(str(key)))):
                out[".".join(here)] = list(value)

    walk(data, (), False)
    return out


def is_acl_key(key: str) -> bool:
    """An ACL entry (``permissions.write``) rather than a members list (``data.members``)."""
    return any(_ACL_PARENT.match(part) for part in key.split(".")[:-1])


@dataclass(slots=True)
class ListBook:
    """What the path showed of every members or ACL list: ``(object URL, key) -> principals``, and
    which of them a request put there explicitly (not the owner entry a server adds on create)."""

    known: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    explicit: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def acl_holders(self, groups: Iterable[str]) -> set[str]:
        """Objects whose ACL names one of the groups (object paths such as ``/buckets/b/groups/g``)."""
        groups = set(groups)
        return {holder for (holder, key), members in self.known.items()
                if is_acl_key(key) and any(_same_object(m, g) for m in members for g in groups)}

    def groups_of(self, names: Iterable[str], *, explicit: bool = False) -> set[str]:
        """Group objects whose members list holds one of ``names``."""
        names = set(names)
        source = self.explicit if explicit else self.known
        return {holder for (holder, key), members in source.items()
                if not is_acl_key(key) and any(principal_names(m) & names for m in members)}

    def open_to_everyone(self, step: StepResult) -> bool:
        """An ACL entry covering ``step`` names everyone (for the step's kind of access)."""
        return any(is_everyone(m) and _class_fits(key, step) for (holder, key), members in self.known.items()
                   if is_acl_key(key) and url_under(step.request.path, holder) for m in members)

    def granted_otherwise(self, names: Iterable[str], step: StepResult, exclude: set[str]) -> bool:
        """Whether an explicit ACL entry covering ``step`` still names the caller (directly, through a
        group it is an explicit member of other than ``exclude``), or everyone."""
        names = set(names)
        groups = self.groups_of(names, explicit=True) - exclude
        url = step.request.path
        for (holder, key), members in self.known.items():
            if not is_acl_key(key) or not url_under(url, holder):
                continue
            explicit = self.explicit.get((holder, key), set())
            for m in members:
                if is_everyone(m) and _class_fits(key, step):
                    return True
                if m in explicit and (principal_names(m) & names or any(_same_object(m, g) for g in groups)):
                    return True
        return False


def _class_fits(key: str, step: StepResult) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return access_class(step.template) == "read" or "read" not in last


def _same_object(principal: str, holder: str) -> bool:
    """A group principal (``/buckets/b/groups/g``) and the URL the group was seen at (``/v1/buckets/b/groups/g``)."""
    p, h = _url(principal), _url(holder)
    return p.startswith("/") and len(p) > 1 and (h == p or h.endswith(p) or p.endswith(h))


def _holder_url(step: StepResult) -> str:
    """The object whose lists a step showed: its URL, or for a create by POST the URL of the new object."""
    url = _url(step.request.path)
    if step.request.method.upper() == "POST" and step.response is not None:
        answer = step.response.json()
        data = answer.get("data", answer) if isinstance(answer, dict) else None
        if isinstance(data, dict) and _scalar(data.get("id")) and not url.endswith("/" + str(data["id"])):
            return f"{url}/{data['id']}"
    return url
