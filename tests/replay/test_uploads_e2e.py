"""`explore --db sqlite:/// --db dir:///`: an uploads API's files are rolled back with its database.

The uploads API (tests/apps/uploads_api.py) runs in its own process and keeps file contents in a
folder and their records in SQLite. Happy-path traffic is recorded through the real proxy (with the
start state of both), then explored with the real CLI. With the folder rolled back too, the tree and
the database are byte-identical after the run and no branch sees another branch's upload (the
listing cross-checks folder and table: 0 findings). Rolling back only the database leaves the
uploads of abandoned branches behind, which the listing then reports as 500s.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters"))
from test_files import tree_hash


def drive(url: str) -> None:
    s = requests.Session()

    def call(method: str, path: str, expect: int, body: dict | None = None) -> dict:
        r = s.request(method, url + path, json=body, timeout=10)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else {}

    first = call("POST", "/files", 201, {"name": "report", "content": "quarterly numbers"})["id"]
    second = call("POST", "/files", 201, {"name": "photo", "content": "pixels"})["id"]
    call("GET", "/files", 200)
    call("GET", f"/files/{first}", 200)
    call("PUT", f"/files/{second}", 200, {"content": "other pixels"})
    call("GET", f"/files/{second}", 200)
    call("DELETE", f"/files/{first}", 204)
    call("GET", "/files", 200)


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM files ORDER BY id").fetchall() + conn.execute(
            "SELECT * FROM sqlite_sequence").fetchall()


def record_and_explore(tmp_path: Path, *, roll_back_files: bool) -> tuple[dict, subprocess.CompletedProcess]:
    db, uploads = tmp_path / "uploads.db", tmp_path / "uploads"
    uploads.mkdir()
    env = {"UPLOADS_DB": f"sqlite:///{db}", "UPLOADS_DIR": str(uploads)}
    databases = ["--db", f"sqlite:///{db}"] + (["--db", f"dir://{uploads}"] if roll_back_files else [])
    with running_app("apps.uploads_api:create_app", env=env) as api:
        seeded = requests.post(api.url + "/files", json={"name": "readme", "content": "kept"}, timeout=10)
        assert seeded.status_code == 201
        with recording_proxy(api.url, tmp_path / "uploads.vrec", *databases) as proxy:
            drive(proxy.url)
        tree_before, rows_before = tree_hash(str(uploads)), dump(db)
        out = tmp_path / "report"
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(proxy.path),
                              "--target", api.url, *databases, "--report", str(out), "--depth", "3",
                              "--time-limit", "90", "--no-mutations"],
                             check=False, capture_output=True, text=True, timeout=300)
        assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
        report = json.loads((out / "report.json").read_text())
        if roll_back_files:
            assert tree_hash(str(uploads)) == tree_before
        assert report["db_restored"] is True and dump(db) == rows_before
    return report, run


@pytest.mark.timeout(400)
def test_files_and_rows_are_rolled_back_together(tmp_path):
    report, _ = record_and_explore(tmp_path, roll_back_files=True)
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    assert report["states"] > 5 and report["transitions"] > 10, report  # the search did branch
    assert any("dir://" in w and "start state" in w for w in report["warnings"])  # recorded with --db dir://
    assert not (tmp_path / ".uploads.venom-replay").exists()  # the store goes with the run


@pytest.mark.timeout(400)
def test_without_the_folder_abandoned_branches_leave_uploads_behind(tmp_path):
    report, _ = record_and_explore(tmp_path, roll_back_files=False)
    errors = [f for f in report["findings"] if f["checker"] == "server-error"]
    assert errors and any("without a record" in json.dumps(f) for f in errors), \
        [f["message"] for f in report["findings"]]
