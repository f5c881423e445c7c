"""Learned oracles on real APIs: happy-path traffic recorded through the real proxy, templates inferred
from it, invariants learned; then each planted bug's sequence driven by hand against the API in its
own process (SQLite), every step fed to LearnedChecker the way the explorer feeds it.

Every bug must be found by the invariant that names it; the same sequences on the correct twins
must give no finding at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.proxy.infer import infer_templates
from venom_replay.proxy.recording import Request, Response, read_recording
from venom_replay.proxy.template_model import TemplateSet
from venom_replay.replay.checks import StepContext, StepResult
from venom_replay.replay.learned import LearnedChecker, learn_invariants
from venom_replay.replay.learned_model import path_params

from apps.learned_apis import APIS

# The hand-driven bug sequence of each API (method, path with {id} of the created object, body),
# and the invariant that must catch it.
BUG_SEQUENCES = {
    "orders": (
        [("POST", "/orders", {"amount": 100}), ("POST", "/orders/{id}/refund", {"amount": 60}),
         ("POST", "/orders/{id}/refund", {"amount": 60}), ("GET", "/orders/{id}", None), ("GET", "/orders", None)],
        "$.refunded <= $.amount",
    ),
    "quota": (
        [("POST", "/accounts", {"quota": 10}), ("POST", "/accounts/{id}/consume", {"units": 7}),
         ("POST", "/accounts/{id}/consume", {"units": 7}), ("GET", "/accounts/{id}", None)],
        "$.used <= $.quota",
    ),
    "stock": (
        [("POST", "/products", {"name": "pen", "price": 3, "stock": 10})]
        + [("POST", "/products/{id}/purchase", {"qty": 4})] * 3 + [("GET", "/products/{id}", None)],
        "$.stock >= 0",
    ),
    "notes": (
        [("POST", "/notes", {"text": "groceries"}), ("PUT", "/notes/{id}", {"text": "groceries (edited)"}),
         ("DELETE", "/notes/{id}", None), ("GET", "/notes", None), ("GET", "/notes/{id}", None)],
        "ids deleted by DELETE /notes/{note_id} are not in $[*].id",
    ),
}


def _template_for(tset: TemplateSet, method: str, path: str):
    for t in tset.templates.values():
        if t.method == method and (t.path == path or path_params(t.path, path)):
            return t
    raise AssertionError(f"no template for {method} {path}")


def live_step(tset: TemplateSet, base_url: str, method: str, path: str, body) -> StepResult:
    resp = requests.request(method, base_url + path, json=body, timeout=10)
    headers = [(k, v) for k, v in resp.headers.items()]
    sent = b"" if body is None else requests.models.complexjson.dumps(body).encode()
    return StepResult(
        template=_template_for(tset, method, path),
        request=Request(method, "http", "127.0.0.1", 0, path, headers=[("Content-Type", "application/json")], body=sent),
        response=Response(resp.status_code, headers=headers, body=resp.content),
    )


def drive(checker: LearnedChecker, tset: TemplateSet, base_url: str, sequence, *, recorded: bool = False):
    path: list[StepResult] = []
    found = []
    oid = None
    for method, template_path, body in sequence:
        step = live_step(tset, base_url, method, template_path.replace("{id}", str(oid)), body)
        if oid is None and step.response.status == 201:
            oid = step.response.json()["id"]
        path.append(step)
        found += checker.check(StepContext(step=step, path=list(path), values={}, templates=tset, replays_recorded_path=recorded))
    return found, path


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """For each API and variant: the app (kept running), its templates and learned invariants."""
    tmp = tmp_path_factory.mktemp("learned-apis")
    made, stack = {}, []
    for name, (factory, traffic) in APIS.items():
        for buggy in (True, False):
            env = {"LEARNED_DB": str(tmp / f"{name}-{int(buggy)}.db"), "LEARNED_BUGGY": "1" if buggy else "0"}
            ctx = running_app(factory, env=env)
            app = ctx.__enter__()
            stack.append(ctx)
            out = tmp / f"{name}-{int(buggy)}.vrec"
            with recording_proxy(app.url, out) as proxy:
                traffic(proxy.url)
            tset = infer_templates(out)
            made[name, buggy] = (app, tset, learn_invariants(tset, out))
    yield made
    for ctx in stack:
        ctx.__exit__(None, None, None)


@pytest.mark.parametrize("name", list(APIS))
def test_planted_bug_is_found_by_its_relation(learned, name):
    app, tset, invariants = learned[name, True]
    sequence, expected = BUG_SEQUENCES[name]
    assert expected in {i.expr for i in invariants}
    found, _ = drive(LearnedChecker(invariants, {}), tset, app.url, sequence)
    broken = {v.details["invariant"] for v in found}
    assert expected in broken, [v.message for v in found]
    hit = next(v for v in found if v.details["invariant"] == expected)
    assert hit.checker == "learned" and hit.details["support"] >= 2 and hit.details["observed"]


@pytest.mark.parametrize("name", list(APIS))
def test_correct_twin_gives_no_finding(learned, name):
    app, tset, invariants = learned[name, False]
    sequence, _ = BUG_SEQUENCES[name]
    found, path = drive(LearnedChecker(invariants, {}), tset, app.url, sequence)
    assert found == [], [v.message for v in found]
    # The twin did refuse something (the sequence is not a happy path), and said so with a 4xx.
    assert any(400 <= s.response.status < 500 for s in path) or name == "notes"


@pytest.mark.parametrize("name", list(APIS))
def test_recorded_paths_confirm_every_invariant_on_the_twin(learned, name):
    """Replaying the recorded sessions (as the explorer's confirmation does) drops nothing: what was
    learned is true of the recording's own paths."""
    app, tset, invariants = learned[name, False]
    exchanges = {ex.seq: ex for ex in read_recording(tset.source).exchanges}
    checker = LearnedChecker(invariants, {})
    for steps in tset.sessions.values():
        ids: dict[str, str] = {}  # recorded id -> id of the object this replay created
        path: list[StepResult] = []
        for step in steps:
            ex = exchanges[step.seq]
            segments = [ids.get(seg, seg) for seg in ex.request.path.split("/")]
            live = live_step(tset, app.url, ex.request.method, "/".join(segments), ex.request.json())
            if ex.response.status == 201:
                ids[str(ex.response.json()["id"])] = str(live.response.json()["id"])
            path.append(live)
            ctx = StepContext(step=live, path=list(path), values={}, templates=tset, replays_recorded_path=True)
            assert checker.check(ctx) == []
    assert checker.dropped == [], [d.reason for d in checker.dropped]
