"""The repeated-success checker on hand-built paths (pure logic): a repeat is a finding unless another
write to the same resource succeeded in between."""

from __future__ import annotations

from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.checkers.repeated_success import RepeatedSuccessChecker

RESTORE = ActionTemplate(id="POST /tasks/{task_id}/restore", method="POST", path="/tasks/{task_id}/restore",
                         statuses={200: 1})
DELETE = ActionTemplate(id="DELETE /tasks/{task_id}", method="DELETE", path="/tasks/{task_id}",
                        statuses={204: 1})
READ = ActionTemplate(id="GET /tasks/{task_id}", method="GET", path="/tasks/{task_id}",
                      statuses={200: 1})
TEMPLATES = TemplateSet({t.id: t for t in (RESTORE, DELETE, READ)}, {})


def call(tpl: ActionTemplate, task: int, status: int) -> StepResult:
    path = tpl.path.replace("{task_id}", str(task))
    return StepResult(tpl, Request(tpl.method, "http", "h", 80, path), Response(status))


def check(*steps: StepResult) -> list:
    return RepeatedSuccessChecker(TEMPLATES).check(StepContext(step=steps[-1], path=list(steps), values={},
                                                               templates=TEMPLATES))


def test_a_second_restore_with_nothing_to_undo_is_a_finding():
    [v] = check(call(DELETE, 5, 204), call(RESTORE, 5, 200), call(READ, 5, 200), call(RESTORE, 5, 200))
    assert v.signature == f"repeated-success:{RESTORE.id}"


def test_delete_restore_delete_restore_is_not():
    assert check(call(DELETE, 5, 204), call(RESTORE, 5, 200), call(DELETE, 5, 204), call(RESTORE, 5, 200)) == []


def test_a_write_to_another_resource_between_does_not_explain_the_repeat():
    [v] = check(call(DELETE, 5, 204), call(RESTORE, 5, 200), call(DELETE, 6, 204), call(RESTORE, 5, 200))
    assert v.details["resource"] == "/tasks/5/restore"
