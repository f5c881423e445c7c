"""Real clients, end to end: the traffic of a third-party SDK talking to a third-party server.

Kinto (a JSON storage server from PyPI, here on its PostgreSQL storage and permission backends) runs
in its own process; its official Python SDK ``kinto-http`` talks to it through the real recording
proxy. Nobody here wrote either side. The recording is turned into templates (the record id the
server generates must be bound to the later calls that use it), then explored with rollback, and
Kinto's database must hold exactly what it held before the exploration, compared through a separate
connection.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.fixtures_kinto import running_kinto
from support.kinto_traffic import drive_kinto_sdk
from support.proxy import recording_proxy

kinto_http = pytest.importorskip("kinto_http", reason="the test extra installs kinto-http")
pytest.importorskip("kinto", reason="the test extra installs kinto[postgresql]")
psycopg = pytest.importorskip("psycopg")

def database_dump(db_url: str) -> dict[str, list[tuple]]:
    """Every row of every table in the public schema, sorted, read through a connection of our own."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        dump = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            dump[table] = sorted(tuple(map(repr, row)) for row in rows)
        objects = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2").fetchall()
        triggers = conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1").fetchall()
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1").fetchall()
        dump["-- catalog"] = [*objects, *triggers, *functions]
    return dump


def _fingerprint(dump: dict[str, list[tuple]]) -> str:
    return hashlib.sha256(json.dumps(dump, sort_keys=True, default=str).encode()).hexdigest()


def test_kinto_sdk_traffic_is_recorded_learned_and_explored_with_the_database_restored(kinto_server, tmp_path):
    recording_path = tmp_path / "kinto.vrec"
    # --db: Kinto's database as the recording starts, so the recorded calls replay from where they ran.
    with recording_proxy(kinto_server.url, recording_path, "--db", kinto_server.db_url) as proxy:
        ids = drive_kinto_sdk(proxy.url)
    recording = proxy.recording()

    # Every SDK call went through the proxy and was answered by Kinto.
    calls = [(ex.request.method, ex.request.path, ex.response.status) for ex in recording.exchanges]
    assert len(calls) == 14, calls
    assert all(ex.error is None and ex.response.status < 400 for ex in recording.exchanges), calls
    assert ("DELETE", f"/v1/buckets/shop/collections/orders/records/{ids['first']}", 200) not in calls
    assert ("GET", f"/v1/buckets/shop/collections/orders/records/{ids['third']}", 200) in calls

    # Templates: one per call shape, the record id a path parameter (kinto-http picks record ids
    # itself, so they are inputs), and the version the SDK read bound to the If-Match it sends.
    from venom_replay.proxy.infer.inference import infer_templates

    tset = infer_templates(recording)
    labels = {t.label for t in tset.templates.values()}
    record = "/v1/buckets/shop/collections/orders/records/{record_id}"
    assert {f"{m} {record}" for m in ("PUT", "GET", "PATCH", "DELETE")} <= labels, sorted(labels)
    if_match = [c for t in tset.templates.values() for c in t.consumes if c.location.lower() == "header:if-match"]
    assert if_match, [(t.label, [(c.location, c.producer) for c in t.consumes]) for t in tset.templates.values()]
    assert tset.templates[if_match[0].producer].label == f"GET {record}"

    # Explore with rollback against the live Kinto; its database must hold exactly what it held before.
    before = database_dump(kinto_server.db_url)
    report_dir = tmp_path / "report"
    explored = subprocess.run(
        [sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording_path), "--target", kinto_server.url,
         "--db", kinto_server.db_url, "--report", str(report_dir), "--depth", "3", "--time-limit", "60"],
        capture_output=True, text=True, timeout=300)
    assert explored.returncode in (0, 1), explored.stdout[-2000:] + explored.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["db_restored"] is True
    # From the start state every recorded call answers as it did when recorded (issue: >= 98%).
    agreement = report["replay_agreement"]
    assert agreement["steps"] == len(calls), agreement
    assert agreement["same_status_class"] >= 0.98 * agreement["steps"], agreement.get("first_mismatches")
    assert report["transitions"] >= 20 and report["states"] > 1, report["warnings"]
    # Kinto is a mature server: a finding here would be a false one of ours.
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    after = database_dump(kinto_server.db_url)
    assert after.keys() == before.keys()
    for table in before:
        assert after[table] == before[table], f"{table} differs after the exploration"
    assert _fingerprint(after) == _fingerprint(before)
    # Kinto still answers the SDK with the data it had.
    client = kinto_http.Client(server_url=f"{kinto_server.url}/v1", auth=("alice", "alice-secret"))
    ids_now = {r["id"] for r in client.get_records(collection="orders", bucket="shop")}
    assert ids_now == {ids["first"], ids["third"]}


def _explore(recording: Path, report_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), *args,
                           "--report", str(report_dir)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode in (0, 1) and (report_dir / "report.json").is_file(), done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads((report_dir / "report.json").read_text())


def test_kinto_explored_by_two_workers_on_copies_of_its_database(postgres_server, tmp_path):
    """`--workers 2 --api-cmd`: two Kintos, each on its own copy of the database, give the search one
    Kinto gives; Kinto's own database is not written and no copy is left."""
    tests_dir = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tests_dir), os.environ.get("PYTHONPATH")])),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    recording = tmp_path / "kinto.vrec"
    search = ["--depth", "3", "--no-mutations"]
    with running_kinto(postgres_server, tmp_path) as kinto:
        with recording_proxy(kinto.url, recording, "--db", kinto.db_url) as proxy:
            drive_kinto_sdk(proxy.url)
        plain = _explore(recording, tmp_path / "plain", "--target", kinto.url, "--db", kinto.db_url, *search)
        kinto.proc.terminate()  # a copy needs the database to itself: the API must not be connected
        kinto.proc.wait(timeout=15)
        before = database_dump(kinto.db_url)
        api_cmd = f"exec {shlex.quote(sys.executable)} -m support.kinto_launch --db {{db}} --port {{port}}"
        workers = _explore(recording, tmp_path / "workers", "--db", kinto.db_url, "--workers", "2", "--api-cmd", api_cmd,
                           "--api-ready", "/v1/", *search, env=env)
        assert database_dump(kinto.db_url) == before
    assert plain["stopped"] == workers["stopped"] == "complete"
    assert workers["db_restored"] is True and workers["findings"] == [] == plain["findings"]
    assert (workers["states"], workers["transitions"]) == (plain["states"], plain["transitions"])
    assert workers["replay_agreement"]["same_status_class"] == plain["replay_agreement"]["same_status_class"]
    assert [w["transitions"] > 0 for w in workers["workers"]] == [True, True], workers["workers"]
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE '%%__vr_%%'").fetchall()
    assert left == []
