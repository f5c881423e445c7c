"""Flow sessions: inference regroups the recorded connections by credential and value flow.

Hand-built recordings check each rule (a credential is a session; a request joins the session that
produced a value it carries; small numbers join only through the create that made them; named
sessions stay as named). The real proxy checks the point of it all: the same client traffic sent
keep-alive and with one connection per request (plain urllib) learns the same templates, variants
and bindings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.basic_auth_traffic import drive
from support.http_app import running_app
from support.proxy import recording_proxy
from support.recorded_calls import Calls
from venom_replay.proxy.infer.inference import infer_templates

UUID_A = "6f1c1a52-6a3e-4c1e-9a55-0d6f3c9e1a01"
UUID_B = "6f1c1a52-6a3e-4c1e-9a55-0d6f3c9e1a02"


def _flows(tset) -> dict[str, list[int]]:
    return {name: [s.seq for s in steps] for name, steps in tset.sessions.items()}


def _bindings(tset) -> set[tuple[str, str, str, str, str]]:
    return {(t.id, c.location, c.producer, c.source, c.transform) for t in tset.templates.values() for c in t.consumes}


def test_one_connection_carrying_two_users_is_two_flows():
    calls = Calls()
    calls.add("conn-1", "POST /items", 201, sent={"name": "a"}, answer={"id": UUID_A}, auth=("alice", "alice-pw"))
    calls.add("conn-1", "POST /items", 201, sent={"name": "b"}, answer={"id": UUID_B}, auth=("bob", "bob-pw"))
    calls.add("conn-1", f"GET /items/{UUID_A}", answer={"id": UUID_A}, auth=("alice", "alice-pw"))
    calls.add("conn-1", f"GET /items/{UUID_B}", answer={"id": UUID_B}, auth=("bob", "bob-pw"))
    tset = infer_templates(calls.recording())
    assert _flows(tset) == {"conn-1": [1, 3], "conn-1#2": [2, 4]}
    assert tset.session_parts == {"conn-1": ["conn-1"], "conn-1#2": ["conn-1"]}
    get = tset.templates["GET /items/{item_id}"]
    assert [(c.location, c.producer, c.support) for c in get.consumes] == [("path:item_id", "POST /items", 2)]


def test_a_token_joins_the_login_that_answered_it_and_the_recording_keeps_its_sessions():
    calls = Calls()
    calls.add("conn-1", "POST /login", sent={"username": "alice", "password": "pw"}, answer={"token": "tok-9f8e7d6c5b4a"})
    calls.add("conn-2", "POST /items", 201, answer={"id": UUID_A}, headers=[("Authorization", "Bearer tok-9f8e7d6c5b4a")])
    calls.add("conn-3", f"GET /items/{UUID_A}", answer={"id": UUID_A}, headers=[("Authorization", "Bearer tok-9f8e7d6c5b4a")])
    calls.add("conn-4", "GET /health", answer={"ok": True})  # carries nothing: its own session
    rec = calls.recording()
    tset = infer_templates(rec)
    assert _flows(tset) == {"conn-1": [1, 2, 3], "conn-4": [4]}
    assert tset.session_parts["conn-1"] == ["conn-1", "conn-2", "conn-3"]
    assert ("GET /items/{item_id}", "header:Authorization", "POST /login", "body:$.token", "bearer") in _bindings(tset)
    assert ("GET /items/{item_id}", "path:item_id", "POST /items", "body:$.id", "identity") in _bindings(tset)
    assert [ex.session for ex in rec.exchanges] == ["conn-1", "conn-2", "conn-3", "conn-4"]


def test_a_login_cookie_joins_its_login_and_a_theme_cookie_joins_nothing():
    calls = Calls()
    for user in ("alice", "bob"):
        calls.add(f"conn-{user}", "POST /login", sent={"username": user, "password": "pw"}, answer={},
                  answer_headers=[("Set-Cookie", f"sid=s3ss10n-{user}; Path=/"), ("Set-Cookie", "theme=dark")])
    calls.add("conn-3", "GET /me", answer={}, headers=[("Cookie", "sid=s3ss10n-alice; theme=dark")])
    calls.add("conn-4", "GET /me", answer={}, headers=[("Cookie", "sid=s3ss10n-bob; theme=dark")])
    calls.add("conn-5", "GET /news", answer={}, headers=[("Cookie", "theme=dark")])
    tset = infer_templates(calls.recording())
    assert _flows(tset) == {"conn-alice": [1, 3], "conn-bob": [2, 4], "conn-5": [5]}


def test_small_ids_join_only_the_create_that_made_them():
    calls = Calls()
    calls.add("conn-1", "POST /pastes", 201, sent={"text": "x"}, answer={"id": 3})
    calls.add("conn-2", "GET /pastes/3", answer={"id": 3, "text": "x"})
    calls.add("conn-3", "GET /pages/3", answer={"page": 3})  # a 3 nobody created here
    calls.add("conn-4", "GET /pastes?page=3", answer={"pastes": []})  # a page, not the paste
    calls.add("conn-5", "POST /notes", 201, sent={"text": "y"}, answer={"id": 7}, answer_headers=[("Location", "/notes/7")])
    calls.add("conn-6", "DELETE /notes/7", 204)
    tset = infer_templates(calls.recording())
    assert _flows(tset) == {"conn-1": [1, 2], "conn-3": [3], "conn-4": [4], "conn-5": [5, 6]}


def test_a_password_set_by_an_admin_joins_the_user_to_the_admin():
    calls = Calls()
    calls.add("conn-1", "POST /users", 201, sent={"username": "alice", "password": "alice-pw"}, auth=("admin", "admin-pw"))
    calls.add("conn-2", "POST /users", 201, sent={"username": "dora", "password": "dora-pw"}, auth=("root", "root-pw"))
    calls.add("conn-3", "GET /me", answer={"username": "alice"}, auth=("alice", "alice-pw"))
    calls.add("conn-4", "GET /me", answer={"username": "erin"}, auth=("erin", "erin-pw"))  # nobody here created erin
    tset = infer_templates(calls.recording())
    assert _flows(tset) == {"conn-1": [1, 3], "conn-2": [2], "conn-4": [4]}


def test_named_sessions_stay_as_named():
    calls = Calls()
    calls.add("hdr:shopper", "POST /orders", 201, answer={"id": UUID_A}, auth=("alice", "alice-pw"))
    calls.add("hdr:admin", f"POST /orders/{UUID_A}/refund", auth=("admin", "admin-pw"))
    calls.add("conn-7", f"GET /orders/{UUID_A}", answer={"id": UUID_A})
    tset = infer_templates(calls.recording())
    assert _flows(tset) == {"hdr:shopper": [1], "hdr:admin": [2], "conn-7": [3]}
    refund = tset.templates["POST /orders/{order_id}/refund"]
    assert refund.consumes == [] and [h.producer for h in refund.cross_session] == ["POST /orders"]


# ---------------------------------------------------------------- the real proxy


@pytest.fixture(scope="module")
def both_transports(tmp_path_factory) -> dict[str, Path]:
    """tests/apps/basic_auth_api.py driven by the same client, keep-alive and one connection per request."""
    out = {}
    for transport in ("keep-alive", "per-request"):
        path = tmp_path_factory.mktemp("rec") / f"{transport}.vrec"
        with running_app("apps.basic_auth_api:create_app") as api:
            with recording_proxy(api.url, path) as proxy:
                drive(proxy.url, transport)
            assert proxy.proc.returncode == 0, proxy.stderr
        out[transport] = path
    return out


def test_keep_alive_and_a_connection_per_request_learn_the_same(both_transports):
    learned = {}
    for transport, path in both_transports.items():
        tset = infer_templates(path)
        variants = {(t.id, tuple(v.parts), v.count) for t in tset.templates.values() for v in t.variants}
        learned[transport] = (set(tset.templates), variants, _bindings(tset), tset)
    keep_alive, per_request = learned["keep-alive"], learned["per-request"]
    assert keep_alive[0] == per_request[0]
    assert keep_alive[1] == per_request[1]
    assert keep_alive[2] == per_request[2]
    bindings = per_request[2]
    assert ("GET /notes/{note_id}", "path:note_id", "POST /notes", "body:$.id", "identity") in bindings
    assert ("PATCH /notes/{note_id}", "header:If-Match", "GET /notes/{note_id}", "header:ETag", "identity") in bindings
    assert ("GET /pastes/{paste_id}", "path:paste_id", "POST /pastes", "body:$.id", "identity") in bindings
    assert ("GET /me", "header:X-Api-Key", "POST /keys", "body:$.key", "identity") in bindings
    assert ("GET /notes/{note_id}", "header:Authorization", "POST /users", "request:body:$.password", "basic") in bindings
    # Every request came on a connection of its own, yet the flows are whole: the admin with the
    # users it created, carol's sign-up with her calls and her key, the anonymous paste.
    tset = per_request[3]
    recorded = {s for parts in tset.session_parts.values() for s in parts}
    assert len(recorded) == sum(t.count for t in tset.templates.values()) == 22
    assert sorted(len(steps) for steps in tset.sessions.values()) == [2, 4, 16]
