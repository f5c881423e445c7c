"""Identities as values: a Basic credential is bound to the call that set its password.

Hand-built recordings shaped like MLflow's (one connection for every user, users created by an
admin, a password change) check inference and rendering; the real proxy and a fresh instance of
tests/apps/basic_auth_api.py check that a replayed call logs in with the password its user has in
the current state, and that identity swapping sends each recorded user's own credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from apps.basic_auth_traffic import ADMIN, ALICE, ALICE_NEW, BOB, drive
from support.http_app import running_app
from support.proxy import recording_proxy
from support.recorded_calls import Calls
from venom_replay.proxy.infer.credentials import basic_credentials
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import extract_values, missing_values, render_request
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Response
from venom_replay.replay.explorer.actions import build_actions, closest_example, identity_examples

ITEM = "0b7f1e2c9d8a4b6c8e0f1a2b3c4d5e6f"
CREATE = "POST /api/users/create"
CHANGE = "PATCH /api/users/update-password"
GET = "GET /api/items/get"


def _mlflow_like() -> Calls:
    """The admin creates alice and bob; both read an item many times; alice changes her password,
    is refused with the old one, goes on with the new one."""
    calls = Calls()
    admin = ("admin", "admin-pw-1")
    calls.add("conn-1", CREATE, sent={"username": "alice", "password": "alice-pw-1"}, answer={"user": {"id": 2}}, auth=admin)
    calls.add("conn-1", CREATE, sent={"username": "bob", "password": "bob-pw-1"}, answer={"user": {"id": 3}}, auth=admin)
    calls.add("conn-1", "POST /api/items/create", sent={"name": "x"}, answer={"item_id": ITEM}, auth=("alice", "alice-pw-1"))
    for step in range(7):  # more than any fixed number of examples: bob must keep his own
        calls.add("conn-1", f"{GET}?item_id={ITEM}&step={step}", answer={"item_id": ITEM}, auth=("alice", "alice-pw-1"))
    calls.add("conn-1", f"{GET}?item_id={ITEM}&step=0", answer={"item_id": ITEM}, auth=("bob", "bob-pw-1"))
    calls.add("conn-1", f"{GET}?item_id={ITEM}&step=0", 403, answer={"error": "no"}, auth=("bob", "bob-pw-1"))
    calls.add("conn-1", CHANGE, sent={"username": "alice", "password": "alice-pw-2", "current_password": "alice-pw-1"},
              answer={}, auth=("alice", "alice-pw-1"))
    calls.add("conn-1", f"{GET}?item_id={ITEM}&step=0", 401, answer={"error": "who"}, auth=("alice", "alice-pw-1"))
    calls.add("conn-1", f"{GET}?item_id={ITEM}&step=0", answer={"item_id": ITEM}, auth=("alice", "alice-pw-2"))
    calls.add("conn-1", "GET /api/users/get?username=bob", answer={"user": {"id": 3}}, auth=admin)
    calls.add("conn-1", f"{GET}?item_id={ITEM}&step=9", answer={"item_id": ITEM}, auth=admin)
    return calls


@pytest.fixture(scope="module")
def learned() -> TemplateSet:
    return infer_templates(_mlflow_like().recording())


def _user_of(tpl: ActionTemplate, example: int) -> tuple[str, str]:
    credentials = basic_credentials(tpl.example_requests[example].header("authorization"))
    assert credentials is not None
    return credentials


def _example(tpl: ActionTemplate, user: str, password: str, status_ok: bool = True) -> int:
    for i, seq in enumerate(tpl.example_seqs):
        if _user_of(tpl, i) == (user, password) and (i not in tpl.unbound_examples) == status_ok:
            return i
    raise AssertionError(f"no example of {user}:{password}")


def test_basic_credentials_bind_to_the_call_that_set_the_password(learned):
    get = learned.templates[GET]
    auth = [c for c in get.consumes if c.location == "header:Authorization"]
    assert [(c.producer, c.source, c.transform) for c in auth] == [(CREATE, "request:body:$.password", "basic")]
    assert auth[0].support == 10 and auth[0].score == round(10 / 12 * (1 - 0.5 ** 10), 3)  # 12 Basic reads, 10 explained
    for tid in (CREATE, CHANGE):
        [prod] = [p for p in learned.templates[tid].produces if p.user_from]
        assert (prod.source, prod.user_from) == ("request:body:$.password", "request:body:$.username")
    # The Authorization is bound, not an input any more; the admin's own calls bind nothing.
    assert "header:Authorization" not in {f.location for f in get.fields}
    assert not learned.templates["GET /api/users/get"].consumes


def test_stale_and_never_created_credentials_keep_their_recorded_header(learned):
    get = learned.templates[GET]
    unbound = {get.example_seqs[i] for i in get.unbound_examples}
    assert unbound == {14, 17}  # alice's old password after the change (401), and the admin's own call
    assert all(locs == ["header:Authorization"] for locs in get.unbound_examples.values())


def test_every_caller_keeps_examples_of_its_own(learned):
    get = learned.templates[GET]
    callers = {_user_of(get, i) for i in range(len(get.example_requests))}
    # One caller is one user whatever its password: alice's later reads add no example, her refusal does.
    assert callers == {("alice", "alice-pw-1"), ("bob", "bob-pw-1"), ("admin", "admin-pw-1")}
    assert len(get.example_requests) == 3 + 2 + 1 + 1  # alice: 3 reads and the refusal; bob: a read, a refusal
    # bob's refused read is an example of its own, and the confirmation replay finds it.
    rec = _mlflow_like().recording()
    refused = closest_example(get, rec.exchanges[11])
    assert get.example_seqs[refused] == 12 and _user_of(get, refused) == ("bob", "bob-pw-1")


def _produce(tset: TemplateSet, tid: str, example: int, values: dict, status: int = 200) -> dict:
    """What the explorer binds after sending ``tid``'s example and getting ``status``."""
    tpl = tset.templates[tid]
    sent = render_request(tpl, values, example=example)
    out = dict(values)
    for source, value in extract_values(tpl, Response(status, body=b"{}"), sent).items():
        out[(tid, source)] = value
    return out


def test_a_call_logs_in_with_the_password_its_user_has_on_the_path(learned):
    get = learned.templates[GET]
    alice, bob, stale = _example(get, "alice", "alice-pw-1"), _example(get, "bob", "bob-pw-1"), _example(get, "alice", "alice-pw-1", False)
    create = learned.templates[CREATE]
    alice_create = next(i for i, r in enumerate(create.example_requests) if json.loads(r.body)["username"] == "alice")

    item = {("POST /api/items/create", "body:$.item_id"): ITEM}
    # Before any call of the path set alice's password, her recorded one is sent (her account may
    # exist already); the call is not held back.
    assert missing_values(get, item, example=alice) == []
    assert basic_credentials(render_request(get, item, example=alice).header("Authorization")) == ("alice", "alice-pw-1")
    values = _produce(learned, CREATE, alice_create, item)
    assert values == {**item, (CREATE, "identity:alice"): "alice-pw-1"}
    assert missing_values(get, values, example=bob) == []
    assert basic_credentials(render_request(get, values, example=bob).header("Authorization")) == ("bob", "bob-pw-1")

    values = _produce(learned, CHANGE, 0, values)
    assert basic_credentials(render_request(get, values, example=alice).header("Authorization")) == ("alice", "alice-pw-2")
    # The recorded refusal with the old password stays a refusal with the old password.
    assert basic_credentials(render_request(get, values, example=stale).header("Authorization")) == ("alice", "alice-pw-1")
    # A create the server refused sets no password.
    assert _produce(learned, CREATE, alice_create, item, status=409) == item


def test_swapping_identities_runs_each_recorded_user(learned):
    get = learned.templates[GET]
    swapped = [a.example for a in build_actions(learned, swap_identities=True) if a.template == GET]
    assert sorted(_user_of(get, i)[0] for i in identity_examples(get)) == ["admin", "alice", "bob"]
    assert sorted(_user_of(get, i)[0] for i in swapped) == ["admin", "alice", "bob"]
    assert [a.example for a in build_actions(learned) if a.template == GET] == [0]
    # Creating each recorded user is an action of its own: bob's calls need a path that created bob.
    create = learned.templates[CREATE]
    created = [json.loads(create.example_requests[a.example].body)["username"] for a in build_actions(learned) if a.template == CREATE]
    assert created == ["alice", "bob"]


# ---------------------------------------------------------------- the real proxy, a fresh API


@pytest.fixture(scope="module")
def notes_recording(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "notes.vrec"
    with running_app("apps.basic_auth_api:create_app") as api:
        with recording_proxy(api.url, path) as proxy:
            drive(proxy.url, "keep-alive")
        assert proxy.proc.returncode == 0, proxy.stderr
    return path


class Replay:
    """Sends rendered requests to a live API and binds what they produce, the way the explorer does."""

    def __init__(self, tset: TemplateSet, url: str) -> None:
        self.tset, self.url, self.values = tset, url, {}

    def example(self, tid: str, user: str, **body) -> int:
        tpl = self.tset.templates[tid]
        for i, req in enumerate(tpl.example_requests):
            credentials = basic_credentials(req.header("authorization"))
            data = req.json() or {}
            if credentials and credentials[0] == user and all(data.get(k) == v for k, v in body.items()) \
                    and i not in tpl.unbound_examples:
                return i
        raise AssertionError(f"{tid}: no example of {user} {body}")

    def send(self, tid: str, example: int) -> requests.Response:
        tpl = self.tset.templates[tid]
        req = render_request(tpl, self.values, example=example, base_url=self.url)
        resp = requests.request(req.method, req.url, headers=dict(req.headers), data=req.body or None, timeout=10)
        answer = Response(resp.status_code, "", list(resp.headers.items()), resp.content)
        for source, value in extract_values(tpl, answer, req).items():
            self.values[(tid, source)] = value
        return resp


def test_replayed_calls_log_in_with_the_passwords_of_the_current_state(notes_recording):
    tset = infer_templates(notes_recording)
    with running_app("apps.basic_auth_api:create_app") as api:  # a fresh API: nobody but the admin
        run = Replay(tset, api.url)
        create_note = run.example("POST /notes", "alice")
        assert basic_credentials(tset.templates["POST /notes"].example_requests[create_note].header("authorization")) == ALICE
        assert run.send("POST /notes", create_note).status_code == 401  # alice does not exist yet
        assert run.send("POST /users", run.example("POST /users", ADMIN[0], username=ALICE[0])).status_code == 201
        assert run.send("POST /users", run.example("POST /users", ADMIN[0], username=BOB[0])).status_code == 201
        assert run.send("POST /notes", create_note).status_code == 201
        assert run.send("PUT /users/alice/password", 0).status_code == 200
        # The note create was recorded with alice's first password; replayed now it carries her new one.
        resp = run.send("POST /notes", create_note)
        assert resp.status_code == 201, resp.text
        sent = render_request(tset.templates["POST /notes"], run.values, example=create_note)
        assert basic_credentials(sent.header("Authorization")) == (ALICE[0], ALICE_NEW)
        # Swapped identities: bob's recorded read of the note runs as bob, with bob's password.
        get = tset.templates["GET /notes/{note_id}"]
        callers = {basic_credentials(get.example_requests[i].header("authorization"))[0] for i in identity_examples(get)}
        assert callers == {"alice", "bob"}
        bob_read = next(i for i in identity_examples(get) if basic_credentials(get.example_requests[i].header("authorization"))[0] == "bob")
        assert basic_credentials(render_request(get, run.values, example=bob_read).header("Authorization")) == BOB
        assert run.send("GET /notes/{note_id}", bob_read).status_code == 403  # not shared with bob in this state
