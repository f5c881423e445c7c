"""`record --db` saves where a recording started; `explore --db` starts there and gives the user's data back.

Everything runs as a user runs it: the real `venom-replay` CLI in its own process, the API under
test in its own process on a real database, traffic through the real recording proxy, and the
database read back through a separate connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.db_servers import dump_content, installed_objects, run_writer_process
from support.fixtures_explore import orders_traffic
from support.orders_expectations import snapshot
from venom_replay.proxy.recording import RecordingWriter
from venom_replay.replay.demo.traffic import run_traffic
from venom_replay.replay.record_process import start_recorder
from venom_replay.replay.start_state import UNKNOWN_START, read_start_state


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def explore(recording: Path, target: str, db: str, report: Path, *extra: str) -> dict:
    out = cli("explore", str(recording), "--target", target, "--db", db, "--report", str(report), "--depth", "1",
              "--time-limit", "5", *extra)
    assert out.returncode in (0, 1), out.stdout + out.stderr
    assert (report / "report.json").exists(), out.stdout + out.stderr
    return json.loads((report / "report.json").read_text())


def one_line_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_explore_starts_where_the_recording_started_and_gives_the_data_back(postgres_server, demo_shop, tmp_path):
    url = postgres_server.url(postgres_server.create_database())
    shop = demo_shop(url)
    rec = tmp_path / "shop.vrec"
    with start_recorder(rec, target=shop.url, dbs=[url]) as recorder:
        assert recorder.start_state.startswith(f"saved the start state to {rec}.start: postgresql ")
        run_traffic(recorder.url, rounds=1)  # creates users, products, orders while it is recorded
    start = Path(f"{rec}.start")
    assert start.stat().st_mode & 0o777 == 0o600
    shown = cli("show", str(rec))
    assert f"start state: {start} (saved " in shown.stdout and "postgresql " in shown.stdout, shown.stdout
    users = run_writer_process(url, ["SELECT count(*) FROM users"])[0][0][0]
    before = snapshot(url)

    report = explore(rec, shop.url, url, tmp_path / "from-start")
    agreement = report["replay_agreement"]
    assert agreement["steps"] == agreement["recorded"] > 30
    assert agreement["same_status_class"] == agreement["steps"], agreement["first_mismatches"]
    assert report["db_restored"] is True
    assert any("started from the recording's start state" in w for w in report["warnings"])
    assert UNKNOWN_START not in report["warnings"]
    assert snapshot(url) == before  # every row, sequence, schema and trigger, read elsewhere
    assert run_writer_process(url, ["SELECT count(*) FROM users"])[0][0][0] == users

    # The same recording without its start state replays against the end state: the sign-ups are 409 now.
    start.rename(tmp_path / "kept.start")
    report = explore(rec, shop.url, url, tmp_path / "from-end")
    agreement = report["replay_agreement"]
    assert agreement["same_status_class"] < agreement["steps"]
    assert any(m["template"] == "POST /users" and (m["recorded_status"], m["live_status"]) == (201, 409)
               for m in agreement["first_mismatches"]), agreement["first_mismatches"]
    assert report["warnings"].count(UNKNOWN_START) == 1
    assert snapshot(url) == before


@pytest.fixture
def recorded_orders(orders_api, tmp_path):
    """The orders API on SQLite, and its traffic recorded with `record --db`: (api, db URL, recording)."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    api = orders_api(url)
    rec = tmp_path / "orders.vrec"
    with start_recorder(rec, target=api.url, dbs=[url]) as recorder:
        orders_traffic(recorder.url)
    return api, url, rec


def test_a_failed_import_leaves_the_users_data_and_nothing_of_ours(recorded_orders, tmp_path):
    api, url, rec = recorded_orders
    run_writer_process(url, ["ALTER TABLE orders ADD COLUMN note TEXT"])  # a migration after the recording
    before = dump_content(url)
    out = cli("explore", str(rec), "--target", api.url, "--db", url, "--report", str(tmp_path / "r"))
    one_line_error(out, "table orders has the columns", "the schema changed since the recording")
    assert dump_content(url) == before
    assert installed_objects(url) == []


def test_start_states_are_matched_by_kind_and_name(recorded_orders, tmp_path):
    api, url, rec = recorded_orders
    other = tmp_path / "other.db"
    run_writer_process(f"sqlite:///{other}", ["CREATE TABLE t (a)", "INSERT INTO t VALUES (1)"])
    before = dump_content(f"sqlite:///{other}")
    report = explore(rec, api.url, f"sqlite:///{other}", tmp_path / "r")
    warnings = report["warnings"]
    assert any(w.startswith(f"no start state for sqlite:///{other}") for w in warnings), warnings
    assert any("start state of sqlite 'orders.db'" in w and "is not used" in w for w in warnings), warnings
    assert dump_content(f"sqlite:///{other}") == before

    # The same file under another path (a copy on a CI machine) is the same database name: it matches.
    copy_dir = tmp_path / "ci"
    copy_dir.mkdir()
    shutil.copy(tmp_path / "orders.db", copy_dir / "orders.db")
    assert read_start_state(rec).bind([f"sqlite:///{copy_dir / 'orders.db'}"]).warnings == []


def test_record_refusals_are_one_line_and_leave_nothing(postgres_server, tmp_path):
    target = "http://127.0.0.1:9"  # never contacted: every case stops before the proxy starts
    rec = tmp_path / "a.vrec"
    out = cli("record", "--target", target, "--out", str(rec), "--db", "postgresql://nobody:s3cret@127.0.0.1:1/x")
    one_line_error(out, "cannot connect to postgresql://nobody:***@")
    assert "s3cret" not in out.stderr
    assert sorted(os.listdir(tmp_path)) == []

    Path(f"{rec}.start").write_bytes(b"stale")
    one_line_error(cli("record", "--target", target, "--out", str(rec)), f"{rec}.start exists but {rec} does not")
    one_line_error(cli("record", "--target", target, "--out", str(rec), "--db", postgres_server.dsn),
                   "a start state is there already")
    assert Path(f"{rec}.start").read_bytes() == b"stale"

    old = tmp_path / "old.vrec"
    RecordingWriter(old, target=target).close()
    one_line_error(cli("record", "--target", target, "--out", str(old), "--append", "--db", postgres_server.dsn),
                   "was recorded without --db: its start state is unknown")
    assert not Path(f"{old}.start").exists()


def test_append_keeps_the_start_state_and_a_damaged_one_is_refused(recorded_orders, tmp_path):
    api, url, rec = recorded_orders
    start = Path(f"{rec}.start")
    saved = start.read_bytes()
    with start_recorder(rec, target=api.url, dbs=[url], extra_args=["--append"]) as recorder:
        assert recorder.start_state.startswith(f"keeping the start state in {start} (sqlite 'orders.db'")
        orders_traffic(recorder.url)
    assert start.read_bytes() == saved

    start.write_bytes(saved[: len(saved) // 2])  # an export cut short
    out = cli("explore", str(rec), "--target", api.url, "--db", url, "--report", str(tmp_path / "r"))
    one_line_error(out, f"{start}: the start state was cut short")


@pytest.fixture
def sqlite_shop(demo_shop, tmp_path):
    url = f"sqlite:///{tmp_path / 'suite-shop.db'}"
    return demo_shop(url), url


def test_the_pytest_plugin_saves_the_start_state(pytester, sqlite_shop, tmp_path, monkeypatch):
    shop, url = sqlite_shop
    monkeypatch.setenv("SHOP_URL", shop.url)
    pytester.makepyfile(test_e2e='''
import os
import requests

def test_sign_up():
    base = os.environ["SHOP_URL"]
    token = requests.post(base + "/login", json={"username": "admin", "password": "admin-pass"}, timeout=10).json()["token"]
    made = requests.post(base + "/users", json={"username": "dora", "password": "pw"},
                         headers={"Authorization": "Bearer " + token}, timeout=10)
    assert made.status_code == 201
''')
    out = tmp_path / "suite.vrec"
    result = pytester.runpytest_subprocess("--venom-record", str(out), "--venom-db", url)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"venom-replay: saved the start state to {out}.start: sqlite 'suite-shop.db'*",
                                 "venom-replay: recorded 2 exchanges*"])
    state = read_start_state(out)
    assert [e.identity.kind for e in state.entries] == ["sqlite"]
    assert run_writer_process(url, ["SELECT count(*) FROM users WHERE username = 'dora'"]) == [[[1]]]
    # the start state holds the shop as it was before the suite: without dora
    rows = [p for p in state.parts(state.entries[0]) if p["t"] == "rows"]
    assert rows and not any("dora" in map(str, row) for p in rows for row in p["rows"])
