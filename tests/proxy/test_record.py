"""The real recording proxy (`venom-replay record`) in front of a real API process."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
from collections.abc import Iterator

import pytest
import requests

from support.http_app import AppProcess, running_app
from support.proxy import recording_proxy
from venom_replay.proxy.recording import read_recording


@pytest.fixture(scope="module")
def target_api() -> Iterator[AppProcess]:
    with running_app("apps.recording_target:create_app") as app:
        yield app


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no HTTP_PROXY / NO_PROXY from the environment
    return s


def test_reverse_mode_records_every_exchange_in_order(crud_api, tmp_path) -> None:
    out = tmp_path / "crud.vrec"
    with recording_proxy(crud_api.url, out) as proxy:
        client = _session()
        created = client.post(proxy.url + "/items", json={"name": "lamp", "price": 30})
        assert created.status_code == 201
        item = created.json()["id"]
        assert client.get(f"{proxy.url}/items/{item}", params={"fields": "name", "x": "1"}).json()["name"] == "lamp"
        assert client.put(f"{proxy.url}/items/{item}", json={"price": 25}).status_code == 200
        assert client.delete(f"{proxy.url}/items/{item}").status_code == 204
        assert _session().get(f"{proxy.url}/items/{item}").status_code == 404  # a second connection

    assert proxy.proc.returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rec = read_recording(out)
    assert rec.header.target == crud_api.url
    assert not rec.torn_tail
    got = [(ex.seq, ex.request.method, ex.request.path, ex.response.status) for ex in rec.exchanges]
    assert got == [
        (1, "POST", "/items", 201),
        (2, "GET", f"/items/{item}", 200),
        (3, "PUT", f"/items/{item}", 200),
        (4, "DELETE", f"/items/{item}", 204),
        (5, "GET", f"/items/{item}", 404),
    ]
    first = rec.exchanges[0]
    assert first.request.json() == {"name": "lamp", "price": 30}
    assert first.response.header("Location") == f"/items/{item}"
    assert rec.exchanges[1].request.query == [("fields", "name"), ("x", "1")]
    assert all(ex.started <= ex.ended for ex in rec.exchanges)
    # Sessions follow client connections: the keep-alive client is one, the last call another.
    sessions = [ex.session for ex in rec.exchanges]
    assert len(set(sessions[:4])) == 1 and sessions[4] != sessions[0]
    assert f"recorded 5 exchanges in 2 sessions (0 errors, 0 skipped notes) to {out}" in proxy.stdout
    assert "recording on http://127.0.0.1:" in proxy.stdout


def test_session_header_names_the_session_and_never_reaches_the_target(target_api, tmp_path) -> None:
    with recording_proxy(target_api.url, tmp_path / "s.vrec") as proxy:
        client = _session()
        seen = client.get(proxy.url + "/echo", headers={"X-Venom-Session": "alice"}).json()["headers"]
        client.get(proxy.url + "/echo", headers={"X-Venom-Session": "bob"})
        client.get(proxy.url + "/echo")
    assert not any(k.lower() == "x-venom-session" for k in seen)
    rec = proxy.recording()
    assert [ex.session for ex in rec.exchanges][:2] == ["hdr:alice", "hdr:bob"]
    assert rec.exchanges[2].session.startswith("conn-")
    assert all(ex.request.header("X-Venom-Session") is None for ex in rec.exchanges)


def test_sessions_by_auth_identity_follow_the_credential_across_connections(target_api, tmp_path) -> None:
    with recording_proxy(target_api.url, tmp_path / "auth.vrec", "--session-by", "auth") as proxy:
        ann, bob = _session(), _session()
        ann_token = ann.post(proxy.url + "/login", json={"user": "ann"}).json()["access_token"]
        bob.post(proxy.url + "/login", json={"user": "bob"})
        assert ann.get(proxy.url + "/me").json() == {"user": "ann"}  # by cookie
        assert bob.get(proxy.url + "/me").json() == {"user": "bob"}
        # The same credential on a fresh connection (bearer this time) is a different identity
        # string, but a repeated bearer on two more connections is one session.
        for _ in range(2):
            assert _session().get(proxy.url + "/me", headers={"Authorization": f"Bearer {ann_token}"}).status_code == 200
        assert _session().get(proxy.url + "/me").status_code == 401  # no credential: by connection
    rec = proxy.recording()
    s = [ex.session for ex in rec.exchanges]
    assert s[0] == s[2] and s[1] == s[3]  # each login joins the cookie session it started
    assert s[0] != s[1]
    assert s[4] == s[5] and s[4] not in (s[0], s[1])
    assert s[6].startswith("conn-")
    assert all(ann_token not in x for x in s)  # the session id is a hash, not the credential


@pytest.mark.parametrize("kind", ["gzip", "br", "deflate"])
def test_encoded_bodies_are_stored_decoded_with_headers_as_sent(target_api, tmp_path, kind) -> None:
    with recording_proxy(target_api.url, tmp_path / "enc.vrec") as proxy:
        r = _session().get(f"{proxy.url}/encoded/{kind}", headers={"Accept-Encoding": kind})
        assert r.json()["message"].startswith("compressed")  # the client still got it encoded
        raw = gzip.compress(b'{"password": "pw"}')
        _session().post(proxy.url + "/echo", data=raw, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    rec = proxy.recording()
    resp = rec.exchanges[0].response
    assert resp.header("Content-Encoding") == kind
    assert resp.json()["message"].startswith("compressed ")
    assert resp.body_size == len(resp.body) and not resp.body_truncated
    assert rec.exchanges[1].request.json() == {"password": "pw"}


def test_binary_bodies_kept_exactly_and_long_bodies_cut_and_marked(crud_api, tmp_path) -> None:
    with recording_proxy(crud_api.url, tmp_path / "cap.vrec", "--body-cap", "2k") as proxy:
        client = _session()
        assert client.get(proxy.url + "/binary").content == bytes(range(256)) * 4
        full = client.get(proxy.url + "/big", params={"size": "10000"})
        assert len(full.content) > 10000  # the client is never cut
        client.post(proxy.url + "/items", json={"name": "n" * 5000})
    rec = proxy.recording()
    binary, big, post = rec.exchanges
    assert binary.response.body == bytes(range(256)) * 4 and not binary.response.body_truncated
    assert big.response.body_truncated and len(big.response.body) == 2048
    assert big.response.body_size == len(full.content)
    assert big.response.body == full.content[:2048]
    assert big.response.json() is None  # a cut body is never parsed as if it were whole
    assert post.request.body_truncated and post.request.body_size > 5000
    assert post.response.body_truncated  # the echo of the long name is cut too


def test_target_down_gives_502_and_an_error_exchange_and_the_proxy_keeps_running(tmp_path) -> None:
    from support.net import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with recording_proxy(dead, tmp_path / "down.vrec") as proxy:
        for _ in range(2):
            r = _session().get(proxy.url + "/items")
            assert r.status_code == 502
        assert proxy.proc.poll() is None
    assert proxy.proc.returncode == 0
    rec = proxy.recording()
    assert len(rec.exchanges) == 2
    for ex in rec.exchanges:
        assert ex.response is None and "Connect call failed" in ex.error
        assert ex.request.path == "/items"
    assert "(2 errors," in proxy.stdout


def test_regular_mode_records_clients_that_use_http_proxy(crud_api, tmp_path) -> None:
    with recording_proxy(None, tmp_path / "fwd.vrec", "--mode", "regular") as proxy:
        client = _session()
        client.proxies = {"http": proxy.url}
        assert client.post(crud_api.url + "/items", json={"name": "x"}).status_code == 201
        assert client.get(crud_api.url + "/items/1").json()["name"] == "x"
    rec = proxy.recording()
    assert [(ex.request.host, ex.request.port, ex.request.path, ex.response.status) for ex in rec.exchanges] == [
        ("127.0.0.1", crud_api.port, "/items", 201),
        ("127.0.0.1", crud_api.port, "/items/1", 200),
    ]
    assert rec.header.target is None


def test_append_continues_numbering_and_sessions(crud_api, tmp_path) -> None:
    out = tmp_path / "a.vrec"
    with recording_proxy(crud_api.url, out) as proxy:
        _session().get(proxy.url + "/health")
    with recording_proxy(crud_api.url, out, "--append") as proxy:
        _session().get(proxy.url + "/health")
    rec = read_recording(out)
    assert [ex.seq for ex in rec.exchanges] == [1, 2]
    assert len(rec.sessions) == 2


def test_existing_file_and_busy_port_are_one_line_errors(crud_api, tmp_path) -> None:
    from support.proxy import record_command

    out = tmp_path / "exists.vrec"
    out.write_bytes(b"precious")
    r = subprocess.run(record_command(crud_api.url, out, crud_api.port), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "file exists" in r.stderr and str(out) in r.stderr
    assert out.read_bytes() == b"precious"
    fresh = tmp_path / "fresh.vrec"
    r = subprocess.run(record_command(crud_api.url, fresh, crud_api.port), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: cannot listen on 127.0.0.1:{crud_api.port}: address already in use"
    assert not fresh.exists()  # no empty recording left behind
    r = subprocess.run(record_command(None, fresh, 1), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--target is required" in r.stderr


def test_record_traffic_fixture_returns_a_complete_recording(record_traffic, crud_api) -> None:
    path = record_traffic(crud_api.url, lambda url: _session().post(url + "/items", json={"name": "a"}))
    rec = read_recording(path)
    assert [ex.response.status for ex in rec.exchanges] == [201]
    assert json.loads(rec.exchanges[0].response.body)["name"] == "a"


def test_session_by_header_groups_unlabelled_requests_together(target_api, tmp_path) -> None:
    with recording_proxy(target_api.url, tmp_path / "h.vrec", "--session-by", "header") as proxy:
        _session().get(proxy.url + "/echo", headers={"X-Venom-Session": "t1"})
        _session().get(proxy.url + "/echo")
        _session().get(proxy.url + "/echo")
    assert [ex.session for ex in proxy.recording().exchanges] == ["hdr:t1", "unlabelled", "unlabelled"]
