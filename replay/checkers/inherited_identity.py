"""The inherited-identity checker: something deleted and re-created under the same name or id gets
what the old one had.

- A principal (an account, a user) deleted and re-created under the same name, whose new self
  succeeds at a call that only a grant to the old self allowed (Kinto keeps the ACL entries of a
  deleted account: a new ``carol`` reads what the old one was granted). The call counts with the same
  evidence as for a revocation (see ``access_after_revoke``): it addresses what the old grant was
  about, and the recording shows the server refusing that kind of access to a principal without
  the grant. A grant to the new principal after its re-creation, or an ACL entry that names
  everyone, explains the access: no finding.
- An object re-created under a deleted object's URL whose answer (the re-create's, or a read of it
  before anything else wrote to it) shows a field value a request had sent to the old object and
  the re-create did not send, or an ACL entry a request had given on the old object and the
  re-create did not.

A name is a principal when the recording or the path uses it as one: a Basic user, or a principal
of a members list, an ACL or a permission call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venom_replay.proxy.infer.credentials import basic_credentials
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange
from venom_replay.replay.checkers.base import StepContext, StepResult, Violation
from venom_replay.replay.checkers.principals import (
    AccessChange,
    AccessTracker,
    access_class,
    caller_names,
    children_of,
    covers,
    is_acl_key,
    is_everyone,
    principal_fields,
    principal_lists,
    principal_names,
    recorded_path,
    refusal_evidence,
)
from venom_replay.replay.checkers.steps import is_delete, is_read, succeeded

__all__ = ["InheritedIdentityChecker"]


def _url(path: str) -> str:
    return "/" + "/".join(s for s in path.split("?", 1)[0].split("/") if s)


def _deleted_names(step: StepResult) -> set[str]:
    """What a delete names: the last segment of a DELETE's URL, and its principal fields (an RPC
    ``users/delete {"username": ...}``)."""
    out = set(principal_fields(step))
    if step.request.method.upper() == "DELETE":
        out.add(_url(step.request.path).rsplit("/", 1)[-1])
    return out


def _recreates(step: StepResult, deleted: StepResult, name: str) -> bool:
    """A successful create-like call for the same URL or under the same principal name."""
    if not succeeded(step) or is_read(step.template) or is_delete(step.template):
        return False
    if step.request.method.upper() not in ("POST", "PUT"):
        return False
    same_url = _url(step.request.path) == _url(deleted.request.path)
    return same_url or (name in principal_fields(step) and bool(principal_fields(deleted)))


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """Scalars of a JSON object by dotted key, lists and the ACL maps left out."""
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        return out
    for key, value in data.items():
        here = f"{prefix}{key}"
        if isinstance(value, dict):
            if not is_acl_key(f"{here}.x"):
                out.update(_flat(value, here + "."))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            out[here] = value
    return out


def _telling(value: Any) -> bool:
    """A value specific enough that finding it again is no coincidence (not 0, 1, "" or "on")."""
    if isinstance(value, str):
        return len(value) >= 3
    return isinstance(value, (int, float)) and value not in (0, 1)


class InheritedIdentityChecker:
    """A principal or object re-created under a deleted one's name gets the old one's access or data."""

    name = "inherited-identity"

    def __init__(self, tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> None:
        recorded = recorded_path(tset, exchanges or {})
        self.evidence = refusal_evidence(recorded)
        self.users = {b[0] for s in recorded if (b := basic_credentials(s.request.header("authorization"))) is not None}
        """Basic users of the recording: names that are principals."""

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step):
            return []
        path = list(ctx.path)
        tracker = AccessTracker()
        explicit_before: list[dict[tuple[str, str], set[str]]] = []
        for earlier in path[:-1]:
            explicit_before.append({k: set(v) for k, v in tracker.book.explicit.items()})
            tracker.add(earlier)
        changes = list(tracker.changes)
        if tracker.add(step):
            return []
        principals = self.users | {n for c in changes for n in c.names()}
        out = []
        for d, deleted in enumerate(path[:-1]):
            if not (succeeded(deleted) and is_delete(deleted.template)):
                continue
            for name in sorted(_deleted_names(deleted)):
                r = next((i for i in range(d + 1, len(path)) if _recreates(path[i], deleted, name)), None)
                if r is None:
                    continue
                if name in principals:
                    v = self._inherited_access(path, changes, tracker, d, r, name)
                else:
                    v = self._inherited_object(path, d, r, explicit_before[d])
                if v is not None:
                    out.append(v)
                    return out
        return out

    def _inherited_access(self, path: list[StepResult], changes: list[AccessChange], tracker: AccessTracker,
                          d: int, r: int, name: str) -> Violation | None:
        step = path[-1]
        if r == len(path) - 1 or name not in caller_names(path, len(path) - 1):
            return None
        if tracker.book.open_to_everyone(step):
            return None
        mine = {name} | set(principal_names(name))
        for grant in changes:
            if grant.kind != "grant" or grant.index >= d or not grant.concerns(mine):
                continue
            if (grant.scope.kind, access_class(step.template)) not in self.evidence:
                continue
            if not covers(grant.scope, step, tracker.book, children_of(path, grant.scope, len(path) - 1)):
                continue
            if any(c.index > r and c.kind == "grant" and c.concerns(mine) for c in changes):
                return None  # granted again to the new principal
            if any(c.index > grant.index and c.kind == "revoke" and c.concerns(mine) and c.scope.kind == grant.scope.kind
                   for c in changes):
                continue  # taken back before the delete: no longer the old one's access
            deleted, recreated = path[d], path[r]
            return Violation(
                self.name,
                f"{step.template.label} as {name} answered {step.response.status} after {deleted.template.label} deleted "
                f"{name} and {recreated.template.label} created it again: the new {name} has the old one's access "
                f"({grant.how} by {path[grant.index].template.label})",
                f"inherited-identity:{deleted.template.id}:{recreated.template.id}:{grant.scope.kind}:"
                f"{access_class(step.template)}",
                {"principal": name, "deleted_by": deleted.template.id, "recreated_by": recreated.template.id,
                 "granted_by": path[grant.index].template.id},
            )
        return None

    def _inherited_object(self, path: list[StepResult], d: int, r: int,
                          explicit: dict[tuple[str, str], set[str]]) -> Violation | None:
        step, deleted, recreated = path[-1], path[d], path[r]
        url = _url(deleted.request.path)
        if _url(step.request.path) != url or not (step is recreated or is_read(step.template)):
            return None
        if any(not is_read(s.template) and _url(s.request.path) == url for s in path[r + 1:-1]):
            return None  # written to since: what it shows may come from that
        sent_before: dict[str, Any] = {}
        for s in path[:d]:
            if succeeded(s) and not is_read(s.template) and _url(s.request.path) == url:
                sent_before.update(_flat(s.request.json()))
        sent_now = _flat(recreated.request.json())
        shown = _flat(step.response.json() if step.response is not None else None)
        kept = sorted(k for k, v in sent_before.items()
                      if k not in sent_now and _telling(v) and shown.get(k) == v and not k.rsplit(".", 1)[-1].endswith("id"))
        lists_now = principal_lists(recreated.request.json())
        creator = caller_names(path, r)
        acl = sorted(f"{key}: {m}" for key, members in principal_lists(step.response.json() if step.response else None).items()
                     if is_acl_key(key) for m in members
                     if m in explicit.get((url, key), set()) and m not in lists_now.get(key, [])
                     and not (principal_names(m) & creator) and not is_everyone(m))
        if not (kept or acl):
            return None
        what = ", ".join([*(f"{k} = {shown[k]!r}" for k in kept), *acl])
        return Violation(
            self.name,
            f"{step.template.label} shows what the deleted object had ({what}) after {deleted.template.label} deleted it "
            f"and {recreated.template.label} created it again without it",
            f"inherited-identity:object:{deleted.template.id}:{recreated.template.id}",
            {"kept_fields": kept, "kept_acl": acl, "deleted_by": deleted.template.id, "recreated_by": recreated.template.id},
        )
