"""Real clients, end to end: MLflow's tracking server with basic auth, driven by MLflow's own clients.

The second third-party server after Kinto, and a different kind of API: RPC-style
(``POST /api/2.0/mlflow/<noun>/<verb>``), small integer experiment ids from a sequence, ids in JSON
bodies and query strings, HTTP Basic identities created through the API (users, a password change)
and permissions granted and revoked with the auth endpoints. The tracking store and the auth app's
store are two PostgreSQL databases of the test's server.

MLflow runs from its own virtualenv (tests/support/mlflow_harness.py creates it when missing); the
official clients (``MlflowClient``, ``AuthServiceClient``) run a scripted session from there
(tests/apps/mlflow_client_traffic.py) through the real recording proxy. Then ``venom-replay
templates`` learns the recording and ``venom-replay explore`` runs against the live server with
both databases given to ``--db``; afterwards both must hold exactly what they held before, read
through a separate connection (rows, sequence positions, catalog objects).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.db_servers import installed_objects
from support.mlflow_harness import MlflowServer, running_mlflow
from support.proxy import recording_proxy

psycopg = pytest.importorskip("psycopg")

CLI = [sys.executable, "-m", "venom_replay.replay.cli"]


@pytest.fixture
def mlflow_server(postgres_server, tmp_path: Path) -> Iterator[MlflowServer]:
    """MLflow with basic auth on two fresh databases of the session's PostgreSQL server."""
    with running_mlflow(postgres_server, tmp_path / "mlflow") as server:
        yield server


def database_dump(db_url: str) -> dict[str, list]:
    """Every row of every public table, sorted, plus sequence positions and our-objects-or-not catalog."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        dump: dict[str, list] = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            dump[table] = sorted(tuple(map(repr, row)) for row in rows)
        # Experiment and user ids come from sequences: a restore must put them back too.
        dump["-- sequences"] = [tuple(map(repr, r)) for r in conn.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2")]
        dump["-- catalog"] = [tuple(r) for r in conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2")]
        dump["-- triggers"] = [tuple(r) for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1")]
        dump["-- functions"] = [tuple(r) for r in conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")]
    return dump


def _fingerprint(dump: dict[str, list]) -> str:
    return hashlib.sha256(json.dumps(dump, sort_keys=True, default=str).encode()).hexdigest()


def _get_json(url: str, user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


# About 3.5 minutes on the 2-core machine (the 91-call session takes 35 to 90 s: MLflow checks a scrypt
# password hash on every request; the exploration runs to its 150 s limit), plus about 75 s once to
# build MLflow's virtualenv. It runs in the default suite: it is the RPC-style real server of the
# replay-fidelity work.
@pytest.mark.timeout(900)
def test_mlflow_client_traffic_is_recorded_learned_and_explored_with_both_databases_restored(mlflow_server, tmp_path):
    server = mlflow_server
    started = time.monotonic()
    recording_path = tmp_path / "mlflow.vrec"
    # --db (both databases): where the recording started, so the recorded calls replay from there.
    with recording_proxy(server.url, recording_path, "--db", server.tracking_db_url, "--db", server.auth_db_url) as proxy:
        session = server.run_client(proxy.url)
    assert session.returncode == 0, session.stdout[-2000:] + session.stderr[-3000:]
    seen = json.loads(session.stdout.strip().splitlines()[-1])
    assert seen["churn"] == "1" and seen["pricing"] == "2", seen  # small ids from the experiments sequence
    recording = proxy.recording()
    print(f"recorded the client session in {time.monotonic() - started:.1f} s")

    # Every call of the scripted session went through the proxy; the refusals are part of it.
    calls = [(ex.request.method, ex.request.path, ex.response.status) for ex in recording.exchanges]
    assert all(ex.error is None for ex in recording.exchanges)
    assert len(calls) == 91, calls
    assert Counter(status for *_, status in calls) == {200: 82, 403: 5, 400: 2, 401: 1, 404: 1}, calls
    assert ("POST", "/api/2.0/mlflow/runs/restore", 200) in calls
    assert ("PATCH", "/api/2.0/mlflow/users/update-password", 200) in calls
    assert [c for c in calls if c[1] == "/api/3.0/mlflow/users/permissions/revoke"] == [
        ("POST", "/api/3.0/mlflow/users/permissions/revoke", 200)] * 2

    # Templates: the run id the server generates is bound from runs/create to the calls that use it,
    # in JSON bodies and in query strings.
    learned = subprocess.run([*CLI, "templates", str(recording_path), "--json"], check=False, capture_output=True,
                             text=True, timeout=120)
    assert learned.returncode == 0, learned.stderr[-3000:]
    tset = json.loads(learned.stdout)
    bindings = {(t["id"], c["in"]): c["producer"] for t in tset["templates"] for c in t["consumes"]}
    create_run = "POST /api/2.0/mlflow/runs/create"
    assert bindings.get(("GET /api/2.0/mlflow/runs/get", "query:run_id")) == create_run, sorted(bindings)
    assert bindings.get(("POST /api/2.0/mlflow/runs/log-metric", "body:$.run_id")) == create_run, sorted(bindings)
    assert bindings.get(("POST /api/2.0/mlflow/runs/delete", "body:$.run_id")) == create_run, sorted(bindings)

    # Explore with rollback of both databases against the live server.
    before = {name: database_dump(url) for name, url in (("tracking", server.tracking_db_url),
                                                          ("auth", server.auth_db_url))}
    report_dir = tmp_path / "report"
    started = time.monotonic()
    explored = subprocess.run(
        [*CLI, "explore", str(recording_path), "--target", server.url, "--db", server.tracking_db_url,
         "--db", server.auth_db_url, "--report", str(report_dir), "--depth", "1", "--time-limit", "150"],
        check=False, capture_output=True, text=True, timeout=600)
    assert explored.returncode in (0, 1), explored.stdout[-2000:] + explored.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    print(f"explored in {time.monotonic() - started:.1f} s: {report['transitions']} transitions, "
          f"{report['states']} states, {report['confirmed_steps']} recorded steps replayed;", *report["warnings"], sep="\n")
    assert report["db_restored"] is True, report["warnings"]
    assert report["stopped"] in ("complete", "time-limit"), report["stopped"]
    assert report["confirmed_steps"] > 0 and report["transitions"] >= 10, report["warnings"]
    # From the start state the recorded calls answer as they did when recorded (issue: >= 98% of them).
    agreement = report["replay_agreement"]
    assert agreement["steps"] == len(calls), agreement
    assert agreement["same_status_class"] >= 0.98 * len(calls), agreement.get("first_mismatches")

    # Both databases hold exactly what they held before, read through connections of our own.
    for name, url in (("tracking", server.tracking_db_url), ("auth", server.auth_db_url)):
        after = database_dump(url)
        assert after.keys() == before[name].keys(), name
        for table in before[name]:
            assert after[table] == before[name][table], f"{name}: {table} differs after the exploration"
        assert _fingerprint(after) == _fingerprint(before[name])
        assert installed_objects(url) == [], name

    # MLflow still answers with the data and the credentials the session left.
    experiment = _get_json(f"{server.url}/api/2.0/mlflow/experiments/get?experiment_id=1", "alice", "alice-password-2")
    assert experiment["experiment"]["name"] == "churn-model-v2"
    assert experiment["experiment"]["lifecycle_stage"] == "active"
    pricing = _get_json(f"{server.url}/api/2.0/mlflow/experiments/get?experiment_id=2", *server.admin)
    assert pricing["experiment"]["lifecycle_stage"] == "deleted"
