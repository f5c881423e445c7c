"""Small integer ids (1, 2, 3: what a fresh database hands out) bound from the structure of the flow.

A small number is everywhere (quantities, revisions, counts), so it is bound only where the flow
says so: the path parameter addresses the collection its producer created, the create's Location
named exactly that path, or the names agree and the producer was the nearest. The recordings here
are made through the real proxy (tests/support/fixtures_templates.py); the property tests in
test_infer_properties.py prove that no coincidence becomes a binding.
"""

from __future__ import annotations

import json
from dataclasses import replace

import requests

from support.http_app import running_app
from venom_replay.proxy.config import InferenceConfig
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import render_request
from venom_replay.proxy.recording import Exchange, Header, Recording, Request, Response, read_recording

JSON_CT = [("Content-Type", "application/json")]


def _bindings(tset) -> set[tuple[str, str, str, str]]:
    return {(t.id, c.location, c.producer, c.source) for t in tset.templates.values() for c in t.consumes}


def test_crud_ids_1_to_3_are_bound_to_the_create(crud_recording):
    path, ids = crud_recording
    assert sorted(ids.values()) == [1, 2, 3]
    tset = infer_templates(path)
    for tid in ("PUT /items/{item_id}", "GET /items/{item_id}", "DELETE /items/{item_id}"):
        assert (tid, "path:item_id", "POST /items", "body:$.id") in _bindings(tset), tid
        assert not [f for f in tset.templates[tid].fields if f.location == "path:item_id"], tid
    # The listing read between the second create and its update is nearer, but lists everyone's
    # items: the create of this very collection wins.
    assert not [c for t in tset.templates.values() for c in t.consumes if c.producer == "GET /items"]


def test_a_single_clean_create_then_act_binds(crud_recording):
    """Only the first four recorded exchanges: one create, one update, one read, one delete of id 1.

    Without the structural signals the read and the delete were bound to the update and the read
    before them (their answers echo the id the client sent), or left as inputs.
    """
    path, ids = crud_recording
    rec = read_recording(path)
    first = [ex for ex in rec.exchanges if ex.session.endswith("shopper")][:4]
    assert [(ex.request.method, ex.request.path) for ex in first] == [
        ("POST", "/items"), ("PUT", "/items/1"), ("GET", "/items/1"), ("DELETE", "/items/1")]
    tset = infer_templates(replace(rec, exchanges=first))
    assert _bindings(tset) == {
        ("PUT /items/{item_id}", "path:item_id", "POST /items", "body:$.id"),
        ("GET /items/{item_id}", "path:item_id", "POST /items", "body:$.id"),
        ("DELETE /items/{item_id}", "path:item_id", "POST /items", "body:$.id"),
    }


def test_an_item_created_in_another_session_is_a_hint_not_a_binding(crud_recording):
    path, ids = crud_recording
    tset = infer_templates(path)
    for tid in ("GET /items/{item_id}", "DELETE /items/{item_id}"):
        hints = tset.templates[tid].cross_session
        assert [(h.location, h.producer, h.instances) for h in hints if h.source == "body:$.id"] == [
            ("path:item_id", "POST /items", 1)], (tid, hints)
    assert tset.templates["PUT /items/{item_id}"].cross_session == []
    # The auditor's calls do not count against the shopper's flow either.
    delete = next(c for c in tset.templates["DELETE /items/{item_id}"].consumes if c.location == "path:item_id")
    assert delete.support == 2 and delete.score > 0.5
    # A renamed producer is renamed in the hints too.
    renamed = infer_templates(path, InferenceConfig(names={"POST /items": "create item"}))
    assert {h.producer for h in renamed.templates["DELETE /items/{item_id}"].cross_session} == {"create item"}


def test_demo_shop_refund_is_bound_to_the_order_it_refunds(shop_recording):
    rec = read_recording(shop_recording)
    order_ids = {json.loads(ex.response.body)["id"] for ex in rec.exchanges
                 if ex.request.method == "POST" and ex.request.path == "/orders"}
    assert max(order_ids) < 100  # small integers: the case this is about
    tset = infer_templates(rec)
    refund = tset.templates["POST /orders/{order_id}/refund"]
    assert refund.count == 2
    for tid in ("POST /orders/{order_id}/refund", "POST /orders/{order_id}/pay", "POST /orders/{order_id}/cancel",
                "GET /orders/{order_id}", "DELETE /orders/{order_id}"):
        assert (tid, "path:order_id", "POST /orders", "body:$.id") in _bindings(tset), tid
    # The answer to POST /orders/7/pay is order 7 again: an echo of what the client sent, no producer.
    assert not [c for t in tset.templates.values() for c in t.consumes if c.producer == "POST /orders/{order_id}/pay"]
    rendered = render_request(refund, {("POST /orders", "body:$.id"): 41})
    assert rendered.path == "/orders/41/refund"


def _ex(seq: int, method: str, path: str, status: int, body: object | None, headers: list | None = None) -> Exchange:
    data = json.dumps(body).encode() if body is not None else b""
    return Exchange(seq, "s", 0.0, 0.0, Request(method, "http", "api", 80, path, [], JSON_CT, b""),
                    Response(status, "", JSON_CT + (headers or []), data))


def _rec(exchanges: list[Exchange]) -> Recording:
    return Recording(__import__("pathlib").Path("t.vrec"), Header("venom-replay-recording", 1, 0.0), exchanges, [],
                     len(exchanges) + 1, False, None, 0)


def test_location_that_names_the_path_binds_even_when_names_disagree():
    # An upload answers with where the file lives: nothing but the Location ties /files/3 to it.
    tset = infer_templates(_rec([
        _ex(1, "POST", "/uploads", 202, {"state": "stored", "size": 3}, [("Location", "/files/3")]),
        _ex(2, "GET", "/files/3", 200, {"size": 3, "name": "a.txt"}),
    ]))
    assert _bindings(tset) == {("GET /files/{file_id}", "path:file_id", "POST /uploads", "header:Location")}
    # The same small value with no structure behind it stays an input.
    tset = infer_templates(_rec([
        _ex(1, "POST", "/uploads", 202, {"state": "stored", "size": 3}),
        _ex(2, "GET", "/files/3", 200, {"size": 3, "name": "a.txt"}),
    ]))
    assert _bindings(tset) == set()


def test_trailing_slash_is_kept_in_patterns_and_requests(bindings_recording):
    tset = infer_templates(bindings_recording)
    root = tset.templates["GET /api/"]
    assert root.path == "/api/"
    assert "GET /api" not in tset.templates
    request = render_request(root, {})
    assert request.path == "/api/"
    with running_app("apps.bindings_api:create_app") as api:
        assert requests.get(api.url + request.path, allow_redirects=False).status_code == 200
        assert requests.get(api.url + "/api", allow_redirects=False).status_code == 308  # what we used to send


def test_trailing_slash_after_a_parameter():
    tset = infer_templates(_rec([
        _ex(1, "GET", "/buckets/a1b2c3d4e5f60718/", 200, {"ok": True}),
        _ex(2, "GET", "/buckets/0f1e2d3c4b5a6978/", 200, {"ok": True}),
        _ex(3, "GET", "/buckets", 200, {"ok": True}),
    ]))
    assert set(tset.templates) == {"GET /buckets/{bucket_id}/", "GET /buckets"}
    tpl = tset.templates["GET /buckets/{bucket_id}/"]
    assert render_request(tpl, {}).path == "/buckets/a1b2c3d4e5f60718/"
