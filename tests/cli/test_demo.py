"""`venom-replay demo`, run as a user runs it: the real CLI in its own process.

The buggy shop on the embedded default (SQLite) must give every planted bug with its minimal
sequence; the correct twin on a PostgreSQL server must give none; both must leave no process, no
temporary directory and no demo database behind, and keep the reports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from venom_replay.replay.demo.shop import PLANTED_BUGS


def run_demo(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "demo", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
    done.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return done


def _assert_cleaned_up(stdout: str) -> None:
    pid = int(re.search(r"\(pid (\d+)\)", stdout).group(1))
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    workdir = re.search(r"(/\S*venom-demo-[^/\s]+)/", stdout)
    if workdir:
        assert not Path(workdir.group(1)).exists()


def test_demo_finds_every_planted_bug_with_its_minimal_sequence(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    done = run_demo("--report", str(report_dir))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["db_restored"] is True
    findings = report["findings"]
    for bug in PLANTED_BUGS:
        hits = [f for f in findings if bug.caught_by(f)]
        assert hits, f"{bug.name} not found: {[f['message'] for f in findings]}"
        # The shortest reproduction: at most four explored steps (log in, two to set up, the step that
        # shows it); steps replayed from a recorded session to reach a search root are not explored.
        assert min(sum(1 for s in f["sequence"] if not s.get("recorded_prefix")) for f in hits) <= 4
    assert all(any(bug.caught_by(f) for bug in PLANTED_BUGS) for f in findings), "a finding matches no planted bug"
    refund = next(f for f in findings if PLANTED_BUGS[0].caught_by(f) and f["checker"] == "repeated-success")
    assert [s["method"] for s in refund["sequence"]][-2:] == ["POST", "POST"]
    assert refund["sequence"][-1]["status"] == refund["sequence"][-2]["status"] == 200

    out = done.stdout
    assert f"found {len(PLANTED_BUGS)} of {len(PLANTED_BUGS)} planted bugs" in out
    recorded = re.search(r"recorded (\d+) exchanges in (\d+) sessions", out)
    assert recorded and int(recorded.group(1)) > 100  # the recorder's own summary, not a canned number
    assert f"{report['states']} states, {report['transitions']} transitions" in out
    for f in findings:
        assert f"finding {f['number']} ({f['checker']})" in out
    for name in ("graph.html", "report.html", "junit.xml", "summary.md", "shop.vrec"):
        assert (report_dir / name).stat().st_size > 0
    assert (report_dir / "shop.vrec").stat().st_mode & 0o077 == 0  # it holds tokens
    # The reports name the kept copy, so `reproduce` works after the demo's temporary files are gone.
    assert Path(report["recording"]) == report_dir / "shop.vrec"
    _assert_cleaned_up(out)
    assert done.elapsed < 60, f"the demo took {done.elapsed:.1f} s"


def test_demo_correct_twin_on_postgresql_finds_nothing_and_drops_its_database(postgres_server, tmp_path: Path) -> None:
    before = sorted(r[0] for r in postgres_server.execute("SELECT datname FROM pg_database"))
    report_dir = tmp_path / "twin"
    done = run_demo("--db", postgres_server.url("postgres"), "--fixed", "--report", str(report_dir))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "on PostgreSQL database venom_demo_" in done.stdout
    report = json.loads((report_dir / "report.json").read_text())
    assert report["findings"] == [] and report["db_restored"] is True and report["transitions"] > 100
    assert "correct twin: 0 finding(s)" in done.stdout
    assert sorted(r[0] for r in postgres_server.execute("SELECT datname FROM pg_database")) == before
    _assert_cleaned_up(done.stdout)


def test_demo_set_up_errors_are_one_line(tmp_path: Path) -> None:
    wrong = run_demo("--db", "mysql://root@127.0.0.1/shop", "--report", str(tmp_path / "r"))
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == ["error: --db mysql://root@127.0.0.1/shop: the demo runs on SQLite by "
                                                 "default or on a postgresql:// server"]
    unreachable = run_demo("--db", "postgresql://nobody:pw@127.0.0.1:1/postgres", "--report", str(tmp_path / "r"))
    assert unreachable.returncode == 2
    lines = unreachable.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --db postgresql://nobody:***@127.0.0.1:1/postgres: cannot create")
    assert "Traceback" not in unreachable.stderr + unreachable.stdout
