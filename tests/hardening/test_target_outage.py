"""A target that goes away mid-run: what was found before the outage is kept, marked unconfirmed.

The orders API runs in its own process on a real PostgreSQL. A user invariant (a real ``--invariants``
file) kills that process with SIGKILL right after it answers a read of a deleted order (the moment the
use-after-delete finding is made), so the explorer loses its target mid-search. The finding must stay in
the report with a note saying it could not be replayed, the database must still be restored, and the
run must say the target went down (exit 2: the run could not finish).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.orders_expectations import snapshot

KILL_AFTER_USE_AFTER_DELETE = '''
import os, signal

def invariant_kills_the_target_after_a_read_of_a_deleted_order(step, path):
    "the test's fault injection: never fails, kills the target once"
    deleted = {s.request.path for s in path[:-1] if s.request.method == "DELETE" and s.response is not None
               and s.response.status < 300}
    if (step.request.method == "GET" and step.request.path in deleted and step.response is not None
            and step.response.status == 200):
        try:
            os.kill(int(os.environ["ORDERS_TARGET_PID"]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True
'''


def test_findings_made_before_the_target_died_are_kept_unconfirmed(postgres_server, orders_api, record_orders, tmp_path):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db)
    recording = record_orders(api.url)
    before = snapshot(db)
    invariants = tmp_path / "fault.py"
    invariants.write_text(KILL_AFTER_USE_AFTER_DELETE)
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), "--target", api.url, "--db", db,
         "--report", str(out), "--depth", "3", "--invariants", str(invariants)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "ORDERS_TARGET_PID": str(api.proc.pid)})
    # The run could not finish: exit 2 and a one-line error saying so, with the report written.
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "stopped answering" in run.stderr and "databases restored" in run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["stopped"] == "target-down", report["stopped"]
    assert report["db_restored"] is True
    assert snapshot(db) == before
    use_after_delete = [f for f in report["findings"] if f["checker"] == "use-after-delete"]
    assert use_after_delete, [f["message"] for f in report["findings"]]
    assert any("unconfirmed: the target stopped answering" in n for n in use_after_delete[0]["notes"]), use_after_delete[0]["notes"]
    assert "not reproducible" not in " ".join(report["warnings"])
