"""The failed-write checker: a call answered 4xx/5xx after which the databases changed.

End to end on a notes API (tests/apps/failed_write_api.py, SQLite in its own process): the planted
create inserts its row before it checks the priority and answers 400 with the row kept; the twin
checks first. Happy-path traffic (and one wrong-password log-in, a 401 that logs the attempt by
design) is recorded through the real proxy with ``--db`` and explored with the real CLI, mutations
on: the planted refusal must be found, the twin must give nothing, and the log-in attempt rows never.
The unit tests below judge hand-built steps (pure logic: no server involved).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.checkers.builtin import builtin_checkers
from venom_replay.replay.checkers.failed_write import FailedWriteChecker


def drive(url: str) -> None:
    s = requests.Session()
    s.headers["X-Venom-Session"] = "ann"

    def call(method: str, path: str, expect: int, body: dict | None = None) -> dict:
        r = s.request(method, url + path, json=body, timeout=10)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json()

    call("POST", "/login", 401, {"username": "ann", "password": "wrong"})
    call("POST", "/login", 200, {"username": "ann", "password": "ann-secret"})
    ids = [call("POST", "/notes", 201, {"title": f"note {p}", "priority": p})["id"] for p in (1, 3, 5, 2)]
    call("GET", "/notes", 200)
    for note_id in ids:
        call("GET", f"/notes/{note_id}", 200)


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM notes ORDER BY id").fetchall() + conn.execute(
            "SELECT * FROM login_attempts ORDER BY id").fetchall()


def record_and_explore(tmp_path: Path, *, planted: bool, access_log: bool = False) -> dict:
    db = tmp_path / "notes.db"
    env = {"NOTES_DB": f"sqlite:///{db}", "NOTES_BUGS": "1" if planted else "0", "NOTES_ACCESS_LOG": "1" if access_log else "0"}
    with running_app("apps.failed_write_api:create_app", env=env) as api:
        with recording_proxy(api.url, tmp_path / "notes.vrec", "--db", f"sqlite:///{db}") as proxy:
            drive(proxy.url)
        before = dump(db)
        out = tmp_path / "report"
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(proxy.path), "--target",
                              api.url, "--db", f"sqlite:///{db}", "--report", str(out), "--depth", "3",
                              "--time-limit", "60"], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True and dump(db) == before
    return report


@pytest.mark.timeout(300)
def test_a_refused_create_that_kept_its_row_is_found(tmp_path):
    report = record_and_explore(tmp_path, planted=True)
    writes = [f for f in report["findings"] if f["checker"] == "failed-write"]
    assert writes and {f["sequence"][-1]["template"] for f in writes} == {"POST /notes"}, \
        [f["message"] for f in report["findings"]]
    assert all(f["sequence"][-1]["status"] == 400 for f in writes)
    assert all(f["sequence"][-1]["mutation"]["location"] == "body:$.priority" for f in writes), writes
    assert "yet the databases changed" in writes[0]["message"] and "priority" in writes[0]["message"]
    # Only the refused create: the 401 log-in logs its attempt by design.
    assert {f["checker"] for f in report["findings"]} == {"failed-write"}, [f["message"] for f in report["findings"]]


@pytest.mark.timeout(300)
def test_the_twin_that_checks_first_gives_no_finding(tmp_path):
    report = record_and_explore(tmp_path, planted=False)
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    assert report["mutations"]["statuses"].get("4xx", 0) >= 5, report["mutations"]  # refusals were judged


@pytest.mark.timeout(300)
def test_a_server_that_logs_every_access_is_not_called_a_failed_write(tmp_path):
    """The twin with an access log: each refused create adds a log row, but so does a plain read of the
    same URL (the control read), so nothing is reported; the warning says why."""
    report = record_and_explore(tmp_path, planted=False, access_log=True)
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    assert any("a plain read of the same URL changes the databases as well" in w for w in report["warnings"]), \
        report["warnings"]


# ---------------------------------------------------------------- the checker's rules on hand-built steps

def _ctx(status: int, changed: bool | None) -> StepContext:
    tpl = ActionTemplate(id="POST /notes", method="POST", path="/notes")
    step = StepResult(tpl, Request("POST", "http", "127.0.0.1", 80, "/notes"), Response(status))
    probe = None if changed is None else (lambda: changed)
    return StepContext(step=step, path=[step], values={}, templates=TemplateSet({tpl.id: tpl}, {}), content_changed=probe)


@pytest.mark.parametrize(("status", "changed", "reported"), [
    (400, True, True), (409, True, True), (500, True, True),
    (400, False, False), (201, True, False), (400, None, False),
    (401, True, False), (403, True, False), (429, True, False),
])
def test_which_steps_are_judged(status, changed, reported):
    found = FailedWriteChecker().check(_ctx(status, changed))
    assert bool(found) is reported
    if reported:
        assert found[0].signature == f"failed-write:POST /notes:{status}"


def test_the_fingerprint_is_asked_for_only_when_a_call_failed():
    asked = []
    ctx = _ctx(200, True)
    ctx.content_changed = lambda: asked.append(1) or True
    assert FailedWriteChecker().check(ctx) == [] and asked == []


def test_it_is_a_builtin_checker():
    assert "failed-write" in [c.name for c in builtin_checkers(TemplateSet({}, {}))]
