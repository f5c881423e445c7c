"""The repeated-success checker: an action on one resource that succeeds twice (double refund,
double cancel, paying twice).

Care against false positives: a repeat is only suspicious for action calls on one resource (``POST
/orders/{id}/refund``), not for creates, idempotent PUTs or PATCHes, and never when the recording
itself shows the same call succeeding twice on one resource; when the recording shows the second
call failing, any write that repeats is suspicious.
"""

from __future__ import annotations

from collections.abc import Mapping

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Exchange

from venom_replay.replay.checkers.base import StepContext, Violation
from venom_replay.replay.checkers.steps import WRITE_METHODS, succeeded

__all__ = ["RepeatedSuccessChecker", "recorded_repeats"]


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
        if tpl.id in self.ok_twice or tpl.method not in WRITE_METHODS or not tpl.params:
            return False
        if tpl.id in self.failed_again:
            return True  # the recording shows the second call failing
        # Only "actions" on one resource: creates make new things, PUT/PATCH/DELETE may be idempotent.
        if tpl.method != "POST" or tpl.effect == "create" or 201 in tpl.statuses:
            return False
        return True

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or not self.suspicious(step.template):
            return []
        for earlier in list(ctx.path)[:-1]:
            if earlier.template.id == step.template.id and succeeded(earlier) and earlier.request.path == step.request.path:
                return [Violation(
                    self.name,
                    f"{step.template.label} succeeded twice on the same resource ({step.request.path}): "
                    f"{earlier.response.status} then {step.response.status}",
                    f"repeated-success:{step.template.id}",
                    {"resource": step.request.path},
                )]
        return []
