"""`venom-replay import` of real mitmproxy flow dumps and HAR files, and of HARs shaped like
Playwright's record_har_path output (base64 bodies, pages)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from support.net import free_port, wait_for_port
from venom_replay.proxy.recording import read_recording


def venom(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def mitmdump_capture(tmp_path_factory, request) -> tuple[Path, Path, int]:
    """Traffic captured by a real `mitmdump -w` (and its HAR dump) in front of the CRUD API."""
    from support.http_app import running_app

    tmp = tmp_path_factory.mktemp("mitm")
    flows, har = tmp / "flows.mitm", tmp / "flows.har"
    with running_app("apps.crud_api:create_app") as api:
        port = free_port()
        proc = subprocess.Popen(
            ["mitmdump", "-q", "--mode", f"reverse:{api.url}", "-p", str(port), "-w", str(flows), "--set", f"hardump={har}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(port, proc=proc, timeout=30)
            base = f"http://127.0.0.1:{port}"
            s = requests.Session()
            s.trust_env = False
            s.post(base + "/items", json={"name": "lamp", "password": "hunter2"}, headers={"Authorization": "Bearer tok-123"})
            s.get(base + "/binary")
            s.get(base + "/items", headers={"Accept-Encoding": "gzip"})
            requests.Session().get(base + "/items/1", proxies={"http": None})
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    return flows, har, 4


def test_flow_dump_import_matches_the_traffic(mitmdump_capture, tmp_path) -> None:
    flows, _, count = mitmdump_capture
    out = tmp_path / "from_flows.vrec"
    r = venom("import", str(flows), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"imported {count} exchanges" in r.stdout and "from mitmproxy" in r.stdout
    rec = read_recording(out)
    assert [(ex.seq, ex.request.method, ex.request.path, ex.response.status) for ex in rec.exchanges] == [
        (1, "POST", "/items", 201),
        (2, "GET", "/binary", 200),
        (3, "GET", "/items", 200),
        (4, "GET", "/items/1", 200),
    ]
    assert rec.exchanges[0].request.json() == {"name": "lamp", "password": "hunter2"}  # secrets stay
    assert rec.exchanges[1].response.body == bytes(range(256)) * 4
    assert rec.exchanges[2].response.json()["items"][0]["name"] == "lamp"
    assert len(rec.sessions) >= 2  # one per client connection (the dev server may close each one)


def test_har_dump_import_keeps_binary_bytes(mitmdump_capture, tmp_path) -> None:
    _, har, count = mitmdump_capture
    out = tmp_path / "from_har.vrec"
    r = venom("import", str(har), "-o", str(out))
    assert r.returncode == 0, r.stderr
    rec = read_recording(out)
    assert len(rec.exchanges) == count
    assert rec.exchanges[1].response.body == bytes(range(256)) * 4
    assert rec.exchanges[0].request.header("Authorization") == "Bearer tok-123"


def _playwright_like_har() -> dict:
    png = bytes([0x89, 0x50, 0x4E, 0x47]) + bytes(range(200))
    def entry(page, t, method, url, status, body=None, b64=False, post=None, extra_headers=()):
        content = {"size": len(body or ""), "mimeType": "application/json"}
        if body is not None:
            content["text"] = base64.b64encode(body).decode() if b64 else body
            if b64:
                content["encoding"] = "base64"
        e = {
            "startedDateTime": f"2024-05-01T10:00:{t:02d}.000Z",
            "time": 12.5,
            "request": {
                "method": method, "url": url, "httpVersion": "HTTP/2.0",
                "headers": [{"name": ":authority", "value": "shop.test"}, {"name": "accept", "value": "*/*"}, *extra_headers],
                "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0,
            },
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/2.0", "headers": [], "cookies": [],
                         "content": content, "redirectURL": "", "headersSize": -1, "bodySize": -1},
            "cache": {}, "timings": {"send": 0, "wait": 10, "receive": 2.5},
        }
        if page:
            e["pageref"] = page
        if post is not None:
            e["request"]["postData"] = {"mimeType": "application/json", "text": post}
        return e

    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "Playwright", "version": "1.44.0"},
            "pages": [{"id": "page@a1", "title": "cart"}, {"id": "page@b2", "title": "admin"}],
            "entries": [
                entry("page@a1", 1, "POST", "https://shop.test/api/carts", 201, '{"id": 7}', post='{"sku": "x"}'),
                entry("page@b2", 2, "GET", "https://shop.test/api/orders?limit=5", 200, base64.b64encode(b'{"orders": []}').decode(), b64=False),
                entry("page@a1", 3, "GET", "https://shop.test/logo.png", 200, png, b64=True),
                entry("page@a1", 4, "GET", "https://shop.test/api/carts/7", 0, None),
                {"request": {"method": "GET"}},  # broken: no url
            ],
        }
    }, png


def test_playwright_style_har_pages_become_sessions(tmp_path) -> None:
    har, png = _playwright_like_har()
    src = tmp_path / "pw.har"
    src.write_text(json.dumps(har))
    out = tmp_path / "pw.vrec"
    r = venom("import", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "imported 4 exchanges in 2 sessions" in r.stdout
    assert "skipped 1 (entry 4: missing 'url')" in r.stdout
    rec = read_recording(out)
    first, orders, logo, failed = rec.exchanges
    assert [ex.session for ex in rec.exchanges] == ["page-1", "page-2", "page-1", "page-1"]
    assert (first.request.scheme, first.request.host, first.request.port, first.request.path) == ("https", "shop.test", 443, "/api/carts")
    assert first.request.json() == {"sku": "x"} and first.response.json() == {"id": 7}
    assert first.request.http_version == "HTTP/2.0"
    assert all(not k.startswith(":") for k, _ in first.request.headers)
    assert orders.request.query == [("limit", "5")] and orders.request.path == "/api/orders"
    assert logo.response.body == png
    assert failed.response is None and failed.error
    assert first.ended - first.started == pytest.approx(0.0125, abs=1e-6)
    assert [n.kind for n in rec.notes] == ["import_skipped"]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty file"),
        (b"\x00\x01garbage bytes", "not a HAR file, a mitmproxy flow dump or a venom-replay recording"),
        (b'{"not": "har"}', "JSON but not a HAR file (expected an object with log.entries)"),
        (b'{"log": {"entries": [', "not valid JSON (line 1"),
        (b"15:garbage-garbage,", "not a readable mitmproxy flow dump"),
    ],
)
def test_unusable_inputs_are_one_line_errors_and_leave_no_output(tmp_path, content, expected) -> None:
    src = tmp_path / "input.bin"
    src.write_bytes(content)
    out = tmp_path / "out.vrec"
    r = venom("import", str(src), "-o", str(out))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {src}:") and expected in r.stderr, r.stderr
    assert not out.exists()


def test_truncated_flow_dump_is_an_error_naming_where(mitmdump_capture, tmp_path) -> None:
    flows, _, _ = mitmdump_capture
    cut = tmp_path / "cut.mitm"
    data = flows.read_bytes()
    cut.write_bytes(data[: len(data) - 50])
    r = venom("import", str(cut), "-o", str(tmp_path / "o.vrec"))
    assert r.returncode == 2 and "not a readable mitmproxy flow dump (after 3 flows" in r.stderr
    assert not (tmp_path / "o.vrec").exists()


def test_redacted_copy_of_a_recording_holds_no_secrets(mitmdump_capture, tmp_path) -> None:
    flows, _, _ = mitmdump_capture
    full = tmp_path / "full.vrec"
    assert venom("import", str(flows), "-o", str(full)).returncode == 0
    shared = tmp_path / "shared.vrec"
    r = venom("import", str(full), "-o", str(shared), "--redact")
    assert r.returncode == 0, r.stderr and "secrets masked" in r.stdout
    raw = shared.read_bytes()
    assert b"tok-123" not in raw and b"hunter2" not in raw
    assert b"tok-123" in full.read_bytes()
    rec = read_recording(shared)
    assert rec.header.meta["redacted"] is True
    assert rec.exchanges[0].request.header("Authorization") == "Bearer ***"
    assert rec.exchanges[0].request.json() == {"name": "lamp", "password": "***(len 7)"}
    assert [ex.seq for ex in rec.exchanges] == [1, 2, 3, 4]
