"""Value mutations end to end: a blog API (tests/apps/blog_api.py, SQLite in its own process) with
five planted bugs, four of which only a changed value reaches, and its correct twin.

Happy-path traffic is recorded through the real recording proxy with ``--db``; the real CLI explores
it with rollback. Each mutation bug must be found with the mutated field and value named in the
report, reproduce with ``reproduce`` and be carried by ``--emit curl`` and ``--emit pytest``; the
twin must give no finding at all, and the databases must be restored.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.blog_traffic import drive_blog
from support.http_app import running_app
from support.proxy import recording_proxy

CLI = [sys.executable, "-m", "venom_replay.replay.cli"]


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM posts ORDER BY id").fetchall()


def record_and_explore(tmp_path: Path, *, planted: bool) -> tuple[dict, Path, str]:
    db = tmp_path / "blog.db"
    env = {"BLOG_DB": f"sqlite:///{db}", "BLOG_BUGS": "1" if planted else "0"}
    with running_app("apps.blog_api:create_app", env=env) as api:
        with recording_proxy(api.url, tmp_path / "blog.vrec", "--db", f"sqlite:///{db}") as proxy:
            drive_blog(proxy.url)
        assert all(ex.response.status < 400 for ex in proxy.recording().exchanges)  # happy path only
        before = dump(db)
        out = tmp_path / "report"
        run = subprocess.run([*CLI, "explore", str(proxy.path), "--target", api.url, "--db", f"sqlite:///{db}",
                              "--report", str(out), "--depth", "3", "--time-limit", "90"],
                             check=False, capture_output=True, text=True, timeout=300)
        assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
        report = json.loads((out / "report.json").read_text())
        assert report["db_restored"] is True and dump(db) == before
        if planted:
            _check_reproductions(out, report, api.url, db)
    return report, out, api.url


def _mutation_of(finding: dict) -> dict | None:
    return finding["sequence"][-1].get("mutation")


def _check_reproductions(out: Path, report: dict, target: str, db: Path) -> None:
    """Every mutation finding replays with ``reproduce``; the curl script and the pytest file carry the value."""
    for number, finding in enumerate(report["findings"], 1):
        mutation = _mutation_of(finding)
        if mutation is None:
            continue
        run = subprocess.run([*CLI, "reproduce", str(out / "report.json"), str(number), "--target", target,
                              "--db", f"sqlite:///{db}"], check=False, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and "reproduced" in (run.stdout + run.stderr).lower(), run.stdout + run.stderr
        curl = subprocess.run([*CLI, "reproduce", str(out / "report.json"), str(number), "--emit", "curl"],
                              check=True, capture_output=True, text=True, timeout=60).stdout
        pytest_file = subprocess.run([*CLI, "reproduce", str(out / "report.json"), str(number), "--emit", "pytest"],
                                     check=True, capture_output=True, text=True, timeout=60).stdout
        assert "MUTATION" in pytest_file and mutation["location"] in pytest_file, pytest_file
        if mutation["kind"] == "drop":
            field = mutation["location"].rsplit(".", 1)[-1]
            last = curl.strip().split("curl ")[-1]
            assert f'"{field}"' not in last, last
        else:
            assert json.dumps(mutation["value"]) in curl or str(mutation["value"]) in curl, curl


@pytest.mark.timeout(600)
def test_the_mutation_bugs_are_found_with_the_mutation_named(tmp_path):
    report, _, _ = record_and_explore(tmp_path, planted=True)
    found = {f["signature"]: f for f in report["findings"]}
    by_mutation = {(f["sequence"][-1]["template"], m["location"], m["kind"]): f
                   for f in report["findings"] if (m := _mutation_of(f)) is not None}
    assert {key[:2] for key in by_mutation} >= {
        ("PUT /posts/{post_id}", "body:$.id"),          # the missing id field
        ("GET /posts", "query:per_page"),               # the oversized page
        ("PUT /posts/{post_id}", "body:$.checksum"),    # the echoed read-only field
        ("GET /posts/{post_id}", "path:post_id"),       # a never-created id
    }, sorted(found)
    assert by_mutation[("PUT /posts/{post_id}", "body:$.id", "drop")]["sequence"][-1]["status"] == 500
    assert by_mutation[("PUT /posts/{post_id}", "body:$.checksum", "echo")]["sequence"][-1]["status"] == 500
    assert by_mutation[("GET /posts/{post_id}", "path:post_id", "foreign-id")]["sequence"][-1]["status"] == 500
    [page] = [f for k, f in by_mutation.items() if k[:2] == ("GET /posts", "query:per_page")]
    assert int(page["details"]["mutation"]["value"]) > 100_000 and "per_page" in page["message"]
    # A read of a post that is not there (deleted, or never created): the sequence search finds it
    # unmutated, shrunk to a read of a recorded id from the start state, where no post exists yet.
    assert "server-error:GET /posts/{post_id}:500" in found, sorted(found)
    # The create that answers 400 for bad tags after inserting the post: a refused call that wrote.
    writes = [f for f in report["findings"] if f["checker"] == "failed-write"]
    assert writes and {(f["sequence"][-1]["template"], _mutation_of(f)["location"]) for f in writes} == {
        ("POST /posts", "body:$.tags")}, [f["message"] for f in writes]
    assert all(f["sequence"][-1]["status"] == 400 for f in writes)
    # Every other finding is a server error (no other checker judged a mutated call), bucketed once.
    assert {f["checker"] for f in report["findings"]} == {"server-error", "failed-write"}, sorted(found)
    assert report["mutations"]["sent"] > 0 and report["mutations"]["findings_by_kind"], report["mutations"]


@pytest.mark.timeout(600)
def test_the_correct_twin_gives_no_finding(tmp_path):
    report, _, _ = record_and_explore(tmp_path, planted=False)
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    stats = report["mutations"]
    assert stats["sent"] >= 30 and stats["statuses"].get("4xx", 0) > 0, stats  # the mutations ran, and were refused
