"""Batch and multi-status answers (replay/checkers/batch.py): inner answers judged as the steps they are.

Pure logic first (hand-built bodies): what is recognised as a batch answer and what is not, an inner
5xx is a server error naming the inner request, inner refusals and inner bodies are not the batch
call's shape, and the learned oracles learn nothing about inner answers. Then Kinto, a real server,
driven by its official client kinto-http (batches included) through the real recording proxy and
explored at depth 3 to completion with the real CLI: a correct server, so no finding at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.learned_traffic import Traffic, run_path
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.response_shape import infer_schema
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.checkers.batch import (
    batch_answer,
    generic_path,
    strip_inner_answers,
)
from venom_replay.replay.checkers.server_error import ServerErrorChecker
from venom_replay.replay.checkers.shape import ShapeChecker

RECORD = "5b1a3f4e-8a5c-4d1e-9f3a-2b6c7d8e9f01"


def inner(status: int, path: str, body) -> dict:
    return {"status": status, "path": path, "body": body, "headers": {"Content-Type": "application/json"}}


def created(path: str, rid: str) -> dict:
    return inner(201, path, {"data": {"id": rid, "last_modified": 1700000000000}, "permissions": {"write": ["basicauth:x"]}})


def missing(path: str) -> dict:
    return inner(404, path, {"code": 404, "errno": 111, "error": "Not Found", "message": "bucket not found",
                             "details": {"id": "shop", "resource_name": "bucket"}})


BATCH_REQUEST = {"defaults": {"method": "PUT"}, "requests": [
    {"path": "/buckets/shop/collections/orders"}, {"path": f"/buckets/shop/collections/orders/records/{RECORD}"}]}
RECORDED = [{"responses": [created("/v1/buckets/shop/collections/orders", "orders"),
                           created(f"/v1/buckets/shop/collections/orders/records/{RECORD}", RECORD)]}] * 3


def batch_step(tpl: ActionTemplate, body, status: int = 200, sent=BATCH_REQUEST) -> StepResult:
    return StepResult(
        template=tpl,
        request=Request(tpl.method, "http", "api.test", 80, tpl.path, headers=[("Content-Type", "application/json")],
                        body=json.dumps(sent).encode()),
        response=Response(status, headers=[("Content-Type", "application/json")], body=json.dumps(body).encode()),
    )


def batch_template() -> ActionTemplate:
    return ActionTemplate(id="POST /v1/batch", method="POST", path="/v1/batch", host="api.test", port=80,
                          statuses={200: 3}, response_schema=infer_schema(RECORDED))


def check(checker, st: StepResult) -> list:
    tset = TemplateSet(templates={st.template.id: st.template}, sessions={}, source="synthetic.vrec")
    return checker.check(StepContext(step=st, path=[st], values={}, templates=tset))


def test_kinto_batch_answer_is_recognised_with_inner_methods_and_paths():
    found = batch_answer(RECORDED[0], status=200, request_body=BATCH_REQUEST, request_path="/v1/batch")
    assert found is not None and found.list_path == "$.responses"
    assert [(a.method, a.path, a.status) for a in found.answers] == [
        ("PUT", "/v1/buckets/shop/collections/orders", 201),
        ("PUT", f"/v1/buckets/shop/collections/orders/records/{RECORD}", 201)]
    assert found.holds("$.responses[*].body.data.id") and not found.holds("$.responses[*].status")
    assert generic_path(found.answers[1].path) == "/v1/buckets/shop/collections/orders/records/{}"


def test_webdav_multi_status_is_recognised():
    body = {"multistatus": {"response": [{"href": "/files/a.txt", "status": "HTTP/1.1 200 OK"},
                                         {"href": "/files/b.txt", "status": "HTTP/1.1 507 Insufficient Storage"}]}}
    found = batch_answer(body, status=207)
    assert [(a.path, a.status) for a in found.answers] == [("/files/a.txt", 200), ("/files/b.txt", 507)]


@pytest.mark.parametrize(("body", "status", "path"), [
    ({"orders": [{"id": 1, "status": "paid"}, {"id": 2, "status": "refunded"}]}, 200, "/orders"),
    ({"checks": [{"status": 500, "url": "http://a.test", "body": "down"}]}, 200, "/monitors/7/checks"),  # a log, not a batch
    ({"responses": []}, 200, "/batch"),
    ({"responses": [{"status": 200, "path": "/a"}]}, 200, "/batch"),  # no inner content, not a 207
])
def test_lists_that_are_not_batch_answers(body, status, path):
    assert batch_answer(body, status=status, request_path=path) is None


def test_inner_server_error_is_one_server_error_finding_naming_the_inner_request():
    tpl = batch_template()
    body = {"responses": [created("/v1/buckets/shop/collections/orders", "orders"),
                          inner(500, f"/v1/buckets/shop/collections/orders/records/{RECORD}", {"message": "internal error"}),
                          inner(503, "/v1/buckets/shop/collections/orders", {"message": "backend down"})]}
    sent = {"requests": [{"method": "PUT", "path": "/buckets/shop/collections/orders"},
                         {"method": "PUT", "path": f"/buckets/shop/collections/orders/records/{RECORD}"},
                         {"method": "GET", "path": "/buckets/shop/collections/orders"}]}
    found = check(ServerErrorChecker(), batch_step(tpl, body, sent=sent))
    assert len(found) == 1
    v = found[0]
    assert v.signature == "server-error:POST /v1/batch:inner PUT /v1/buckets/shop/collections/orders/records/{}:500"
    assert f"PUT /v1/buckets/shop/collections/orders/records/{RECORD} answered 500" in v.message
    assert "internal error" in v.message and "GET /v1/buckets/shop/collections/orders answered 503" in v.message
    assert [i["status"] for i in v.details["inner"]] == [500, 503]
    # All inner answers fine (refusals included): nothing.
    assert check(ServerErrorChecker(), batch_step(tpl, {"responses": [missing("/v1/buckets/shop/collections/orders")] * 2})) == []


def test_inner_refusals_and_inner_bodies_are_not_the_batch_calls_shape():
    tpl = batch_template()
    refused = {"responses": [missing("/v1/buckets/shop/collections/orders"),
                             missing(f"/v1/buckets/shop/collections/orders/records/{RECORD}")]}
    assert check(ShapeChecker(), batch_step(tpl, refused)) == []
    other_bodies = {"responses": [inner(200, "/v1/buckets/shop", {"data": [1, 2]}), inner(204, "/v1/x", None)]}
    assert check(ShapeChecker(), batch_step(tpl, other_bodies)) == []
    # The envelope itself is still the batch call's shape.
    broken = check(ShapeChecker(), batch_step(tpl, {"responses": {"0": "not a list"}}))
    assert [v.details["path"] for v in broken] == ["$.responses"]


def test_learned_oracles_learn_nothing_about_inner_answers():
    t = Traffic("POST /v1/batch")
    for n in range(8):
        rid = f"{n:08x}-8a5c-4d1e-9f3a-2b6c7d8e9f01"
        t.call("s", "POST /v1/batch", 200, {"responses": [created("/v1/buckets/shop", "shop"), created(f"/v1/r/{rid}", rid)]},
               sent={"requests": [{"method": "PUT", "path": "/buckets/shop"}, {"method": "PUT", "path": f"/r/{rid}"}]})
    invariants = t.learn()
    assert not [i.expr for i in invariants if "responses" in i.expr]
    tset, checker = t.checker()
    refused = t.step("POST /v1/batch", 200, {"responses": [missing("/v1/buckets/shop")] * 2},
                     sent={"requests": [{"method": "PUT", "path": "/buckets/shop"}] * 2})
    assert run_path(checker, [refused], tset) == []


scalars = st.none() | st.booleans() | st.integers(-10, 1000) | st.text(max_size=8) | st.sampled_from([200, 404, 503, "HTTP/1.1 500 Oops"])
keys = st.sampled_from(["responses", "status", "path", "body", "headers", "href", "multistatus", "a.b", ""]) | st.text(max_size=4)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=5), max_leaves=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values, recorded=st.lists(json_values, min_size=1, max_size=4), status=st.sampled_from([200, 207]),
       sent=json_values, path=st.sampled_from(["/v1/batch", "/items", "/$batch"]))
def test_any_answer_is_judged_without_crashing(body, recorded, status, sent, path):
    found = batch_answer(body, status=status, request_body=sent, request_path=path)
    if found is not None:
        assert all(100 <= a.status <= 599 for a in found.answers)
        stripped = strip_inner_answers(body, found)
        holder = stripped
        for key in found.keys[:-1]:
            holder = holder[key]
        assert stripped == [] if not found.keys else found.keys[-1] not in holder  # the inner answers are gone
    tpl = ActionTemplate(id=f"POST {path}", method="POST", path=path, host="api.test", port=80, statuses={200: len(recorded)},
                         response_schema=infer_schema(recorded))
    st_ = batch_step(tpl, body, status=status, sent=sent)
    for checker in (ShapeChecker(), ServerErrorChecker()):
        for v in check(checker, st_):
            assert v.checker == checker.name and v.signature


# ---------------------------------------------------------------- Kinto, a real server, end to end

def drive_kinto_with_batches(api_url: str) -> None:
    """An application on kinto-http that sets itself up in batches: a collection created in a bucket
    that does not exist yet (the same batch creates the bucket first), then batches of records, and
    a read of them. Every inner request succeeds here; the explorer runs the batches in orders that
    make Kinto refuse inner requests (records before their bucket, the bucket twice)."""
    import kinto_http

    client = kinto_http.Client(server_url=f"{api_url}/v1", auth=("alice", "alice-secret"))
    with client.batch() as b:
        b.create_bucket(id="archive")
        b.create_collection(id="drafts", bucket="archive")
    with client.batch() as b:
        b.create_record(data={"title": "first"}, collection="drafts", bucket="archive")
        b.create_record(data={"title": "second", "tags": ["a"]}, collection="drafts", bucket="archive")
    with client.batch() as b:
        b.create_record(data={"title": "third"}, collection="drafts", bucket="archive")
    client.get_records(collection="drafts", bucket="archive")


def test_kinto_batches_explored_to_depth_3_give_no_finding(kinto_server, tmp_path):
    pytest.importorskip("kinto_http", reason="the test extra installs kinto-http")
    from support.proxy import recording_proxy

    recording_path = tmp_path / "kinto-batch.vrec"
    with recording_proxy(kinto_server.url, recording_path, "--db", kinto_server.db_url) as proxy:
        drive_kinto_with_batches(proxy.url)
    recording = proxy.recording()
    calls = [(ex.request.method, ex.request.path, ex.response.status) for ex in recording.exchanges]
    batches = [ex for ex in recording.exchanges if ex.request.path == "/v1/batch"]
    assert len(batches) == 3 and all(ex.response.status == 200 for ex in batches), calls
    inner_statuses = [r["status"] for ex in batches for r in ex.response.json()["responses"]]
    assert len(inner_statuses) == 5 and all(s < 300 for s in inner_statuses), inner_statuses

    report_dir = tmp_path / "report"
    explored = subprocess.run(
        [sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording_path), "--target", kinto_server.url,
         "--db", kinto_server.db_url, "--report", str(report_dir), "--depth", "3", "--time-limit", "400"],
        check=False, capture_output=True, text=True, timeout=600)
    assert explored.returncode in (0, 1), explored.stdout[-2000:] + explored.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    print(f"{report['transitions']} transitions, {report['states']} states, stopped: {report['stopped']}")
    assert report["stopped"] == "complete", report["warnings"]
    assert report["db_restored"] is True
    # Explored orderings ran the record batches before their bucket existed (inner refusals, which
    # the recording never showed) and the set-up batch twice.
    assert report["transitions"] >= 10, report["warnings"]
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
