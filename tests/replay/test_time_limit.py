"""``--time-limit`` holds for the whole run: the replay of the recording, the search, shrinking and
confirming the findings all share it, and the run ends within one step's timeout of it.

A slow real API (every answer takes 0.15 s; items on SQLite, with a read-after-delete bug) is
recorded through the real proxy with more traffic than the limit lets the run replay. Before the
shared budget, the limit covered only the search and everything else came on top.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask, jsonify
from werkzeug.serving import make_server

from support.proxy import recording_proxy
from support.threaded_server import serving
from venom_replay.adapters.registry import open_adapter
from venom_replay.replay.explorer import Limits, explore
from venom_replay.replay.session import build_checkers, load_recording_once

DELAY = 0.15
LIMIT = 4.0
TIMEOUT = 2.0


def slow_items_app(db_path: Path) -> Flask:
    app = Flask(__name__)
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, deleted INTEGER DEFAULT 0)")

    def db() -> sqlite3.Connection:
        return sqlite3.connect(db_path, timeout=10, isolation_level=None)

    @app.before_request
    def slow() -> None:
        time.sleep(DELAY)

    @app.post("/items")
    def create():
        with db() as conn:
            cur = conn.execute("INSERT INTO items (name) VALUES ('x')")
            return jsonify({"id": cur.lastrowid, "name": "x"}), 201

    @app.get("/items/<int:item_id>")
    def read(item_id: int):
        with db() as conn:
            row = conn.execute("SELECT id, name FROM items WHERE id = ?", (item_id,)).fetchone()
        # The bug: a deleted item is still readable.
        return (jsonify({"id": row[0], "name": row[1]}), 200) if row else (jsonify({"error": "not found"}), 404)

    @app.delete("/items/<int:item_id>")
    def delete(item_id: int):
        with db() as conn:
            conn.execute("UPDATE items SET deleted = 1 WHERE id = ?", (item_id,))
        return "", 204

    return app


@pytest.fixture
def slow_api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db_path = tmp_path / "items.db"
    with serving(make_server("127.0.0.1", 0, slow_items_app(db_path), threaded=True)) as url:
        yield url, db_path


def _record(url: str, recording: Path) -> None:
    with recording_proxy(url, recording) as proxy:
        with requests.Session() as client:
            for _ in range(12):  # 36 recorded steps: about 5.4 s to replay, more than the limit allows
                item = client.post(f"{proxy.url}/items", timeout=10).json()
                client.get(f"{proxy.url}/items/{item['id']}", timeout=10)
                client.delete(f"{proxy.url}/items/{item['id']}", timeout=10)


def test_the_time_limit_covers_the_whole_run(slow_api, tmp_path):
    url, db_path = slow_api
    recording = tmp_path / "items.vrec"
    _record(url, recording)
    loaded = load_recording_once(recording)
    checkers, _ = build_checkers(loaded)
    before = sqlite3.connect(db_path).execute("SELECT * FROM items ORDER BY id").fetchall()

    started = time.monotonic()
    result = explore(loaded.templates, url, open_adapter(f"sqlite:///{db_path}"), limits=Limits(depth=3, time_limit=LIMIT),
                     checkers=checkers, timeout=TIMEOUT, recorded_exchanges=loaded.exchanges)
    elapsed = time.monotonic() - started

    # Within one step's timeout of the limit (the final restore of a small SQLite file is milliseconds).
    assert elapsed <= LIMIT + TIMEOUT, f"{elapsed:.1f} s for --time-limit {LIMIT}"
    assert result.stopped == "time-limit"
    # The replay of the recording took at most its share, and says how much of it ran.
    agreement = result.replay_agreement
    assert agreement["recorded"] == 36 and 0 < agreement["steps"] < 36
    assert agreement["same_status_class"] == agreement["steps"], agreement["first_mismatches"]
    assert "recorded" in result.time_cut
    assert any("time limit" in w for w in result.warnings), result.warnings
    # Every finding was either shrunk and confirmed, or says what the limit left out.
    for finding in result.findings:
        assert finding.minimized or finding.notes, finding.message
    assert result.db_restored is True
    assert sqlite3.connect(db_path).execute("SELECT * FROM items ORDER BY id").fetchall() == before
    # report.json carries the agreement.
    from venom_replay.replay.report import write_reports

    report = write_reports(result, tmp_path / "report")
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["replay_agreement"]["steps"] == agreement["steps"] == report["replay_agreement"]["steps"]
    assert saved["time_cut"] == result.time_cut


def test_max_recorded_steps_bounds_the_replay_of_the_recording(slow_api, tmp_path):
    url, db_path = slow_api
    recording = tmp_path / "items.vrec"
    _record(url, recording)
    loaded = load_recording_once(recording)
    result = explore(loaded.templates, url, open_adapter(f"sqlite:///{db_path}"),
                     limits=Limits(depth=1, recorded_steps=5, time_limit=3), recorded_exchanges=loaded.exchanges)
    assert (result.replay_agreement["steps"], result.replay_agreement["recorded"]) == (5, 36)
    assert result.confirmed_steps == 5 and result.db_restored is True
