"""The delete checkers ask the template's effect, not the method, and address RPC-style resources by
the same id under the same name; a soft delete that the answer shows (``lifecycle_stage: "deleted"``)
is no violation, a restore brings the resource back.

Steps are built by hand the way the explorer hands them to checkers (``StepResult`` with the bound
values it used), so every case is one short path.
"""

from __future__ import annotations

import json
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import BoundUse, StepContext, StepResult
from venom_replay.replay.checkers.deletes import DeletedStillListedChecker, UseAfterDeleteChecker
from venom_replay.replay.checkers.steps import is_delete

ML = "/api/2.0/mlflow"
CREATE = f"POST {ML}/experiments/create"
EXP = "body:$.experiment_id"


def tpl(label: str, effect: str) -> ActionTemplate:
    method, path = label.split(" ", 1)
    response = Response(200, "", [("Content-Type", "application/json")], b'{"experiment_id": "1"}') if label == CREATE else None
    return ActionTemplate(id=label, method=method, path=path, effect=effect, example_response=response)  # type: ignore[arg-type]


TEMPLATES = {t.id: t for t in [
    tpl(CREATE, "create"),
    tpl(f"POST {ML}/experiments/delete", "delete"),
    tpl(f"POST {ML}/experiments/restore", "restore"),
    tpl(f"GET {ML}/experiments/get", "read"),
    tpl(f"POST {ML}/experiments/update", "update"),
    tpl(f"POST {ML}/experiments/search", "read"),
    tpl(f"POST {ML}/runs/search", "read"),
    tpl(f"POST {ML}/experiments/purge", "action"),  # a delete by name that the recording never showed deleting
    tpl("POST /api/3.0/mlflow/users/permissions/grant", "action"),
]}
TSET = TemplateSet(templates=TEMPLATES, sessions={})


def step(label: str, answer: Any = None, *, status: int = 200, bound: dict[str, str] | None = None) -> StepResult:
    method, path = label.split(" ", 1)
    consumed = {loc: BoundUse(CREATE, EXP, value) for loc, value in (bound or {}).items()}
    body = json.dumps(answer).encode() if answer is not None else b"{}"
    return StepResult(TEMPLATES[label], Request(method, "http", "h", 80, path),
                      Response(status, "", [("Content-Type", "application/json")], body), consumed=consumed,
                      produced={EXP: "2"} if label == CREATE else {})


def created() -> StepResult:
    return step(CREATE, {"experiment_id": "2"})


def deleted(name: str = "delete") -> StepResult:
    return step(f"POST {ML}/experiments/{name}", {}, bound={EXP: "2"})


def experiment(stage: str, exp_id: str = "2") -> dict:
    return {"experiment": {"experiment_id": exp_id, "name": "pricing", "lifecycle_stage": stage}}


def violations(checker, path: list[StepResult]) -> list[str]:
    return [v.message for v in checker.check(StepContext(step=path[-1], path=path, values={}, templates=TSET))]


def test_a_read_that_shows_a_deleted_experiment_alive_is_use_after_delete():
    read = step(f"GET {ML}/experiments/get", experiment("active"), bound={"query:experiment_id": "2"})
    found = violations(UseAfterDeleteChecker(), [created(), deleted(), read])
    assert found == [f"GET {ML}/experiments/get answered 200 for experiment_id=2 after POST {ML}/experiments/delete "
                     "deleted experiment_id=2 (answered 200)"]


def test_soft_delete_shown_by_the_answer_and_404_are_not():
    shown = step(f"GET {ML}/experiments/get", experiment("deleted"), bound={"query:experiment_id": "2"})
    gone = step(f"GET {ML}/experiments/get", {"error_code": "RESOURCE_DOES_NOT_EXIST"}, status=404, bound={"query:experiment_id": "2"})
    assert violations(UseAfterDeleteChecker(), [created(), deleted(), shown]) == []
    assert violations(UseAfterDeleteChecker(), [created(), deleted(), gone]) == []


def test_a_write_on_the_deleted_experiment_that_succeeds_is_use_after_delete():
    rename = step(f"POST {ML}/experiments/update", {}, bound={EXP: "2"})
    assert len(violations(UseAfterDeleteChecker(), [created(), deleted(), rename])) == 1
    # ... unless it was restored in between
    restore = step(f"POST {ML}/experiments/restore", {}, bound={EXP: "2"})
    assert violations(UseAfterDeleteChecker(), [created(), deleted(), restore, rename]) == []
    # ... and the id under another name (a grant's resource_id) is another resource's field
    grant = step("POST /api/3.0/mlflow/users/permissions/grant", {}, bound={"body:$.resource_id": "2"})
    assert violations(UseAfterDeleteChecker(), [created(), deleted(), grant]) == []


def test_a_read_that_is_not_about_the_deleted_object_is_no_use():
    """``runs/search`` filtered by the deleted experiment answers its runs, not the experiment."""
    search = step(f"POST {ML}/runs/search", {"runs": [{"info": {"experiment_id": "2"}}]}, bound={"body:$.experiment_ids[0]": "2"})
    assert violations(UseAfterDeleteChecker(), [created(), deleted(), search]) == []


def test_the_effect_decides_what_a_delete_is_not_the_name():
    purge = deleted("purge")
    assert not is_delete(purge.template)
    read = step(f"GET {ML}/experiments/get", experiment("active"), bound={"query:experiment_id": "2"})
    assert violations(UseAfterDeleteChecker(), [created(), purge, read]) == []
    assert is_delete(ActionTemplate(id="x", method="DELETE", path="/x/{id}"))  # hand-built, no effect learned
    assert not is_delete(ActionTemplate(id="x", method="DELETE", path="/x/{id}", effect="update"))


def test_a_listing_that_shows_the_deleted_experiment_alive_is_deleted_still_listed():
    listing = {"experiments": [experiment("active", "1")["experiment"], experiment("active")["experiment"]]}
    search = step(f"POST {ML}/experiments/search", listing)
    assert violations(DeletedStillListedChecker(TSET), [created(), deleted(), search]) == [
        f"POST {ML}/experiments/search still lists experiment_id=2 after POST {ML}/experiments/delete deleted it (answered 200)"]
    shown = {"experiments": [experiment("active", "1")["experiment"], experiment("deleted")["experiment"]]}
    assert violations(DeletedStillListedChecker(TSET), [created(), deleted(), step(f"POST {ML}/experiments/search", shown)]) == []
    restore = step(f"POST {ML}/experiments/restore", {}, bound={EXP: "2"})
    assert violations(DeletedStillListedChecker(TSET), [created(), deleted(), restore, search]) == []
