"""Learned oracles on real APIs: happy-path traffic recorded through the real proxy, templates inferred
from it, invariants learned. Then, against each API in its own process on SQLite:
- each planted bug's sequence driven by hand, every step fed to LearnedChecker as the explorer does;
- `explore` (SQLite rollback between branches) with the learned checker.
Every bug must be found by the invariant that names it; the correct twins must give no finding.
Hand-driven writes are rolled back with the product's own SQLite adapter, so each test starts from
the database the recording left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from support.http_app import running_app
from venom_replay.adapters.registry import open_adapter
from support.proxy import recording_proxy
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.recording import Request, Response, read_recording
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.learned.learn import LearnedChecker, learn_invariants
from venom_replay.replay.learned.model import path_params

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
            app.db = str(env["LEARNED_DB"])
            made[name, buggy] = (app, tset, learn_invariants(tset, out))
    yield made
    for ctx in stack:
        ctx.__exit__(None, None, None)


@contextmanager
def rolled_back(db: str) -> Iterator[None]:
    """Undo every write the API makes inside the block (the explorer's own SQLite rollback)."""
    adapter = open_adapter(f"sqlite:///{db}")
    adapter.install()
    checkpoint = adapter.checkpoint()
    try:
        yield
    finally:
        adapter.restore(checkpoint)
        adapter.uninstall()
        adapter.close()


@pytest.mark.parametrize("name", list(APIS))
def test_planted_bug_is_found_by_its_relation(learned, name):
    app, tset, invariants = learned[name, True]
    sequence, expected = BUG_SEQUENCES[name]
    assert expected in {i.expr for i in invariants}
    with rolled_back(app.db):
        found, _ = drive(LearnedChecker(invariants, {}), tset, app.url, sequence)
    broken = {v.details["invariant"] for v in found}
    assert expected in broken, [v.message for v in found]
    hit = next(v for v in found if v.details["invariant"] == expected)
    assert hit.checker == "learned" and hit.details["support"] >= 2 and hit.details["observed"]


@pytest.mark.parametrize("name", list(APIS))
def test_correct_twin_gives_no_finding(learned, name):
    app, tset, invariants = learned[name, False]
    sequence, _ = BUG_SEQUENCES[name]
    with rolled_back(app.db):
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
    with rolled_back(app.db):
        replay_sessions(checker, tset, exchanges, app.url)
    assert checker.dropped == [], [d.reason for d in checker.dropped]


def replay_sessions(checker: LearnedChecker, tset: TemplateSet, exchanges, base_url: str) -> None:
    for steps in tset.sessions.values():
        ids: dict[str, str] = {}  # recorded id -> id of the object this replay created
        path: list[StepResult] = []
        for step in steps:
            ex = exchanges[step.seq]
            segments = [ids.get(seg, seg) for seg in ex.request.path.split("/")]
            live = live_step(tset, base_url, ex.request.method, "/".join(segments), ex.request.json())
            if ex.response.status == 201:
                ids[str(ex.response.json()["id"])] = str(live.response.json()["id"])
            path.append(live)
            ctx = StepContext(step=live, path=list(path), values={}, templates=tset, replays_recorded_path=True)
            assert checker.check(ctx) == []


# ---------------------------------------------------------------- end to end: explore




@pytest.mark.parametrize("name", list(APIS))
def test_explore_finds_the_bug_with_the_learned_checker(learned, name):
    from venom_replay.replay.explorer import explore

    app, tset, invariants = learned[name, True]
    checker = LearnedChecker(invariants, {})
    result = explore(tset, app.url, open_adapter(f"sqlite:///{app.db}"), depth=4, checkers=[checker])
    assert result.db_restored is True and result.stopped == "complete"
    found = {f.details["invariant"]: f for f in result.findings if f.checker == "learned"}
    expected = BUG_SEQUENCES[name][1]
    assert expected in found, sorted(found)
    finding = found[expected]
    assert finding.details["support"] >= 2 and finding.details["observed"]
    assert checker.dropped == []


@pytest.mark.parametrize("name", list(APIS))
def test_explore_reports_nothing_on_the_correct_twin(learned, name):
    from venom_replay.replay.explorer import explore

    app, tset, invariants = learned[name, False]
    checker = LearnedChecker(invariants, {})
    result = explore(tset, app.url, open_adapter(f"sqlite:///{app.db}"), depth=4, checkers=[checker])
    assert result.db_restored is True and result.stopped == "complete" and result.transitions > 10
    assert [f.message for f in result.findings] == []


def test_explore_command_checks_learned_invariants_by_default(learned, tmp_path):
    """As a user runs it: `venom-replay explore` reports the over-refund under checker `learned`;
    `--no-learned` turns the oracles off."""
    import json
    import subprocess
    import sys

    app, tset, _ = learned["orders", True]
    base = [sys.executable, "-m", "venom_replay.replay.cli", "explore", tset.source, "--target", app.url,
            "--db", f"sqlite:///{app.db}", "--depth", "3", "--json"]
    on = subprocess.run([*base, "--report", str(tmp_path / "on")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert on.returncode == 1, on.stderr
    report = json.loads(on.stdout)
    learned_findings = [f for f in report["findings"] if f["checker"] == "learned"]
    assert any("$.refunded <= $.amount" in f["message"] for f in learned_findings), report["findings"]
    off = subprocess.run([*base, "--report", str(tmp_path / "off"), "--no-learned"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert all(f["checker"] != "learned" for f in json.loads(off.stdout)["findings"])
