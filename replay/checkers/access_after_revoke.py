"""The access-after-revoke checker: a principal's call still succeeds after its access was taken away
(an old token that remembers a role, a cached permission, an owner entry the server gave while the
principal was a member).

Who calls and what grants or revokes are come from ``principals``: Basic users, bearer tokens, API
keys and cookies; members and ACL lists in bodies that lose a principal, permission revoke calls
(``users/permissions/revoke {"username": "bob", ...}``), the delete of a membership resource, role
calls by their words (``DELETE /admins/{u}``).

Which later calls need the revoked access is decided with evidence, because a correct server lets
a removed member go on reading public data or using what is still his by other rights:
- for a revocation recognised from a body (a members or ACL list, a permission call), a call
  counts when it addresses what the revocation was about (the object of the list and everything
  below it, the objects whose ACL names the group, the revoked ids and the ids calls on them handed
  out) AND the recording shows the server refusing that kind of access (read or write) for that
  kind of revocation: a principal was refused such a call while it lacked the access (after its
  revocation, or before a grant). The recording's own refusals are the proof that the access is
  checked per principal, so a read the recording never saw refused is never reported.
  Access still given explicitly by another list (another group the principal was put in, an ACL
  entry a request named it in, or everyone) is not a finding; an owner entry the server added on
  its own when the principal created something while it had access is reported: that access came
  through the revoked grant (Kinto's "a member removed from a group keeps write access to the
  records he wrote" is reported so).
- for a role taken by a call's words (``DELETE /groups/admins/members/{u}``), writes to the same
  resource, or the templates that in the recording only sessions managing roles made or that were
  refused to others (the privileged ones).
Access that follows a grant to the principal (of the same kind, or covering the call) is expected.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    is_grant,
    is_revoke,
    recorded_path,
    refusal_evidence,
)
from venom_replay.replay.checkers.steps import WRITE_METHODS, succeeded

__all__ = ["AccessAfterRevokeChecker", "is_grant", "is_revoke"]


def _targets_of(step: StepResult) -> set[str]:
    """Whom and what a role call addresses: its path parameters and the bound values it used."""
    out: set[str] = set()
    segs = [s for s in step.request.path.split("?")[0].split("/") if s]
    pattern = [s for s in step.template.path.split("/") if s]
    if len(segs) >= len(pattern):
        out |= {seg for seg, pat in zip(segs[len(segs) - len(pattern):], pattern, strict=True) if pat.startswith("{")}
    out |= {str(u.value) for loc, u in step.consumed.items() if not loc.startswith(("header:", "cookie:"))}
    return out


def _privileged_templates(tset: TemplateSet, exchanges: Mapping[int, Exchange]) -> set[str]:
    """Writes that, in the recording, only sessions managing roles or memberships made (or that
    refused other sessions)."""
    managing = {sid for sid, steps in tset.sessions.items()
                if any((t := tset.templates.get(s.template)) is not None and (is_revoke(t) or is_grant(t)) for s in steps)}
    callers: dict[str, set[str]] = {}  # sessions the call succeeded for (status unknown: counted)
    refused_to: dict[str, set[str]] = {}  # sessions that were refused it (401/403)
    for sid, steps in tset.sessions.items():
        for s in steps:
            ex = exchanges.get(s.seq)
            status = ex.response.status if ex is not None and ex.response is not None else None
            # A refusal is evidence that the call needs a role, not that anyone may make it.
            (refused_to if status in (401, 403) else callers).setdefault(s.template, set()).add(sid)
    return {tid for tid in set(callers) | set(refused_to)
            if (t := tset.templates.get(tid)) is not None and t.method in WRITE_METHODS
            and callers.get(tid, set()) <= managing
            and (callers.get(tid) or refused_to.get(tid, set()) - managing)}


def _given_back(changes: list[AccessChange], revoke: AccessChange, names: frozenset[str], step: StepResult,
                tracker: AccessTracker, path: list[StepResult]) -> bool:
    """A grant to the principal after the revocation, of the same kind or covering the call."""
    for c in changes:
        if c.index <= revoke.index or c.kind != "grant" or not c.concerns(names):
            continue
        if c.scope.kind == revoke.scope.kind or covers(c.scope, step, tracker.book, children_of(path, c.scope, len(path))):
            return True
    return False


class AccessAfterRevokeChecker:
    """A call as principal X succeeds after a call that removed X's access to what it addresses."""

    name = "access-after-revoke"

    def __init__(self, tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> None:
        exchanges = exchanges or {}
        self.privileged = _privileged_templates(tset, exchanges)
        self.evidence = refusal_evidence(recorded_path(tset, exchanges))
        """``(scope kind, access class)``: what the recording shows refused to a principal without the access."""

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or is_revoke(step.template) or is_grant(step.template):
            return []
        path = list(ctx.path)
        tracker = AccessTracker()
        for earlier in path[:-1]:
            tracker.add(earlier)
        changes = list(tracker.changes)
        if tracker.add(step):
            return []  # the call changes access itself
        names = caller_names(path, len(path) - 1)
        if not names:
            return []
        for revoke in changes:
            if revoke.kind != "revoke" or not revoke.concerns(names) or _given_back(changes, revoke, names, step, tracker, path):
                continue
            if self._needs_access(revoke, step, tracker, path, names):
                return [self._violation(revoke, path[revoke.index], step, names)]
        return []

    def _needs_access(self, revoke: AccessChange, step: StepResult, tracker: AccessTracker, path: list[StepResult],
                      names: frozenset[str]) -> bool:
        if revoke.scope.kind.startswith("path:"):
            if step.template.method not in WRITE_METHODS:
                return False
            role_call = path[revoke.index]
            scope = _targets_of(role_call) - revoke.names()
            return bool(scope & _targets_of(step)) or step.template.id in self.privileged
        if (revoke.scope.kind, access_class(step.template)) not in self.evidence:
            return False
        if not covers(revoke.scope, step, tracker.book, children_of(path, revoke.scope, len(path) - 1)):
            return False
        return not tracker.book.granted_otherwise(names, step, set(revoke.scope.groups))

    def _violation(self, revoke: AccessChange, revoke_step: StepResult, step: StepResult, names: frozenset[str]) -> Violation:
        who = min(revoke.names() & names)
        tpl = step.template
        # One finding per revocation and kind of access, whichever call shows it: the root cause is the
        # access that survived, not each call that used it.
        signature = f"access-after-revoke:{revoke_step.template.id}:{revoke.scope.kind}:{access_class(tpl)}"
        return Violation(
            self.name,
            f"{tpl.label} as {who} answered {step.response.status} after {revoke_step.template.label} took that "
            f"access away ({revoke.how}; answered {revoke_step.response.status})",
            signature,
            {"user": who, "revoked_by": revoke_step.template.id, "revocation": revoke.how,
             "access": access_class(tpl)},
        )
