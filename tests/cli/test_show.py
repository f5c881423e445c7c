"""`venom-replay show`: summaries, JSON, torn tails, bad files, masked secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response


def venom(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], capture_output=True, text=True, timeout=120)


def _ex(session: str, method: str, path: str, status: int | None, **kw) -> Exchange:
    req = Request(method=method, scheme="http", host="api", port=8000, path=path, headers=kw.pop("req_headers", []), body=kw.pop("req_body", b""))
    resp = None if status is None else Response(status=status, headers=kw.pop("resp_headers", []), body=kw.pop("resp_body", b""))
    return Exchange(seq=0, session=session, started=100.0, ended=100.5, request=req, response=resp, error=kw.pop("error", None))


@pytest.fixture
def sample(tmp_path) -> Path:
    path = tmp_path / "sample.vrec"
    with RecordingWriter(path, target="http://api:8000") as w:
        w.write_exchange(_ex("conn-1", "POST", "/login", 200,
                             req_headers=[("Content-Type", "application/json")], req_body=b'{"user": "ann", "password": "hunter2"}',
                             resp_headers=[("Set-Cookie", "sid=SECRETCOOKIE; Path=/"), ("Content-Type", "application/json")],
                             resp_body=b'{"access_token": "SECRETTOKEN"}'))
        w.write_exchange(_ex("conn-1", "GET", "/items/1", 200, req_headers=[("Authorization", "Bearer SECRETBEARER")]))
        w.write_exchange(_ex("conn-1", "GET", "/items/2", 404))
        w.write_exchange(_ex("conn-2", "GET", "/items/1", 200))
        w.write_exchange(_ex("conn-2", "DELETE", "/items/1", None, error="[Errno 111] Connect call failed"))
        w.write_note("websocket", url="ws://api/feed", messages=3)
    return path


def test_json_summary_counts(sample) -> None:
    r = venom("show", str(sample), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)  # nothing but JSON on stdout
    assert s["exchanges"] == 5 and s["sessions"] == 2 and s["torn_tail"] is False and s["torn_offset"] is None
    assert s["complete_records"] == 7  # header + 5 exchanges + 1 note
    assert s["statuses"] == {"200": 3, "404": 1, "error": 1}
    assert s["errors"] == 1 and s["error_samples"][0]["method"] == "DELETE"
    assert s["notes"] == 1 and s["note_kinds"] == {"websocket": 1}
    assert s["endpoints"][0] == {"method": "GET", "path": "/items/1", "count": 2, "statuses": {"200": 2}}
    assert {(e["method"], e["path"]) for e in s["endpoints"]} == {
        ("GET", "/items/1"), ("POST", "/login"), ("GET", "/items/2"), ("DELETE", "/items/1")}


def test_rich_summary_and_one_exchange_mask_secrets(sample, tmp_path) -> None:
    r = venom("show", str(sample), "--exchanges", "--exchange", "1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "5 exchanges in 2 sessions" in out and "/items/1" in out and "websocket 1" in out
    assert "Connect call failed" in out
    for secret in ("hunter2", "SECRETCOOKIE", "SECRETTOKEN", "SECRETBEARER"):
        assert secret not in out
    assert "sid=***; Path=/" in out and '"password": "***(len 7)"' in out
    r = venom("show", str(sample), "--json", "--exchange", "2")
    assert json.loads(r.stdout)["exchange"]["request"]["headers"] == [["Authorization", "Bearer ***"]]
    assert "SECRETBEARER" not in r.stdout


def test_export_redacted_copy(sample, tmp_path) -> None:
    out = tmp_path / "share.vrec"
    r = venom("show", str(sample), "--export-redacted", str(out))
    assert r.returncode == 0 and "wrote 5 exchanges with secrets masked" in r.stdout
    raw = out.read_bytes()
    assert all(s not in raw for s in (b"hunter2", b"SECRETCOOKIE", b"SECRETTOKEN", b"SECRETBEARER"))
    assert json.loads(venom("show", str(out), "--json").stdout)["exchanges"] == 5


def test_torn_tail_is_reported_not_fatal(sample, tmp_path) -> None:
    data = sample.read_bytes()
    torn = tmp_path / "torn.vrec"
    # A record cut in the middle, as a writer killed mid-write leaves it.
    extra = msgpack.packb({"type": "exchange", "seq": 99, "session": "x", "request": {"body": b"z" * 500}}, use_bin_type=True)
    torn.write_bytes(data + extra[:200])
    r = venom("show", str(torn), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["torn_tail"] is True and s["torn_offset"] == len(data) and s["exchanges"] == 5
    r = venom("show", str(torn))
    assert r.returncode == 0 and f"torn tail at byte {len(data)}" in r.stdout


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"hello, not msgpack at all", "not a venom-replay recording"),
        (msgpack.packb({"type": "header", "format": "venom-replay-recording", "version": 99}), "version 99 is not supported"),
        (b"", "empty or not a venom-replay recording"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, expected) -> None:
    path = tmp_path / "bad.vrec"
    path.write_bytes(content)
    r = venom("show", str(path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {path}:") and expected in r.stderr, r.stderr


def test_missing_file_and_unknown_exchange(tmp_path, sample) -> None:
    r = venom("show", str(tmp_path / "nope.vrec"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = venom("show", str(sample), "--exchange", "42")
    assert r.returncode == 2 and "no exchange with sequence number 42" in r.stderr
