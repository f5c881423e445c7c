"""`venom-replay explore`'s two streams: the human-readable summary on stdout (so that it can be
piped or saved), progress, warnings and errors on stderr; with --json, report.json alone on stdout.

The orders API runs in its own process on SQLite; its recording holds no start state, so every run
has at least one warning (the start state is unknown) and, with the planted bugs, findings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def explore(recording: Path, target: str, db: str, report: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), "--target", target,
                           "--db", db, "--report", str(report), "--depth", "2", *extra],
                          cwd=report.parent, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def orders_run(orders_api, record_orders, tmp_path):
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    api = orders_api(url)
    return record_orders(api.url), api.url, url


def test_the_summary_is_on_stdout_and_warnings_and_errors_on_stderr(orders_run, tmp_path):
    recording, target, db = orders_run
    run = explore(recording, target, db, tmp_path / "out")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["findings"] and report["warnings"]

    out = " ".join(run.stdout.split())  # the table wraps to the terminal's width
    assert f"{report['states']} states, {report['transitions']} transitions" in out
    assert "databases restored: yes" in out
    assert f"{len(report['findings'])} finding(s)" in out
    for finding in report["findings"]:
        assert finding["checker"] in out
    assert out.endswith(f"reports: {tmp_path / 'out'}/report.json, report.html, junit.xml, summary.md")
    assert "warning:" not in run.stdout and "error:" not in run.stdout

    err = " ".join(run.stderr.split())
    for warning in report["warnings"]:
        assert f"warning: {' '.join(warning.split())}" in err
    assert "states," not in run.stderr and "reports:" not in run.stderr and "Traceback" not in run.stderr


def test_json_keeps_stdout_for_report_json_alone(orders_run, tmp_path):
    recording, target, db = orders_run
    run = explore(recording, target, db, tmp_path / "out", "--json")
    assert run.returncode == 1, run.stderr[-3000:]
    printed = json.loads(run.stdout)  # nothing else on stdout
    assert printed == json.loads((tmp_path / "out" / "report.json").read_text())
    err = " ".join(run.stderr.split())
    assert f"{printed['states']} states" in err and "reports:" in err and "warning:" in err


def test_an_error_before_the_run_leaves_stdout_empty(tmp_path):
    missing = tmp_path / "nope.vrec"
    run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(missing), "--target",
                          "http://127.0.0.1:9", "--report", str(tmp_path / "out")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == f"error: {missing}: no such file"
