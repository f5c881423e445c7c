"""Inference on traffic recorded through the real proxy from real client code (requests).

The API in tests/apps/bindings_api.py hands ids and tokens around in every usual way; the test
asserts the exact set of bindings inferred, so a missed flow and a false one both fail.
"""

from __future__ import annotations

import pytest

from support.fixtures_templates import CLIENTS
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import extract_values, render_request

@pytest.fixture(scope="module")
def tset(bindings_recording):
    return infer_templates(bindings_recording)


EXPECTED_BINDINGS = {
    ("GET /items/{item_id}", "path:item_id", "POST /items", "body:$.id", "identity"),
    ("PUT /items/{item_id}", "path:item_id", "POST /items", "body:$.id", "identity"),
    ("DELETE /items/{item_id}", "path:item_id", "POST /items", "body:$.id", "identity"),
    ("POST /cart", "form:item", "POST /items", "body:$.id", "identity"),
    ("GET /carts/{cart_id}", "path:cart_id", "POST /cart", "body:$.cart_id", "identity"),
    ("GET /notes/{note_id}", "path:note_id", "POST /notes", "body:$.note.uuid", "identity"),
    ("DELETE /notes/{note_id}", "path:note_id", "POST /notes", "body:$.note.uuid", "identity"),
    ("GET /me", "header:Authorization", "POST /login", "body:$.access_token", "bearer"),
    ("GET /docs/{doc_id}", "path:doc_id", "POST /docs", "header:Location", "url-segment:1"),
    ("PUT /docs/{doc_id}", "path:doc_id", "POST /docs", "header:Location", "url-segment:1"),
    ("PUT /docs/{doc_id}", "header:If-Match", "GET /docs/{doc_id}", "header:ETag", "identity"),
    ("POST /users/{user_id}/orders", "path:user_id", "POST /users", "body:$.id", "identity"),
    ("GET /users/{user_id}/orders/{order_id}", "path:user_id", "POST /users", "body:$.id", "identity"),
    ("GET /users/{user_id}/orders/{order_id}", "path:order_id", "POST /users/{user_id}/orders", "body:$.order_id", "identity"),
    ("POST /users/{user_id}/orders/{order_id}/refund", "path:user_id", "POST /users", "body:$.id", "identity"),
    ("POST /users/{user_id}/orders/{order_id}/refund", "path:order_id", "POST /users/{user_id}/orders", "body:$.order_id", "identity"),
}
# The client's cookie jar sends the login's sid cookie on every later call: real flows, all of them.
AFTER_LOGIN = [
    "GET /me", "GET /prefs", "POST /docs", "GET /docs/{doc_id}", "PUT /docs/{doc_id}", "POST /users",
    "POST /users/{user_id}/orders", "GET /users/{user_id}/orders/{order_id}",
    "POST /users/{user_id}/orders/{order_id}/refund",
]
EXPECTED_BINDINGS |= {(tid, "cookie:sid", "POST /login", "cookie:sid", "identity") for tid in AFTER_LOGIN}


def test_templates_are_grouped_by_path_pattern(tset):
    assert set(tset.templates) == {
        "POST /items", "GET /items/{item_id}", "PUT /items/{item_id}", "DELETE /items/{item_id}",
        "POST /cart", "GET /carts/{cart_id}", "POST /notes", "GET /notes/{note_id}", "DELETE /notes/{note_id}",
        "POST /login", "GET /me", "GET /prefs", "POST /docs", "GET /docs/{doc_id}", "PUT /docs/{doc_id}",
        "POST /users", "POST /users/{user_id}/orders", "GET /users/{user_id}/orders/{order_id}",
        "POST /users/{user_id}/orders/{order_id}/refund", "GET /api/",
    }
    assert tset.templates["GET /items/{item_id}"].count == 4 * CLIENTS
    assert tset.templates["GET /me"].count == 2 * CLIENTS
    assert len(tset.sessions) == CLIENTS
    assert all(t.sessions == CLIENTS for t in tset.templates.values())


def test_exact_bindings(tset):
    found = {
        (tpl.id, c.location, c.producer, c.source, c.transform)
        for tpl in tset.templates.values()
        for c in tpl.consumes
    }
    assert found == EXPECTED_BINDINGS
    for tpl in tset.templates.values():
        for c in tpl.consumes:
            assert c.sessions == CLIENTS and 0.5 < c.score <= 1.0, (tpl.id, c)


def test_productions_match_consumptions(tset):
    for tpl in tset.templates.values():
        for c in tpl.consumes:
            producer = tset.templates[c.producer]
            assert any(p.source == c.source and p.var == c.var for p in producer.produces), (tpl.id, c)
    assert {p.var for p in tset.templates["POST /items"].produces} == {"item_id"}
    assert {p.var for p in tset.templates["POST /login"].produces} == {"access_token", "sid"}


def test_literal_fields_constants_and_inputs(tset):
    fields = {f.location: f for f in tset.templates["POST /items"].fields}
    assert fields["body:$.name"].kind == "input" and "widget-0-0" in fields["body:$.name"].examples
    put = {f.location: f for f in tset.templates["PUT /items/{item_id}"].fields}
    assert put["body:$.price"].kind == "constant" and put["body:$.price"].examples == [300]
    cart = {f.location: f for f in tset.templates["POST /cart"].fields}
    assert cart["form:qty"].kind == "constant"


def test_effects(tset):
    effects = {tid: t.effect for tid, t in tset.templates.items()}
    assert effects["POST /items"] == "create"
    assert effects["POST /docs"] == "create"
    assert effects["POST /users/{user_id}/orders"] == "create"
    assert effects["POST /users/{user_id}/orders/{order_id}/refund"] == "action"
    assert effects["POST /login"] == "action"
    assert effects["PUT /items/{item_id}"] == "update"
    assert effects["DELETE /notes/{note_id}"] == "delete"
    assert effects["GET /me"] == "read"


def test_volatile_fields_and_response_shape(tset):
    get_item = tset.templates["GET /items/{item_id}"]
    assert {"$.fetched_at", "header:X-Request-Id"} <= set(get_item.volatile)
    assert not {"$.id", "$.name", "$.price"} & set(get_item.volatile)
    assert get_item.statuses == {200: 4 * CLIENTS}
    schema = get_item.response_schema
    assert schema["properties"]["id"]["type"] == "integer"
    assert set(schema["required"]) == {"id", "name", "price", "fetched_at"}
    assert tset.templates["DELETE /items/{item_id}"].statuses == {204: CLIENTS}


def test_bound_request_renders_with_new_values(tset):
    refund = tset.templates["POST /users/{user_id}/orders/{order_id}/refund"]
    values = {("POST /users", "body:$.id"): 7, ("POST /users/{user_id}/orders", "body:$.order_id"): 8}
    assert render_request(refund, values).path == "/users/7/orders/8/refund"
    login = tset.templates["POST /login"]
    got = extract_values(login, login.example_response)
    assert set(got) == {"body:$.access_token", "cookie:sid"}
