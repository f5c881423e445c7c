"""Built-in checkers: sequence bugs that need no user-written invariant.

Each looks at the step just executed and the path that led to it (``StepContext``) and returns
violations whose ``signature`` names one root cause (checker + templates involved), so the explorer
reports it once however many paths hit it.

Care against false positives, because a tool that cries wolf gets switched off:
- resources are identified by the bound values in request *paths* (``/orders/{order_id}``), never by
  body fields, so ordering a product is not "use" of it;
- a repeated state-changing call is only suspicious for action calls on one resource (``POST
  /orders/{id}/refund``), not for creates, idempotent PUTs or PATCHes, and never when the recording
  itself shows the same call succeeding twice on one resource;
- anything the recorded sessions do themselves is suppressed by the explorer's confirmation phase.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.recording import Exchange
from venom_replay.proxy.redact import is_secret_header
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet

from venom_replay.replay.checkers.base import BoundUse, Checker, StepContext, StepResult, Violation

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def ok(step: StepResult) -> bool:
    return step.response is not None and 200 <= step.response.status < 300


def is_delete(step: StepResult) -> bool:
    return step.template.method == "DELETE" or step.template.effect == "delete"


def path_resources(step: StepResult) -> dict[str, BoundUse]:
    """Bound values used in the request path, by parameter name, in path order."""
    return {loc[len("path:"):]: use for loc, use in step.consumed.items() if loc.startswith("path:")}


def resource_key(use: BoundUse) -> tuple[str, str, str]:
    return (use.producer, use.source, str(use.value))


def deleted_resource(step: StepResult) -> BoundUse | None:
    """What a successful DELETE removed: the binding of its last path parameter."""
    params = step.template.params
    bound = path_resources(step)
    for name in reversed(params):
        if name in bound:
            return bound[name]
    return None


def _describe(use: BoundUse, name: str) -> str:
    return f"{name}={use.value}"


# ------------------------------------------------------------------ server errors


class ServerErrorChecker:
    name = "server-error"

    def check(self, ctx: StepContext) -> list[Violation]:
        resp = ctx.step.response
        if resp is None or resp.status < 500:
            return []
        tpl = ctx.step.template
        # The first words of the body: JSON as is, an HTML error page without its tags.
        text = re.sub(r"<[^>]+>", " ", resp.body[:2000].decode("utf-8", "replace"))
        snippet = " ".join(text.split())[:120]
        return [Violation(self.name, f"{tpl.label} answered {resp.status} {resp.reason}".rstrip() + (f": {snippet}" if snippet else ""),
                          f"server-error:{tpl.id}:{resp.status}", {"status": resp.status})]


# ------------------------------------------------------------------ shape


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for p in parts:
        out += "[*]" if isinstance(p, int) else f".{p}"
    return out


class ShapeChecker:
    """A 2xx answer whose JSON no longer matches the recorded schema (types, required fields), or a
    status class (2xx/3xx) the recording never showed for this template."""

    name = "shape"
    _KEPT = frozenset({"type", "required"})

    _MEMO_LIMIT = 4096

    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}
        # Exploration sees the same answer many times (equal states reached by other paths): the
        # problems found in one body are remembered per template instead of validated again.
        self._memo: dict[tuple[str, int, bytes], dict[str, str]] = {}

    def _validator(self, tpl: ActionTemplate) -> Any:
        if tpl.id not in self._validators:
            try:
                cls = jsonschema.validators.validator_for(tpl.response_schema)
                self._validators[tpl.id] = cls(tpl.response_schema)
            except Exception:  # an unusable schema checks nothing
                self._validators[tpl.id] = None
        return self._validators[tpl.id]

    def check(self, ctx: StepContext) -> list[Violation]:
        step, tpl = ctx.step, ctx.step.template
        resp = step.response
        if resp is None or resp.status >= 400:
            return []
        recorded_classes = {s // 100 for s in tpl.statuses}
        if recorded_classes and resp.status // 100 not in recorded_classes and resp.status // 100 in (2, 3):
            return [Violation(self.name, f"{tpl.label} answered {resp.status}; the recording only shows "
                              f"{', '.join(str(s) for s in sorted(tpl.statuses))}",
                              f"shape:status:{tpl.id}:{resp.status // 100}xx", {"status": resp.status})]
        if resp.status // 100 != 2 or not tpl.response_schema:
            return []
        data = resp.json()
        if data is None:
            if resp.body and not resp.body_truncated:
                return [Violation(self.name, f"{tpl.label} answered {resp.status} with a body that is not JSON "
                                  f"({resp.header('content-type') or 'no content type'}); the recording had JSON",
                                  f"shape:not-json:{tpl.id}")]
            return []
        memo_key = (tpl.id, resp.status, hashlib.blake2b(resp.body, digest_size=16).digest())
        problems = self._memo.get(memo_key)
        if problems is None:
            problems = self._problems(tpl, data)
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = problems
        return [Violation(self.name, f"{tpl.label} answered {resp.status} but {where} no longer matches the recorded shape: {msg}",
                          f"shape:{tpl.id}:{where}", {"path": where}) for where, msg in sorted(problems.items())]

    def _problems(self, tpl: ActionTemplate, data: Any) -> dict[str, str]:
        """Where ``data`` breaks the recorded schema (types, required fields), volatile paths left out."""
        problems: dict[str, str] = {}
        validator = self._validator(tpl)
        if validator is None:
            return problems
        volatile = {re.sub(r"\[\d+\]", "[*]", v) for v in tpl.volatile}
        for err in validator.iter_errors(data):
            if err.validator not in self._KEPT:
                continue
            where = _json_path(err.absolute_path)
            if err.validator == "required":
                missing = re.findall(r"'([^']+)' is a required property", err.message)
                where = f"{where}.{missing[0]}" if missing else where
            if where in volatile or any(where.startswith(v + ".") or where.startswith(v + "[") for v in volatile):
                continue
            problems.setdefault(where, err.message[:160])
        return problems


# ------------------------------------------------------------------ use after delete, still listed


def _deletes_before(path: list[StepResult]) -> list[tuple[int, StepResult, BoundUse]]:
    """Successful deletes on the path (excluding the last step) with the resource each removed, as
    long as no later step produced the same value again (re-created it)."""
    out = []
    for i, step in enumerate(path[:-1]):
        if not (ok(step) and is_delete(step)):
            continue
        gone = deleted_resource(step)
        if gone is None:
            continue
        recreated = any(
            s.template.id == gone.producer and str(s.produced.get(gone.source)) == str(gone.value) and ok(s)
            for s in path[i + 1:-1]
        )
        if not recreated:
            out.append((i, step, gone))
    return out


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class UseAfterDeleteChecker:
    """A read or write of a resource answers 2xx after a DELETE of that resource succeeded.

    The resource is the deleted URL: a later call on that URL or below it (``/orders/5``,
    ``/orders/5/pay``) touches it; a PUT to the very URL re-creates it and is fine.
    """

    name = "use-after-delete"

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not ok(step) or not step.template.params:
            return []
        path = list(ctx.path)
        out = []
        for i, deleter, gone in _deletes_before(path):
            url = deleter.request.path
            if not _under(step.request.path, url) or deleter.template.id == step.template.id:
                continue  # another resource; or the same DELETE again, which may answer 204 by design
            if step.template.method in ("PUT", "POST") and step.request.path == url:
                continue  # PUT to the deleted URL re-creates it
            if any(ok(s) and s.template.method in ("PUT", "POST") and s.request.path == url for s in path[i + 1:-1]):
                continue  # re-created in between
            out.append(Violation(
                self.name,
                f"{step.template.label} answered {step.response.status} for {step.request.path} after "
                f"{deleter.template.label} deleted {url} (answered {deleter.response.status})",
                f"use-after-delete:{deleter.template.id}:{step.template.id}",
                {"resource": url, "deleted_by": deleter.template.id},
            ))
        return out


def _dicts_in_lists(data: Any, depth: int = 0) -> Iterable[dict]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                yield item
            yield from _dicts_in_lists(item, depth + 1)
    elif isinstance(data, dict):
        for value in data.values():
            yield from _dicts_in_lists(value, depth + 1)


def _id_key(source: str) -> str:
    """The field name an object's own id sits under, judged from where the producer read it."""
    kind, _, where = source.partition(":")
    if kind == "body":
        last = re.split(r"[.\[\]']+", where.strip("$"))
        names = [p for p in last if p and not p.isdigit() and p != "*"]
        if names:
            return names[-1]
    return "id"


class DeletedStillListedChecker:
    """A successful listing still holds an object that a successful DELETE removed."""

    name = "deleted-still-listed"

    def __init__(self, tset: TemplateSet) -> None:
        self.tset = tset

    def _producer_keys(self, producer: str) -> set[str]:
        tpl = self.tset.templates.get(producer)
        data = tpl.example_response.json() if tpl is not None and tpl.example_response is not None else None
        return set(data) if isinstance(data, dict) else set()

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not ok(step) or step.template.method != "GET":
            return []
        data = step.response.json()
        if not isinstance(data, (dict, list)):
            return []
        mine = {resource_key(u) for u in path_resources(step).values()}
        out = []
        for _, deleter, gone in _deletes_before(list(ctx.path)):
            if resource_key(gone) in mine:
                continue  # reading the resource itself is use-after-delete, not a listing
            key = _id_key(gone.source)
            like = self._producer_keys(gone.producer)
            for item in _dicts_in_lists(data):
                if str(item.get(key)) != str(gone.value):
                    continue
                # The listed object must look like the deleted kind of object, not a namesake id.
                if like and len(like & set(item)) < max(1, len(like) // 2):
                    continue
                out.append(Violation(
                    self.name,
                    f"{step.template.label} still lists {key}={gone.value} after {deleter.template.label} deleted it "
                    f"(answered {deleter.response.status})",
                    f"deleted-still-listed:{deleter.template.id}:{step.template.id}",
                    {"resource": str(gone.value), "deleted_by": deleter.template.id},
                ))
                break
        return out


# ------------------------------------------------------------------ repeated success


def recorded_repeats(tset: TemplateSet, exchanges: Mapping[int, Exchange]) -> tuple[set[str], set[str]]:
    """Templates the recording shows succeeding twice on one resource, and ones whose repeat failed."""
    ok_twice: set[str] = set()
    failed_again: set[str] = set()
    for steps in tset.sessions.values():
        seen: dict[tuple[str, str], bool] = {}
        for st in steps:
            ex = exchanges.get(st.seq)
            tpl = tset.templates.get(st.template)
            if ex is None or ex.response is None or tpl is None:
                continue
            params = path_params(tpl.path, ex.request.path)
            key = (tpl.id, repr(sorted((params or {}).items())))
            success = 200 <= ex.response.status < 300
            if key in seen and seen[key]:
                (ok_twice if success else failed_again).add(tpl.id)
            seen[key] = seen.get(key, False) or success
    return ok_twice, failed_again


class RepeatedSuccessChecker:
    """A state-changing call on one resource succeeds again where once is the only sane outcome
    (double refund, double cancel, paying twice)."""

    name = "repeated-success"

    def __init__(self, tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> None:
        self.ok_twice, self.failed_again = recorded_repeats(tset, exchanges or {})

    def suspicious(self, tpl: ActionTemplate) -> bool:
        if tpl.id in self.ok_twice or tpl.method not in _WRITE_METHODS or not tpl.params:
            return False
        if tpl.id in self.failed_again:
            return True  # the recording shows the second call failing
        # Only "actions" on one resource: creates make new things, PUT/PATCH/DELETE may be idempotent.
        if tpl.method != "POST" or tpl.effect == "create" or 201 in tpl.statuses:
            return False
        return True

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not ok(step) or not self.suspicious(step.template):
            return []
        for earlier in list(ctx.path)[:-1]:
            if earlier.template.id == step.template.id and ok(earlier) and earlier.request.path == step.request.path:
                return [Violation(
                    self.name,
                    f"{step.template.label} succeeded twice on the same resource ({step.request.path}): "
                    f"{earlier.response.status} then {step.response.status}",
                    f"repeated-success:{step.template.id}",
                    {"resource": step.request.path},
                )]
        return []


# ------------------------------------------------------------------ access after revoke

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
    if tpl.method == "DELETE" and _membership_target(tpl):
        return True
    segs = _literal_segments(tpl)
    return tpl.method in ("POST", "PUT", "PATCH") and bool(segs) and bool(_REVOKE_WORD.search(segs[-1]))


def is_grant(tpl: ActionTemplate) -> bool:
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


class AccessAfterRevokeChecker:
    """A write as user X succeeds after a call that removed X's role or membership.

    Which writes need the role: for a membership of one resource (``DELETE /teams/{t}/members/{u}``),
    writes to that same resource; for a global role, the templates that, in the recording, only
    sessions managing roles or memberships ever called (the privileged ones).
    """

    name = "access-after-revoke"

    def __init__(self, tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> None:
        self.privileged = self._privileged_templates(tset, exchanges or {})

    @staticmethod
    def _privileged_templates(tset: TemplateSet, exchanges: Mapping[int, Exchange]) -> set[str]:
        managing = {sid for sid, steps in tset.sessions.items()
                    if any((t := tset.templates.get(s.template)) is not None and (is_revoke(t) or is_grant(t)) for s in steps)}
        callers: dict[str, set[str]] = {}  # sessions the call succeeded for (status unknown: counted)
        refused: dict[str, set[str]] = {}  # sessions that were refused it (401/403)
        for sid, steps in tset.sessions.items():
            for s in steps:
                ex = exchanges.get(s.seq)
                status = ex.response.status if ex is not None and ex.response is not None else None
                if status in (401, 403):
                    # A refusal is evidence that the call needs a role, not that anyone may make it.
                    refused.setdefault(s.template, set()).add(sid)
                else:
                    callers.setdefault(s.template, set()).add(sid)
        return {tid for tid in set(callers) | set(refused)
                if (t := tset.templates.get(tid)) is not None and t.method in _WRITE_METHODS
                and callers.get(tid, set()) <= managing
                and (callers.get(tid) or refused.get(tid, set()) - managing)}

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        tpl = step.template
        if not ok(step) or tpl.method not in _WRITE_METHODS or is_revoke(tpl) or is_grant(tpl):
            return []
        path = list(ctx.path)
        creds = _credentials(step)
        if not creds:
            return []
        origin = _identity_origin(path, len(path) - 1, creds)
        if origin is None:
            return []
        identity = _values_of(origin) - set(creds)
        for i, revoke in enumerate(path[:-1]):
            if not (ok(revoke) and is_revoke(revoke.template)):
                continue
            who = identity & _targets_of(revoke)
            if not who:
                continue
            if any(ok(s) and is_grant(s.template) and identity & _targets_of(s) for s in path[i + 1:-1]):
                continue  # the role or membership was given back
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


# ------------------------------------------------------------------ the default set


def builtin_checkers(tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> list[Checker]:
    return [
        ServerErrorChecker(),
        ShapeChecker(),
        UseAfterDeleteChecker(),
        DeletedStillListedChecker(tset),
        RepeatedSuccessChecker(tset, exchanges),
        AccessAfterRevokeChecker(tset, exchanges),
    ]
