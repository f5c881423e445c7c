"""End to end: record happy paths through the real proxy, explore with the real CLI against an API in
its own process on a real PostgreSQL, and check that every planted sequence bug is found with its
minimal sequence, that the correct twin gives no finding, and that the database is restored
(checked through a separate connection).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path


from support.orders_expectations import EXPECTED, snapshot

INVARIANTS_PY = '''
def invariant_total_is_a_number(response):
    "an order's total is a number of cents"
    data = response.json() if response is not None else None
    if isinstance(data, dict) and "total" in data:
        return isinstance(data["total"], int)
'''

VENOM_TOML = '''
[invariants]
sql = [{ name = "one shipment per order", query = "SELECT order_id FROM shipments GROUP BY order_id HAVING count(*) > 1" }]
'''

def cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    inv = tmp_path / "invariants.py"
    inv.write_text(INVARIANTS_PY)
    cfg = tmp_path / "venom.toml"
    cfg.write_text(VENOM_TOML)
    return inv, cfg


def sequences_by_checker(report: dict) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for f in report["findings"]:
        out.setdefault(f["checker"], []).append([s["template"] for s in f["sequence"]])
    return out


def test_every_planted_bug_is_found_minimal_and_the_database_restored(postgres_server, orders_api, record_orders, tmp_path):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db)
    recording = record_orders(api.url)
    before = snapshot(db)
    inv, cfg = write_inputs(tmp_path)
    out = tmp_path / "report"

    run = cli("explore", "--no-mutations", str(recording), "--target", api.url, "--db", db, "--report", str(out), "--depth", "3",
              "--invariants", str(inv), "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True
    assert snapshot(db) == before  # nothing left behind: rows, sequences, triggers, schemas
    assert isinstance(report["states"], int) and report["states"] > 10
    assert isinstance(report["transitions"], int) and report["transitions"] >= report["states"] - 1

    found = sequences_by_checker(report)
    for checker, sequence in EXPECTED.items():
        assert sequence in found.get(checker, []), (checker, found.get(checker))
    for f in report["findings"]:
        assert f["count"] >= 1 and f["signature"] == f["bucket"]
        assert all({"template", "method", "path", "status"} <= set(s) for s in f["sequence"])
        for ex in f["exchanges"]:  # tokens never reach the report
            for name, value in ex["request"]["headers"]:
                if name.lower() == "authorization":
                    assert "***" in value
    # one bucket per root cause: the same checker and templates are never reported twice
    assert len({f["signature"] for f in report["findings"]}) == len(report["findings"])

    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.get("failures")) == len(report["findings"])
    html = (out / "report.html").read_text()
    assert "explored state graph" in html and "<script src=" not in html and "cdn" not in html.lower()
    assert "access-after-revoke" in (out / "summary.md").read_text()

    # reproduce: live replay (restored afterwards), a pytest file that fails on the bug, a curl script
    number = next(f["number"] for f in report["findings"] if f["checker"] == "use-after-delete")
    rep = cli("reproduce", str(out / "report.json"), str(number), "--db", db, cwd=tmp_path)
    assert rep.returncode == 1, rep.stdout + rep.stderr
    assert "reproduced" in rep.stdout and "DELETE /orders" in rep.stdout
    assert snapshot(db) == before
    test_file = tmp_path / "test_repro.py"
    assert cli("reproduce", str(out / "report.json"), str(number), "--emit", "pytest", "-o", str(test_file), cwd=tmp_path).returncode == 0
    env = {**os.environ, "VENOM_DB": db}
    pyt = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=120)
    assert pyt.returncode == 1 and "1 failed" in pyt.stdout, pyt.stdout + pyt.stderr
    assert snapshot(db) == before
    script = tmp_path / "repro.sh"
    assert cli("reproduce", str(out / "report.json"), str(number), "--emit", "curl", "-o", str(script), cwd=tmp_path).returncode == 0
    sh = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert sh.returncode == 0, sh.stderr
    assert "2. DELETE /orders/{order_id} -> 204" in sh.stdout
    assert "3. GET /orders/{order_id} -> 200" in sh.stdout  # the deleted order is still answered


def test_correct_twin_has_no_finding(postgres_server, orders_api, record_orders, tmp_path):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db, fixed=True)
    recording = record_orders(api.url)
    before = snapshot(db)
    inv, cfg = write_inputs(tmp_path)
    run = cli("explore", "--no-mutations", str(recording), "--target", api.url, "--db", db, "--report", str(tmp_path / "r"), "--depth", "3",
              "--invariants", str(inv), "--config", str(cfg), cwd=tmp_path)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    assert run.returncode == 0, run.stderr
    assert report["db_restored"] is True and snapshot(db) == before
    assert report["transitions"] > 50


def test_ctrl_c_restores_the_database(postgres_server, orders_api, record_orders, tmp_path):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db)
    recording = record_orders(api.url)
    before = snapshot(db)
    proc = subprocess.Popen([sys.executable, "-m", "venom_replay.replay.cli", "explore", "--no-mutations", str(recording), "--target", api.url,
                             "--db", db, "--report", str(tmp_path / "r"), "--depth", "8", "--no-learned"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["stopped"] == "interrupted" and report["db_restored"] is True
    assert snapshot(db) == before


def test_unreachable_target_is_one_line_and_exit_2(tmp_path, orders_api, record_orders, postgres_server):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db)
    recording = record_orders(api.url)
    api.stop()
    run = cli("explore", "--no-mutations", str(recording), "--target", api.url, "--report", str(tmp_path / "r"), "--no-learned", cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "unreachable" in run.stderr
