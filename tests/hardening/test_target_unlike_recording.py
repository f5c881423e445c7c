"""A target that does not behave like the recording is not a green run.

The orders API's happy paths are recorded through the real proxy from the API running in its own
process on SQLite. Explored against a real server that answers 404 to everything, or a socket that
accepts connections and never answers, the run must say the target is not the recorded API, name the
first mismatches, write its reports and exit 2 (in a few timeouts, for the silent one); explored
against the API itself it stays at exit 1 (planted bugs) and its correct twin at 0.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.threaded_server import serving


class _NotFound(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"error": "not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def silent_server() -> Iterator[str]:
    """A socket that accepts every connection and never reads or answers; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture
def recorded(orders_api, record_orders, tmp_path):
    """(the orders API, its SQLite URL, the recording of its happy paths)."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    api = orders_api(url)
    return api, url, record_orders(api.url)


def explore(recording: Path, target: str, db: str, report: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("explore", "--no-mutations", str(recording), "--target", target, "--db", db, "--report", str(report), "--depth", "2",
               *extra, cwd=report.parent)


def test_a_target_answering_404_to_everything_exits_2_naming_the_first_mismatches(recorded, tmp_path):
    _, db, recording = recorded
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)) as target:
        run = explore(recording, target, db, tmp_path / "r")
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    agreement = report["replay_agreement"]
    assert agreement["steps"] == agreement["recorded"] > 20 and agreement["same_status_class"] == 0
    assert agreement["like_recording"] is False and agreement["min_agreement"] == 0.5
    first = agreement["first_mismatches"][0]
    assert (first["template"], first["recorded_status"], first["live_status"]) == ("POST /login", 200, 404)
    # Nothing was explored against it: the only steps sent were the recording's own.
    assert report["stopped"] == "unlike-recording" and report["transitions"] == 0
    assert report["findings"] == [] and report["exit_code"] == 2 and report["db_restored"] is True
    [line] = [ln for ln in run.stderr.splitlines() if ln.startswith("error: ")]
    assert "the target did not behave like the recording: 0 of " in line, line
    assert f"step {first['seq']} POST /login: recorded 200, live 404" in line, line
    suite = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    [case] = [c for c in suite.iter("testcase") if c.get("name") == "target behaves like the recording"]
    assert "did not behave like the recording" in case.find("failure").get("message")
    assert "did not behave like the recording" in (tmp_path / "r" / "summary.md").read_text()

    # --min-agreement 0 turns the check off: the same target is explored, and that is a plain run.
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)) as target:
        run = explore(recording, target, db, tmp_path / "off", "--min-agreement", "0")
    report = json.loads((tmp_path / "off" / "report.json").read_text())
    assert report["stopped"] == "complete" and report["transitions"] > 0
    assert run.returncode in (0, 1) and report["exit_code"] == run.returncode


def test_a_target_that_accepts_connections_and_never_answers_ends_in_a_few_timeouts(recorded, tmp_path):
    _, db, recording = recorded
    with silent_server() as target:
        started = time.monotonic()
        run = explore(recording, target, db, tmp_path / "r", "--timeout", "1")
        elapsed = time.monotonic() - started
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert elapsed < 30, f"{elapsed:.1f} s"  # three timeouts of 1 s, and the start-up of the command
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    agreement = report["replay_agreement"]
    assert (agreement["steps"], agreement["same_status_class"], agreement["unanswered"]) == (3, 0, True)
    assert all(m["live_status"] is None and "timed out after 1 s" in m["error"] for m in agreement["first_mismatches"])
    assert report["findings"] == [] and report["db_restored"] is True and report["exit_code"] == 2
    assert "the target did not behave like the recording: 0 of 3" in run.stderr
    assert "no answer (timed out after 1 s" in run.stderr


def test_the_recorded_api_stays_at_exit_1_and_its_correct_twin_at_0(recorded, orders_api, record_orders, tmp_path):
    api, db, recording = recorded
    run = explore(recording, api.url, db, tmp_path / "r")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    agreement = report["replay_agreement"]
    assert agreement["like_recording"] is True and agreement["same_status_class"] > 0.5 * agreement["steps"]
    assert report["stopped"] == "complete" and report["findings"]

    twin_db = f"sqlite:///{tmp_path / 'twin.db'}"
    twin = orders_api(twin_db, fixed=True)
    twin_recording = record_orders(twin.url, "twin.vrec")
    run = explore(twin_recording, twin.url, twin_db, tmp_path / "twin")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "twin" / "report.json").read_text())
    assert report["replay_agreement"]["like_recording"] is True and report["findings"] == []
