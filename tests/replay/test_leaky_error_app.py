"""The leaky-error checker end to end: a user API (tests/apps/leaky_api.py, on SQLite in its own
process) whose duplicate-create error echoes the failed INSERT and its parameters, the password hash
among them, as MLflow's basic-auth app did.

The client's traffic, recorded through the real recording proxy with ``--db``, never creates a user
twice: the explorer (the real CLI, with rollback) must reach the duplicate create by repeating the
create. The correct twin answers a plain 409 and must give no finding at all.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import requests
from support.http_app import running_app
from support.proxy import recording_proxy


def drive(url: str) -> None:
    """Sign-ups, a password change and an account removal, each name created once."""
    s = requests.Session()
    s.headers["X-Venom-Session"] = "admin"

    def call(method: str, path: str, expect: int, body: dict | None = None) -> None:
        r = s.request(method, url + path, json=body, timeout=10)
        assert r.status_code == expect, (method, path, r.status_code, r.text)

    call("POST", "/users", 201, {"username": "alice", "password": "alice-secret-1"})
    call("GET", "/users/alice", 200)
    call("PATCH", "/users/alice", 200, {"password": "alice-secret-2"})
    call("POST", "/users", 201, {"username": "bob", "password": "bob-secret-1"})
    call("GET", "/users/bob", 200)
    call("DELETE", "/users/bob", 204)
    call("GET", "/users/bob", 404)


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM users ORDER BY id").fetchall()


def record_and_explore(tmp_path: Path, *, leaky: bool) -> dict:
    db = tmp_path / "users.db"
    env = {"LEAKY_DB": f"sqlite:///{db}", "LEAKY_ERRORS": "1" if leaky else "0"}
    with running_app("apps.leaky_api:create_app", env=env) as api:
        with recording_proxy(api.url, tmp_path / "users.vrec", "--db", f"sqlite:///{db}") as proxy:
            drive(proxy.url)
        recorded = [(ex.request.method, ex.request.path, ex.response.status) for ex in proxy.recording().exchanges]
        assert [c for c in recorded if c[2] >= 400] == [("GET", "/users/bob", 404)], recorded  # no duplicate in it
        before = dump(db)
        out = tmp_path / "report"
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", "--no-mutations", str(proxy.path), "--target",
                              api.url, "--db", f"sqlite:///{db}", "--report", str(out), "--depth", "3",
                              "--time-limit", "60"], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True and dump(db) == before
    agreement = report["replay_agreement"]
    assert agreement["same_status_class"] == agreement["steps"] == len(recorded), agreement
    return report


def test_the_duplicate_create_leak_is_found_by_reordering(tmp_path):
    report = record_and_explore(tmp_path, leaky=True)
    assert [f["checker"] for f in report["findings"]] == ["leaky-error"], [f["message"] for f in report["findings"]]
    [leak] = report["findings"]
    assert [s["template"] for s in leak["sequence"]] == ["POST /users", "POST /users"]
    assert [s["status"] for s in leak["sequence"]] == [201, 400]
    assert leak["details"]["leaks"] == ["SQL statement", "password hash"]
    # The statement is quoted, the hash only by its first characters, in the excerpt of the statement too.
    assert "INSERT INTO users (username, password_hash)" in leak["message"], leak["message"]
    assert "scrypt:3…" in leak["message"] and not re.search(r"scrypt:\d+:\d+:\d+\$", leak["message"]), leak["message"]


def test_the_twin_that_answers_a_plain_409_has_no_finding(tmp_path):
    report = record_and_explore(tmp_path, leaky=False)
    assert report["transitions"] >= 20, report["transitions"]
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
