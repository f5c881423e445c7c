"""The resurrection checker: a task used or restored while its project is deleted.

End to end: the projects-and-tasks API (tests/apps/nested_api.py, on SQLite in its own process) is
driven by a client through the real recording proxy (with ``--db``: exploration starts where the
recording started), then explored with the real CLI and rollback. The recording holds none of the
bug sequences: no task is touched while its project is deleted. Each planted bug must be found with
the shortest sequence that shows it, and the correct twin must give no finding at all.

Then pure-logic cases on hand-built steps: where parents and children come from (paths, bodies,
creates), and what must not be reported (a restored parent, a moved child, 404 answers, a child kind
the recording itself uses after its parent's delete).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import BoundUse, StepContext, StepResult
from venom_replay.replay.checkers.resurrection import (
    ResurrectionChecker,
    children_of,
    recorded_containment,
)

CREATE_PROJECT, CREATE_TASK, DELETE_PROJECT = "POST /projects", "POST /tasks", "DELETE /projects/{project_id}"


def drive(url: str) -> None:
    """What a client of the API does: no task is touched while its project is deleted."""
    s = requests.Session()
    s.headers["X-Venom-Session"] = "alice"

    def call(method: str, path: str, expect: int, body: dict | None = None) -> dict:
        r = s.request(method, url + path, json=body, timeout=10)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else {}

    alpha = call("POST", "/projects", 201, {"name": "alpha"})["id"]
    call("GET", f"/projects/{alpha}", 200)
    task = call("POST", "/tasks", 201, {"project_id": alpha, "title": "write the plan"})["id"]
    call("GET", f"/tasks/{task}", 200)
    call("PATCH", f"/tasks/{task}", 200, {"title": "write the plan again", "done": True})
    assert [t["id"] for t in call("GET", f"/projects/{alpha}/tasks", 200)["tasks"]] == [task]
    call("DELETE", f"/tasks/{task}", 204)
    call("GET", f"/tasks/{task}", 404)
    call("POST", f"/tasks/{task}/restore", 200)
    call("GET", f"/tasks/{task}", 200)
    # Deleting and restoring the same task again is normal use; the recording shows it, so a second
    # successful restore is no double action.
    call("DELETE", f"/tasks/{task}", 204)
    call("POST", f"/tasks/{task}/restore", 200)
    beta = call("POST", "/projects", 201, {"name": "beta"})["id"]
    call("DELETE", f"/projects/{beta}", 204)
    call("GET", f"/projects/{beta}", 404)
    call("POST", f"/projects/{beta}/restore", 200)
    call("GET", f"/projects/{beta}", 200)


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()) for t in tables]


def record_and_explore(tmp_path: Path, **bugs: bool) -> dict:
    """The report of an exploration of the recorded client traffic, the database checked restored."""
    db = tmp_path / "nested.db"
    env = {"NESTED_DB": f"sqlite:///{db}", **{f"NESTED_{name.upper()}": "1" for name, on in bugs.items() if on}}
    with running_app("apps.nested_api:create_app", env=env) as api:
        with recording_proxy(api.url, tmp_path / "nested.vrec", "--db", f"sqlite:///{db}") as proxy:
            drive(proxy.url)
        before = dump(db)
        out = tmp_path / "report"
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", "--no-mutations", str(proxy.path), "--target",
                              api.url, "--db", f"sqlite:///{db}", "--report", str(out), "--depth", "3",
                              "--prefix-depth", "3", "--time-limit", "90"],
                             check=False, capture_output=True, text=True, timeout=300)
        print(f"explored in {time.monotonic() - started:.1f} s")
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True and dump(db) == before
    agreement = report["replay_agreement"]
    assert agreement["same_status_class"] == agreement["steps"] == 17, agreement
    return report


def sequences(report: dict, checker: str) -> dict[str, list[str]]:
    """The minimal sequence (templates) of each finding of ``checker``, by signature."""
    return {f["signature"]: [s["template"] for s in f["sequence"]] for f in report["findings"] if f["checker"] == checker}


def test_containment_is_learned_from_the_recorded_listing_under_the_project(tmp_path):
    db = tmp_path / "nested.db"
    with (running_app("apps.nested_api:create_app", env={"NESTED_DB": f"sqlite:///{db}"}) as api,
          recording_proxy(api.url, tmp_path / "nested.vrec") as proxy):
        drive(proxy.url)
    recording = proxy.recording()
    tset = infer_templates(recording)
    task_id = next(c for c in tset.templates["GET /tasks/{task_id}"].consumes if c.location == "path:task_id")
    project = next(c for c in tset.templates["POST /tasks"].consumes if c.location == "body:$.project_id")
    assert (task_id.producer, project.producer) == (CREATE_TASK, CREATE_PROJECT)
    contains = recorded_containment(tset, {ex.seq: ex for ex in recording.exchanges})
    assert contains == {((project.producer, project.source), (task_id.producer, task_id.source))}


def test_task_used_after_its_project_was_deleted_is_found(tmp_path):
    report = record_and_explore(tmp_path, orphan_tasks=True)
    assert {f["checker"] for f in report["findings"]} == {"resurrection"}, [f["message"] for f in report["findings"]]
    found = sequences(report, "resurrection")
    uses = {"GET /tasks/{task_id}", "PATCH /tasks/{task_id}"}
    assert found and all(len(seq) == 4 for seq in found.values()), found
    assert all(seq[:3] == [CREATE_PROJECT, CREATE_TASK, DELETE_PROJECT] and seq[3] in uses for seq in found.values()), found
    assert {seq[3] for seq in found.values()} == uses, found


def test_task_restored_while_its_project_is_deleted_is_found(tmp_path):
    report = record_and_explore(tmp_path, restore_under_deleted=True)
    found = sequences(report, "resurrection")
    assert list(found.values()) == [[CREATE_PROJECT, CREATE_TASK, DELETE_PROJECT, "POST /tasks/{task_id}/restore"]], (
        [f["message"] for f in report["findings"]])
    assert [f["details"]["how"] for f in report["findings"] if f["checker"] == "resurrection"] == ["restored"]
    assert {f["checker"] for f in report["findings"]} == {"resurrection"}, [f["message"] for f in report["findings"]]


def test_correct_twin_has_no_finding(tmp_path):
    """Tasks go with their project and come back with it; a restored project's tasks answer 200."""
    report = record_and_explore(tmp_path)
    assert report["transitions"] >= 50, report["transitions"]
    assert report["findings"] == [], [f["message"] for f in report["findings"]]


# ---------------------------------------------------------------- pure logic on hand-built steps

def template(method: str, path: str, effect: str) -> ActionTemplate:
    return ActionTemplate(id=f"{method} {path}", method=method, path=path, effect=effect)  # type: ignore[arg-type]


PROJECTS = template("POST", "/projects", "create")
TASKS = template("POST", "/tasks", "create")
NESTED_TASKS = template("POST", "/projects/{project_id}/tasks", "create")
DELETE = template("DELETE", "/projects/{project_id}", "delete")
RESTORE = template("POST", "/projects/{project_id}/restore", "restore")
GET_TASK = template("GET", "/tasks/{task_id}", "read")
MOVE_TASK = template("PATCH", "/tasks/{task_id}", "update")
LIST_TASKS = template("GET", "/tasks", "read")
NESTED_GET = template("GET", "/projects/{project_id}/tasks/{task_id}", "read")
GET_DOC = template("GET", "/docs/{doc_id}", "read")


def project_id(value: int) -> BoundUse:
    return BoundUse(PROJECTS.id, "body:$.id", value)


def step(tpl: ActionTemplate, path: str, status: int, body: object = None, *, consumed: dict | None = None,
         produced: dict | None = None) -> StepResult:
    raw = json.dumps(body).encode() if body is not None else b""
    return StepResult(tpl, Request(tpl.method, "http", "h", 80, path), Response(status, body=raw),
                      produced=produced or {}, consumed=consumed or {})


def created_project(pid: int) -> StepResult:
    return step(PROJECTS, "/projects", 201, {"id": pid}, produced={"body:$.id": pid})


def created_task(pid: int, tid: int) -> StepResult:
    return step(TASKS, "/tasks", 201, {"id": tid, "project_id": pid}, consumed={"body:$.project_id": project_id(pid)},
                produced={"body:$.id": tid})


def deleted(pid: int) -> StepResult:
    return step(DELETE, f"/projects/{pid}", 204, consumed={"path:project_id": project_id(pid)})


def read_task(tid: int, status: int = 200, body: object = None) -> StepResult:
    return step(GET_TASK, f"/tasks/{tid}", status, body if body is not None else {"id": tid},
                consumed={"path:task_id": BoundUse(TASKS.id, "body:$.id", tid)})


TASKS_OF_PROJECTS = ((PROJECTS.id, "body:$.id"), (TASKS.id, "body:$.id"))


def containing() -> ResurrectionChecker:
    """A checker that knows, as a recording would show it, that projects contain the tasks made for them."""
    checker = ResurrectionChecker()
    checker.contains = {TASKS_OF_PROJECTS}
    return checker


def check(path: list[StepResult], checker: ResurrectionChecker | None = None, *, recorded: bool = False) -> list:
    ctx = StepContext(step=path[-1], path=path, values={}, templates=TemplateSet({}, {}), replays_recorded_path=recorded)
    return (checker or containing()).check(ctx)


def test_a_child_made_by_a_create_that_carried_the_parent_in_its_body():
    [v] = check([created_project(101), created_task(101, 201), deleted(101), read_task(201)])
    assert v.signature == f"resurrection:{DELETE.id}:{GET_TASK.id}"
    assert v.details == {"parent": "/projects/101", "child": "task_id=201", "how": "used", "deleted_by": DELETE.id}
    assert v.message == ("GET /tasks/{task_id} answered 200 for task_id=201, a child of /projects/101 (made by "
                         "POST /tasks), after DELETE /projects/{project_id} deleted that parent (answered 204)")


def test_a_body_reference_is_no_containment_until_a_listing_under_the_parent_shows_it():
    """An order names the product it is for and outlives it: without containment shown, no child."""
    path = [created_project(101), created_task(101, 201), deleted(101), read_task(201)]
    assert check(path, ResurrectionChecker()) == []
    listing = step(template("GET", "/projects/{project_id}/tasks", "read"), "/projects/101/tasks", 200,
                   {"tasks": [{"id": 201, "project_id": 101}]}, consumed={"path:project_id": project_id(101)})
    assert len(check([*path[:2], listing, *path[2:]], ResurrectionChecker())) == 1


def test_children_from_nested_paths_and_grandchildren():
    nested = step(NESTED_TASKS, "/projects/101/tasks", 201, {"id": 201},
                  consumed={"path:project_id": project_id(101)}, produced={"body:$.id": 201})
    doc = step(template("POST", "/tasks/{task_id}/docs", "create"), "/tasks/201/docs", 201, {"id": 301},
               consumed={"path:task_id": BoundUse(NESTED_TASKS.id, "body:$.id", 201)}, produced={"body:$.id": 301})
    seen_under = step(NESTED_GET, "/projects/102/tasks/202", 200, {"id": 202},
                      consumed={"path:project_id": project_id(102), "path:task_id": BoundUse(LIST_TASKS.id, "body:$[0].id", 202)})
    kids = children_of(project_id(101), [created_project(101), nested, doc])
    assert [(c.producer, c.value) for c in kids] == [(NESTED_TASKS.id, 201), ("POST /tasks/{task_id}/docs", 301)]
    assert [(c.source, c.value) for c in children_of(project_id(102), [seen_under])] == [("body:$[0].id", 202)]
    read_doc = step(GET_DOC, "/docs/301", 200, {"id": 301},
                    consumed={"path:doc_id": BoundUse("POST /tasks/{task_id}/docs", "body:$.id", 301)})
    [v] = check([created_project(101), nested, doc, deleted(101), read_doc])
    assert v.details["child"] == "doc_id=301"


def test_a_listing_that_shows_the_child_alive_under_its_deleted_parent():
    listing = step(LIST_TASKS, "/tasks", 200, {"tasks": [{"id": 201, "project_id": 101}, {"id": 202, "project_id": 102}]})
    [v] = check([created_project(101), created_task(101, 201), deleted(101), listing])
    assert v.details["how"] == "listed" and v.details["child"] == "id=201"
    marked = step(LIST_TASKS, "/tasks", 200, {"tasks": [{"id": 201, "project_id": 101, "deleted": True}]})
    other_kind = step(LIST_TASKS, "/tasks", 200, {"projects": [{"id": 201, "name": "a namesake project"}]})
    assert check([created_project(101), created_task(101, 201), deleted(101), marked]) == []
    assert check([created_project(101), created_task(101, 201), deleted(101), other_kind]) == []


@pytest.mark.parametrize("last", [
    read_task(201, status=404, body={"error": "not found"}),  # the correct answer
    read_task(201, body={"id": 201, "deleted": True}),  # tells the truth: deleted with its parent
    step(template("DELETE", "/tasks/{task_id}", "delete"), "/tasks/201", 204,
         consumed={"path:task_id": BoundUse(TASKS.id, "body:$.id", 201)}),  # an idempotent delete
    step(template("GET", "/projects/{project_id}/tasks", "read"), "/projects/101/tasks", 200, {"tasks": [{"id": 201}]},
         consumed={"path:project_id": project_id(101)}),  # the parent's own URL: use-after-delete's
])
def test_what_is_not_resurrection(last):
    assert check([created_project(101), created_task(101, 201), deleted(101), last]) == []


def test_a_restored_parent_or_a_moved_child_is_alive():
    restored = step(RESTORE, "/projects/101/restore", 200, {"id": 101}, consumed={"path:project_id": project_id(101)})
    assert check([created_project(101), created_task(101, 201), deleted(101), restored, read_task(201)]) == []
    moved = step(MOVE_TASK, "/tasks/201", 200, {"id": 201, "project_id": 102},
                 consumed={"path:task_id": BoundUse(TASKS.id, "body:$.id", 201), "body:$.project_id": project_id(102)})
    path = [created_project(101), created_project(102), created_task(101, 201), moved, deleted(101), read_task(201)]
    assert check(path) == []


def test_a_child_kind_the_recording_uses_after_its_parent_delete_is_independent():
    checker = containing()
    path = [created_project(101), created_task(101, 201), deleted(101), read_task(201)]
    assert len(check(path, checker, recorded=True)) == 1  # seen on the recording's replay: learned, then suppressed
    patch = step(MOVE_TASK, "/tasks/202", 200, {"id": 202}, consumed={"path:task_id": BoundUse(TASKS.id, "body:$.id", 202)})
    assert check([created_project(102), created_task(102, 202), deleted(102), patch], checker) == []
    assert len(check([created_project(102), created_task(102, 202), deleted(102), patch])) == 1
