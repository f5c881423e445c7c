"""Beyond plain HTTP/1: HTTP/2 over TLS, cleartext h2c, websockets, and the addon under mitmdump -s."""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest
import requests

from support.net import free_port, wait_for_port
from support.proxy import recording_proxy
from support.ws_echo import ws_echo_server, ws_roundtrip
from venom_replay.proxy import addon as addon_module
from venom_replay.proxy.recording import read_recording


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl built with HTTP/2")
def test_http2_over_tls_is_recorded_like_http1(crud_api, tmp_path) -> None:
    with recording_proxy(crud_api.url, tmp_path / "h2.vrec") as proxy:
        https = f"https://127.0.0.1:{proxy.port}"
        out = subprocess.run(
            ["curl", "-sk", "--http2", "-X", "POST", "-H", "content-type: application/json", "-d", '{"name": "h2"}',
             "-w", "\n%{http_version}", https + "/items"],
            capture_output=True, text=True, timeout=30,
        ).stdout
        assert out.rstrip().endswith("\n2")  # the client really spoke HTTP/2
        h2c = subprocess.run(["curl", "-s", "--http2-prior-knowledge", proxy.url + "/health"], capture_output=True, timeout=30)
        assert h2c.returncode != 0  # cleartext HTTP/2 is refused, and must not crash the proxy
        assert requests.get(proxy.url + "/health", proxies={"http": None}).status_code == 200
    rec = proxy.recording()
    h2 = rec.exchanges[0]
    assert h2.request.http_version == "HTTP/2.0" and h2.request.method == "POST"
    assert h2.request.json() == {"name": "h2"} and h2.response.status == 201 and h2.response.json()["name"] == "h2"
    assert [ex.request.path for ex in rec.exchanges] == ["/items", "/health"]
    assert [n.kind for n in rec.notes] == ["h2c"]
    assert "1 skipped notes: h2c 1" in proxy.stdout


def test_websocket_handshake_recorded_and_messages_counted_in_a_note(tmp_path) -> None:
    with ws_echo_server() as ws_port:
        with recording_proxy(f"http://127.0.0.1:{ws_port}", tmp_path / "ws.vrec") as proxy:
            assert ws_roundtrip(proxy.port, "/feed", ["one", "two", "three"]) == ["echo: one", "echo: two", "echo: three"]
    assert proxy.proc.returncode == 0
    rec = proxy.recording()
    (handshake,) = rec.exchanges
    assert handshake.request.path == "/feed" and handshake.response.status == 101 and handshake.meta.get("websocket")
    (note,) = rec.notes
    assert note.kind == "websocket"
    assert note.detail["messages"] == 6 and note.detail["from_client"] == 3
    assert note.detail["session"] == handshake.session
    assert "(0 errors, 1 skipped notes: websocket 1)" in proxy.stdout


def _mitmdump(target: str, port: int, *sets: str) -> subprocess.Popen:
    cmd = ["mitmdump", "-q", "--mode", f"reverse:{target}", "-p", str(port), "-s", addon_module.__file__]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_addon_under_plain_mitmdump(crud_api, tmp_path) -> None:
    out = tmp_path / "mitm.vrec"
    port = free_port()
    proc = _mitmdump(crud_api.url, port, f"venom_out={out}", "venom_body_cap=16", "connection_strategy=lazy")
    try:
        wait_for_port(port, proc=proc, timeout=30)
        base = f"http://127.0.0.1:{port}"
        s = requests.Session()
        s.trust_env = False
        s.post(base + "/items", json={"name": "from mitmdump"}, headers={"X-Venom-Session": "qa-7"})
        s.get(base + "/items/1")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    rec = read_recording(out)
    assert rec.header.target == crud_api.url
    assert [(ex.request.method, ex.response.status) for ex in rec.exchanges] == [("POST", 201), ("GET", 200)]
    assert rec.exchanges[0].session == "hdr:qa-7"
    assert rec.exchanges[0].request.body_truncated and len(rec.exchanges[0].request.body) == 16


def test_addon_refuses_to_overwrite_and_rejects_bad_options(crud_api, tmp_path) -> None:
    out = tmp_path / "keep.vrec"
    out.write_bytes(b"user data")
    proc = _mitmdump(crud_api.url, free_port(), f"venom_out={out}")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "file exists" in output and str(out) in output
    assert out.read_bytes() == b"user data"
    proc = _mitmdump(crud_api.url, free_port(), f"venom_out={tmp_path / 'x.vrec'}", "venom_session_by=cookie")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "venom_session_by='cookie': expected one of connection, header, auth" in output
