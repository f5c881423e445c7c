"""The repeated-success checker: an action on one resource that succeeds twice (double refund,
double cancel, paying twice).

Care against false positives: a repeat is only suspicious for action calls on one resource (``POST
/orders/{id}/refund``), not for creates, idempotent PUTs or PATCHes, and never when the recording
itself shows the same call succeeding twice on one resource, nor when another write to the same
resource succeeded in between (delete, restore, delete, restore); when the recording shows the second
call failing, any write that repeats is suspicious.
"""

from __future__ import annotations

from collections.abc import Mapping

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Exchange

from venom_replay.replay.checkers.base import StepContext, StepResult, Violation
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


def _segments(path: str) -> list[str]:
    return [seg for seg in path.split("?")[0].split("/") if seg]


def _changed_between(between: list[StepResult], step: StepResult) -> bool:
    """Another call succeeded in writing the same resource between the two (its path carries every id
    of the repeated call's path), so the second success may be as legitimate as the first."""
    ids = set((path_params(step.template.path, step.request.path) or {}).values())
    if not ids:
        return False
    return any(s.template.id != step.template.id and s.template.method in WRITE_METHODS and succeeded(s)
               and ids <= set(_segments(s.request.path)) for s in between)


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
        path = list(ctx.path)
        for i, earlier in enumerate(path[:-1]):
            if earlier.template.id == step.template.id and succeeded(earlier) and earlier.request.path == step.request.path:
                if _changed_between(path[i + 1:-1], step):
                    continue  # delete, restore, delete, restore: each restore had something to undo
                return [Violation(
                    self.name,
                    f"{step.template.label} succeeded twice on the same resource ({step.request.path}): "
                    f"{earlier.response.status} then {step.response.status}",
                    f"repeated-success:{step.template.id}",
                    {"resource": step.request.path},
                )]
        return []
