"""RPC-style deletes end to end: a verbs-in-the-path API (tests/apps/rpc_api.py, on SQLite in its own
process) driven by a real client through the real recording proxy, learned, and explored with the
real CLI and rollback.

Small integer ids ("1", "2") produced by ``projects/create`` must be bound into the bodies and query
strings of later calls (``delete``, ``restore``, ``get``, ``rename``, ``tasks/create``, a grant's
``resource_id``), while ``page: 1`` stays an input; ``POST .../delete`` must be a delete and
``.../restore`` a restore because the recording showed it (a later read of the same id answered
``lifecycle_stage: "deleted"``, then ``active``), so the delete checkers find the two planted bugs
on this API and nothing on its correct twin. The SQLite file must hold what it held before.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import requests

from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.proxy.infer.inference import infer_templates

API = "/api/projects"


def drive(url: str) -> None:
    """What an application using the API does (none of the planted bug sequences is in it)."""
    s = requests.Session()
    s.headers["X-Venom-Session"] = "alice"

    def call(path: str, body: dict | None = None, expect: int = 200, **params: str) -> dict:
        r = s.post(url + path, json=body, timeout=10) if body is not None else s.get(url + path, params=params, timeout=10)
        assert r.status_code == expect, (path, r.status_code, r.text)
        return r.json()

    alpha = call(f"{API}/create", {"name": "alpha"})["project_id"]
    beta = call(f"{API}/create", {"name": "beta"})["project_id"]
    assert (alpha, beta) == ("1", "2")  # a fresh sequence: the small ids this is about
    assert call(f"{API}/get", project_id=alpha)["project"]["name"] == "alpha"
    call(f"{API}/rename", {"project_id": alpha, "name": "alpha-2"})
    call("/api/tasks/create", {"project_id": alpha, "title": "write the plan"})
    call("/api/permissions/grant", {"resource_type": "project", "resource_id": alpha, "username": "bob"})
    assert len(call(f"{API}/search", {"view": "ACTIVE_ONLY", "page": 1, "max_results": 50})["projects"]) == 2
    call(f"{API}/delete", {"project_id": beta})
    assert call(f"{API}/get", project_id=beta)["project"]["lifecycle_stage"] == "deleted"
    call(f"{API}/search", {"view": "ALL", "page": 1, "max_results": 50})
    call(f"{API}/restore", {"project_id": beta})
    assert call(f"{API}/get", project_id=beta)["project"]["lifecycle_stage"] == "active"


def start_api(tmp_path: Path, fixed: bool) -> tuple[Path, str, object]:
    db = tmp_path / "projects.db"
    return db, f"sqlite:///{db}", running_app("apps.rpc_api:create_app", env={"RPC_DB": f"sqlite:///{db}",
                                                                          "RPC_FIXED": "1" if fixed else "0"})


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()) for t in tables]


def record_and_explore(tmp_path: Path, *, fixed: bool) -> dict:
    """Record the client's traffic through the real proxy, explore it with the real CLI and rollback;
    the report, once the SQLite file is checked to hold what it held before."""
    db, db_url, app = start_api(tmp_path, fixed=fixed)
    with app as api:
        with recording_proxy(api.url, tmp_path / "rpc.vrec") as proxy:
            drive(proxy.url)
        before = dump(db)
        out = tmp_path / "report"
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", "--no-mutations", str(proxy.path), "--target",
                              api.url, "--db", db_url, "--report", str(out), "--depth", "3", "--time-limit", "60"],
                             capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True and dump(db) == before
    return report


def test_rpc_ids_and_effects_are_learned_from_real_traffic(tmp_path):
    db, db_url, app = start_api(tmp_path, fixed=True)
    with app as api:
        with recording_proxy(api.url, tmp_path / "rpc.vrec") as proxy:
            drive(proxy.url)
    tset = infer_templates(proxy.recording())
    bound = {(t.id, c.location): (c.producer, c.source) for t in tset.templates.values() for c in t.consumes}
    create = ("POST /api/projects/create", "body:$.project_id")
    for tid, loc in [("GET /api/projects/get", "query:project_id"), ("POST /api/projects/rename", "body:$.project_id"),
                     ("POST /api/projects/delete", "body:$.project_id"), ("POST /api/projects/restore", "body:$.project_id"),
                     ("POST /api/tasks/create", "body:$.project_id"), ("POST /api/permissions/grant", "body:$.resource_id")]:
        assert bound.get((tid, loc)) == create, (tid, loc, bound.get((tid, loc)))
    # page 1 equalled project 1 every time: a counter's name takes no id
    assert ("POST /api/projects/search", "body:$.page") not in bound
    effects = {t.id: t.effect for t in tset.templates.values()}
    assert effects["POST /api/projects/delete"] == "delete"
    assert effects["POST /api/projects/restore"] == "restore"
    assert effects["POST /api/projects/create"] == "create"
    assert effects["POST /api/projects/search"] == "read"
    assert effects["POST /api/projects/rename"] == "update"


def test_delete_checkers_find_the_planted_rpc_bugs_and_restore_the_file(tmp_path):
    report = record_and_explore(tmp_path, fixed=False)
    found = {f["checker"]: [s["template"] for s in f["sequence"]] for f in report["findings"]}
    assert found.get("use-after-delete") == [
        "POST /api/projects/create", "POST /api/projects/delete", "POST /api/projects/rename"], report["findings"]
    assert found.get("deleted-still-listed") == [
        "POST /api/projects/create", "POST /api/projects/delete", "POST /api/projects/search"], report["findings"]


def test_correct_rpc_twin_has_no_delete_finding(tmp_path):
    """Soft deletes read back as deleted, a deleted project refused a rename: what the recording showed."""
    report = record_and_explore(tmp_path, fixed=True)
    assert report["transitions"] >= 20
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
