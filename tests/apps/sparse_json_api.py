"""An experiment-tracking API that leaves empty lists out of its JSON, as MLflow's protobuf-to-JSON does.

A run is ``{"run": {"info": {...}, "data": {"metrics": [...], "params": [...]}}}``; a run with no
metrics has no ``metrics`` key at all, and an empty listing is ``{}``. Its ``artifact_uri`` names the
run (``store:/runs/<run id>/artifacts``). Everything here is correct behaviour a checker must accept.

Planted shape bug (``SPARSE_BUGGY=1``): a metric logged after the run finished is stored apart, and a
run holding one answers ``metrics`` as a map ``{key: value}`` instead of a list. The happy-path
traffic (``drive_traffic``) only logs metrics before finishing, so only an unseen ordering
(create -> finish -> log a metric) shows it.

Environment: ``SPARSE_DB`` (SQLite file, created if missing), ``SPARSE_BUGGY`` ("1" plants the bug).
Factory: ``create_app``.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, jsonify, request

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, start_time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,
                                    after_finish INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS params (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL);
"""


def create_app() -> Flask:
    app = Flask(__name__)
    path = os.environ["SPARSE_DB"]
    buggy = os.environ.get("SPARSE_BUGGY", "0") == "1"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)

    @contextmanager
    def db() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def show(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        metrics = conn.execute("SELECT key, value, after_finish FROM metrics WHERE run_id = ? ORDER BY id", (row["id"],)).fetchall()
        params = conn.execute("SELECT key, value FROM params WHERE run_id = ? ORDER BY id", (row["id"],)).fetchall()
        data: dict[str, Any] = {}
        # Empty lists are left out, the way protobuf-to-JSON writes them.
        if metrics:
            if buggy and any(m["after_finish"] for m in metrics):
                data["metrics"] = {m["key"]: m["value"] for m in metrics}  # BUG (shape): a map, not a list
            else:
                data["metrics"] = [{"key": m["key"], "value": m["value"]} for m in metrics]
        if params:
            data["params"] = [{"key": p["key"], "value": p["value"]} for p in params]
        info = {"run_id": row["id"], "name": row["name"], "status": row["status"],
                "artifact_uri": f"store:/runs/{row['id']}/artifacts", "start_time": row["start_time"]}
        return {"info": info, "data": data}

    def body() -> dict[str, Any]:
        data = request.get_json(force=True, silent=True)
        return data if isinstance(data, dict) else {}

    def not_found():
        return jsonify({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such run"}), 404

    @app.post("/runs")
    def create():
        name = str(body().get("name", "run"))
        rid = uuid.uuid4().hex
        with db() as conn:
            conn.execute("INSERT INTO runs VALUES (?, ?, 'RUNNING', ?)", (rid, name, int(time.time() * 1000)))
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
            return jsonify({"run": show(conn, row)}), 201

    @app.get("/runs")
    def listing():
        with db() as conn:
            runs = [show(conn, r) for r in conn.execute("SELECT * FROM runs ORDER BY start_time, id")]
        return jsonify({"runs": runs} if runs else {})

    @app.get("/runs/<rid>")
    def read(rid: str):
        with db() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
            return jsonify({"run": show(conn, row)}) if row else not_found()

    @app.post("/runs/<rid>/metrics")
    def log_metric(rid: str):
        sent = body()
        with db() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
            if row is None:
                return not_found()
            conn.execute("INSERT INTO metrics (run_id, key, value, after_finish) VALUES (?, ?, ?, ?)",
                         (rid, str(sent.get("key", "m")), float(sent.get("value", 0)), row["status"] == "FINISHED"))
            return jsonify({"run": show(conn, row)})

    @app.post("/runs/<rid>/params")
    def log_param(rid: str):
        sent = body()
        with db() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
            if row is None:
                return not_found()
            conn.execute("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", (rid, str(sent.get("key", "p")), str(sent.get("value", ""))))
            return jsonify({"run": show(conn, row)})

    @app.post("/runs/<rid>/finish")
    def finish(rid: str):
        with db() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
            if row is None:
                return not_found()
            if row["status"] == "FINISHED":
                return jsonify({"error_code": "INVALID_STATE", "message": "the run is already finished"}), 409
            conn.execute("UPDATE runs SET status = 'FINISHED' WHERE id = ?", (rid,))
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
            return jsonify({"run": show(conn, row)})

    @app.delete("/runs/<rid>")
    def delete(rid: str):
        with db() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (rid,)).fetchone() is None:
                return not_found()
            for table in ("metrics", "params"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (rid,))
            conn.execute("DELETE FROM runs WHERE id = ?", (rid,))
        return jsonify({})

    return app


RUNS = [
    ("baseline", [("loss", 0.5), ("acc", 0.75)], [("lr", "0.1")]),
    ("wide", [("loss", 0.4)], []),
    ("deep", [("loss", 0.3), ("acc", 0.8)], [("lr", "0.01"), ("depth", "8")]),
]


def drive_traffic(base_url: str) -> None:
    """A client's happy path: each run gets its metrics (and maybe params) before it is finished."""
    import requests

    http = requests.Session()
    base = base_url.rstrip("/")

    def call(method: str, path: str, json: Any = None, expect: int = 200) -> Any:
        resp = http.request(method, base + path, json=json, timeout=10)
        if resp.status_code != expect:
            raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    call("GET", "/runs")
    ids = []
    for name, metrics, params in RUNS:
        rid = call("POST", "/runs", {"name": name}, 201)["run"]["info"]["run_id"]
        ids.append(rid)
        for key, value in metrics:
            call("POST", f"/runs/{rid}/metrics", {"key": key, "value": value})
        for key, value in params:
            call("POST", f"/runs/{rid}/params", {"key": key, "value": value})
        call("GET", f"/runs/{rid}")
        call("POST", f"/runs/{rid}/finish")
        call("GET", f"/runs/{rid}")
    call("GET", "/runs")
    call("DELETE", f"/runs/{ids[1]}")
    call("GET", "/runs")
