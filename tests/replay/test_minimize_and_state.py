"""Pure logic: shrinking sequences, bucketing findings, state identity and merging, checker guards."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, Production, TemplateSet
from venom_replay.replay.checkers.builtin import RepeatedSuccessChecker, UseAfterDeleteChecker
from venom_replay.replay.checkers.base import BoundUse, StepContext, StepResult, Violation
from venom_replay.replay.findings import Action, FindingBook
from venom_replay.replay.explorer.minimize import minimize
from venom_replay.replay.explorer.state import StateGraph, StateNode, state_key, volatile_sources


def test_minimize_keeps_only_needed_steps_and_the_last():
    needed = {"login", "create"}

    def reproduces(seq):
        return seq[-1] == "bug" and needed <= set(seq) and seq.index("login") < seq.index("create")

    seq = ["a", "login", "b", "c", "create", "d", "bug"]
    assert minimize(seq, reproduces) == ["login", "create", "bug"]


def test_minimize_frees_a_step_that_only_a_removed_step_needed():
    # "x" is needed only while "y" is there; one-step passes repeat until nothing changes.
    def reproduces(seq):
        return seq[-1] == "bug" and ("y" not in seq or "x" in seq)

    assert minimize(["x", "y", "bug"], reproduces) == ["bug"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=12), st.sets(st.integers(0, 9), max_size=3))
def test_minimize_result_reproduces_and_is_one_minimal(seq, needed):
    seq = seq + [99]
    def reproduces(s):
        return s[-1] == 99 and needed & set(seq) <= set(s)
    out = minimize(seq, reproduces, max_runs=10_000)
    assert reproduces(out) and out[-1] == 99
    for i in range(len(out) - 1):  # removing any single step breaks it
        assert not reproduces(out[:i] + out[i + 1:])


def test_findings_bucket_by_signature_keep_the_shortest_and_count():
    book = FindingBook()
    v = Violation("server-error", "boom", "server-error:T:500")
    assert book.add(v, [Action("a"), Action("b"), Action("T")], [])
    assert not book.add(v, [Action("T")], [])
    assert not book.add(v, [Action("a"), Action("T")], [])
    (f,) = book.ordered()
    assert f.count == 3 and [a.template for a in f.actions] == ["T"]


def test_state_key_merges_equal_states_and_ignores_volatile_values():
    tpl = ActionTemplate(id="login", method="POST", path="/login", produces=[Production("token", "body:$.token")],
                         volatile=["$.token"])
    tset = TemplateSet(templates={"login": tpl}, sessions={})
    vol = volatile_sources(tset)
    a = state_key(["fp1"], {("login", "body:$.token"): "abc"}, vol)
    b = state_key(["fp1"], {("login", "body:$.token"): "xyz"}, vol)
    assert a == b  # a fresh token is not a new state
    assert a != state_key(["fp2"], {("login", "body:$.token"): "abc"}, vol)  # database differs
    assert a != state_key(["fp1"], {}, vol)  # nothing bound yet
    assert state_key(["fp"], {("t", "body:$.id"): 1}, vol) != state_key(["fp"], {("t", "body:$.id"): 2}, vol)

    g = StateGraph()
    root = StateNode(a, 0, "fp1", {}, (), (a,))
    g.add_state(root, root=True)
    g.add_transition(a, a, template="GET /x", label="GET /x", status=200)
    g.add_transition(a, a, template="GET /x", label="GET /x", status=200)
    assert g.graph.number_of_edges() == 1 and g.graph.edges[a, a, "GET /x"]["count"] == 2


def _step(tpl: ActionTemplate, path: str, status: int, consumed=None, produced=None, body=b"") -> StepResult:
    return StepResult(tpl, Request(tpl.method, "http", "h", 80, path), Response(status, body=body,
                      headers=[("Content-Type", "application/json")]), consumed=consumed or {}, produced=produced or {})


def _ctx(path):
    return StepContext(step=path[-1], path=path, values={}, templates=TemplateSet({}, {}))


def test_repeated_success_leaves_idempotent_updates_and_creates_alone():
    put = ActionTemplate(id="PUT /items/{id}", method="PUT", path="/items/{id}", statuses={200: 2})
    create = ActionTemplate(id="POST /carts/{id}/items", method="POST", path="/carts/{id}/items", statuses={201: 2})
    refund = ActionTemplate(id="POST /orders/{id}/refund", method="POST", path="/orders/{id}/refund", statuses={200: 1})
    checker = RepeatedSuccessChecker(TemplateSet({t.id: t for t in (put, create, refund)}, {}))
    assert checker.check(_ctx([_step(put, "/items/1", 200), _step(put, "/items/1", 200)])) == []
    assert checker.check(_ctx([_step(create, "/carts/1/items", 201), _step(create, "/carts/1/items", 201)])) == []
    assert checker.check(_ctx([_step(refund, "/orders/1/refund", 200), _step(refund, "/orders/2/refund", 200)])) == []
    (v,) = checker.check(_ctx([_step(refund, "/orders/1/refund", 200), _step(refund, "/orders/1/refund", 200)]))
    assert v.signature == "repeated-success:POST /orders/{id}/refund"


def test_use_after_delete_needs_the_same_resource_and_allows_recreation():
    delete = ActionTemplate(id="DELETE /items/{id}", method="DELETE", path="/items/{id}", effect="delete")
    get = ActionTemplate(id="GET /items/{id}", method="GET", path="/items/{id}")
    put = ActionTemplate(id="PUT /items/{id}", method="PUT", path="/items/{id}")
    use = {"path:id": BoundUse("POST /items", "body:$.id", 1)}
    gone = _step(delete, "/items/1", 204, consumed=use)
    checker = UseAfterDeleteChecker()
    assert checker.check(_ctx([gone, _step(get, "/items/2", 200)])) == []          # another item
    assert checker.check(_ctx([gone, _step(get, "/items/1", 404)])) == []          # correctly gone
    assert checker.check(_ctx([gone, _step(put, "/items/1", 200)])) == []          # PUT re-creates
    assert checker.check(_ctx([gone, _step(put, "/items/1", 201), _step(get, "/items/1", 200)])) == []
    (v,) = checker.check(_ctx([gone, _step(get, "/items/1", 200, body=json.dumps({"id": 1}).encode())]))
    assert v.checker == "use-after-delete"
