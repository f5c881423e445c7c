"""The access-after-revoke checker: a user's write still succeeds after their role or membership
was taken away (an old token that remembers a role, a cached permission).

Nothing in a template says "revoke" or "needs a role", so both are judged from the recording: a
revoke or grant by the words of its path (``DELETE /teams/{t}/members/{u}``, ``POST .../demote``),
the user by the values of the response that handed out the caller's credential, and the writes that
need a role by who called them in the recorded sessions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Exchange
from venom_replay.proxy.redact import is_secret_header

from venom_replay.replay.checkers.base import StepContext, StepResult, Violation
from venom_replay.replay.checkers.steps import WRITE_METHODS, succeeded

__all__ = ["AccessAfterRevokeChecker", "is_grant", "is_revoke"]

_MEMBERSHIP_WORD = re.compile(r"member|role|admin|permission|collaborator|grant|access|share", re.I)
_REVOKE_WORD = re.compile(r"revoke|remove|demote|ban|suspend|disable|leave|kick|expel", re.I)
_GRANT_WORD = re.compile(r"grant|promote|invite|join|enable", re.I)


def _literal_segments(tpl: ActionTemplate) -> list[str]:
    return [seg for seg in tpl.path.split("/") if seg and not seg.startswith("{")]


def _membership_target(tpl: ActionTemplate) -> bool:
    """The call addresses a membership or role (``/teams/{t}/members/{u}``, ``/groups/admins/members/{u}``)."""
    segs = _literal_segments(tpl)
    return bool(segs) and bool(_MEMBERSHIP_WORD.search(segs[-1])) and bool(tpl.params)


def is_revoke(tpl: ActionTemplate) -> bool:
    """The call takes a role or membership away."""
    if tpl.method == "DELETE" and _membership_target(tpl):
        return True
    segs = _literal_segments(tpl)
    return tpl.method in ("POST", "PUT", "PATCH") and bool(segs) and bool(_REVOKE_WORD.search(segs[-1]))


def is_grant(tpl: ActionTemplate) -> bool:
    """The call gives a role or membership."""
    if is_revoke(tpl) or tpl.method not in ("PUT", "POST", "PATCH"):
        return False
    segs = _literal_segments(tpl)
    return bool(segs) and (bool(_MEMBERSHIP_WORD.search(segs[-1])) or bool(_GRANT_WORD.search(segs[-1])))


def _credentials(step: StepResult) -> list[str]:
    return [v for k, v in step.request.headers if is_secret_header(k) or k.lower() == "cookie"]


def _identity_origin(path: list[StepResult], upto: int, creds: list[str]) -> StepResult | None:
    """The latest step before ``upto`` whose response produced the caller's credential."""
    for s in reversed(path[:upto]):
        for value in s.produced.values():
            text = str(value)
            if len(text) >= 8 and any(text in c for c in creds):
                return s
    return None


def _values_of(step: StepResult) -> set[str]:
    """Scalars the identity's origin answered with (its token, user id, role...), top level and one down."""
    out = {str(v) for v in step.produced.values() if not isinstance(v, (dict, list))}
    data = step.response.json() if step.response is not None else None
    items = list(data.items()) if isinstance(data, dict) else []
    for _, value in list(items):
        if isinstance(value, dict):
            items.extend(value.items())
    out |= {str(v) for _, v in items if isinstance(v, (str, int)) and not isinstance(v, bool)}
    return out


def _caller_identity(path: list[StepResult]) -> set[str]:
    """Values that name the last step's caller (user id, name...), read from the answer that handed
    out its credential; empty when the credential came from no step on the path."""
    creds = _credentials(path[-1])
    if not creds:
        return set()
    origin = _identity_origin(path, len(path) - 1, creds)
    if origin is None:
        return set()
    return _values_of(origin) - set(creds)


def _targets_of(step: StepResult) -> set[str]:
    """Whom a revoke addresses: the values in its path parameters and the bound values it used."""
    params = {}
    segs = [s for s in step.request.path.split("?")[0].split("/") if s]
    pattern = [s for s in step.template.path.split("/") if s]
    if len(segs) >= len(pattern):  # the target may add a path prefix in front
        params = path_params("/" + "/".join(pattern), "/" + "/".join(segs[len(segs) - len(pattern):])) or {}
    out = {str(v) for v in params.values()}
    out |= {str(u.value) for loc, u in step.consumed.items() if not loc.startswith("header:") and not loc.startswith("cookie:")}
    return out


def _still_revoked(path: list[StepResult], i: int, identity: set[str]) -> set[str]:
    """Who of ``identity`` step ``i`` successfully revoked, unless a later grant (before the last
    step) gave it back."""
    revoke = path[i]
    if not (succeeded(revoke) and is_revoke(revoke.template)):
        return set()
    who = identity & _targets_of(revoke)
    if who and any(succeeded(s) and is_grant(s.template) and identity & _targets_of(s) for s in path[i + 1:-1]):
        return set()  # the role or membership was given back
    return who


def _privileged_templates(tset: TemplateSet, exchanges: Mapping[int, Exchange]) -> set[str]:
    """Writes that, in the recording, only sessions managing roles or memberships made (or that
    refused other sessions)."""
    managing = {sid for sid, steps in tset.sessions.items()
                if any((t := tset.templates.get(s.template)) is not None and (is_revoke(t) or is_grant(t)) for s in steps)}
    callers: dict[str, set[str]] = {}  # sessions the call succeeded for (status unknown: counted)
    refused: dict[str, set[str]] = {}  # sessions that were refused it (401/403)
    for sid, steps in tset.sessions.items():
        for s in steps:
            ex = exchanges.get(s.seq)
            status = ex.response.status if ex is not None and ex.response is not None else None
            # A refusal is evidence that the call needs a role, not that anyone may make it.
            (refused if status in (401, 403) else callers).setdefault(s.template, set()).add(sid)
    return {tid for tid in set(callers) | set(refused)
            if (t := tset.templates.get(tid)) is not None and t.method in WRITE_METHODS
            and callers.get(tid, set()) <= managing
            and (callers.get(tid) or refused.get(tid, set()) - managing)}


class AccessAfterRevokeChecker:
    """A write as user X succeeds after a call that removed X's role or membership.

    Which writes need the role: for a membership of one resource (``DELETE /teams/{t}/members/{u}``),
    writes to that same resource; for a global role, the templates that, in the recording, only
    sessions managing roles or memberships ever called (the privileged ones).
    """

    name = "access-after-revoke"

    def __init__(self, tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> None:
        self.privileged = _privileged_templates(tset, exchanges or {})

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        tpl = step.template
        if not succeeded(step) or tpl.method not in WRITE_METHODS or is_revoke(tpl) or is_grant(tpl):
            return []
        path = list(ctx.path)
        identity = _caller_identity(path)
        for i, revoke in enumerate(path[:-1]):
            who = _still_revoked(path, i, identity)
            if not who:
                continue
            scope = _targets_of(revoke) - who
            if not ((scope and scope & _targets_of(step)) or tpl.id in self.privileged):
                continue
            return [Violation(
                self.name,
                f"{tpl.label} as the user {sorted(who)[0]} answered {step.response.status} after "
                f"{revoke.template.label} removed that user's role or membership (answered {revoke.response.status})",
                f"access-after-revoke:{revoke.template.id}:{tpl.id}",
                {"user": sorted(who)[0], "revoked_by": revoke.template.id},
            )]
        return []
