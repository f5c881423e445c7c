"""Instantiation: a template plus the values bound on a path gives the request the explorer sends."""

from __future__ import annotations

import json

import pytest

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.infer.instantiate import apply_transform, extract_values, missing_values, path_params, render_request
from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production, RequestField


def _refund_template() -> ActionTemplate:
    recorded = Request(
        "POST", "http", "127.0.0.1", 8000, "/users/3/orders/17/refund",
        query=[("reason", "broken"), ("trace", "old")],
        headers=[("Host", "127.0.0.1:8000"), ("Authorization", "Bearer OLDTOKEN"), ("If-Match", '"v1"'),
                 ("Content-Type", "application/json"), ("Content-Length", "42"), ("Cookie", "sid=OLD; theme=dark")],
        body=json.dumps({"order": {"id": 17, "amount": 5}, "note": "hi"}).encode(),
    )
    return ActionTemplate(
        id="POST /users/{user_id}/orders/{order_id}/refund",
        method="POST",
        path="/users/{user_id}/orders/{order_id}/refund",
        host="127.0.0.1",
        port=8000,
        consumes=[
            Consumption("order_id", "path:order_id", "POST /users/{user_id}/orders", "header:Location", "url-segment:3"),
            Consumption("order_id", "body:$.order.id", "POST /users/{user_id}/orders", "body:$.id"),
            Consumption("token", "header:Authorization", "POST /login", "body:$.token", "bearer"),
            Consumption("order_etag", "header:If-Match", "GET /users/{user_id}/orders/{order_id}", "header:ETag"),
            Consumption("sid", "cookie:sid", "POST /login", "cookie:sid"),
            Consumption("trace", "query:trace", "POST /login", "body:$.trace", "format:t-{}"),
        ],
        fields=[RequestField("path:user_id", "input", ["3"]), RequestField("query:reason", "constant", ["broken"])],
        example_request=recorded,
        example_requests=[recorded],
    )


def test_render_fills_every_binding_with_its_transform():
    tpl = _refund_template()
    values = {
        ("POST /users/{user_id}/orders", "header:Location"): "http://api/users/3/orders/99",
        ("POST /users/{user_id}/orders", "body:$.id"): "99",
        ("POST /login", "body:$.token"): "NEW",
        ("GET /users/{user_id}/orders/{order_id}", "header:ETag"): '"v2"',
        ("POST /login", "cookie:sid"): "S2",
        ("POST /login", "body:$.trace"): 7,
    }
    req = render_request(tpl, values)
    assert req.path == "/users/3/orders/99/refund"
    assert req.query == [("reason", "broken"), ("trace", "t-7")]
    assert json.loads(req.body) == {"order": {"id": 99, "amount": 5}, "note": "hi"}  # number kept a number
    assert req.header("Authorization") == "Bearer NEW"
    assert req.header("If-Match") == '"v2"'
    assert req.header("Cookie") == "sid=S2; theme=dark"
    assert req.header("Content-Length") is None  # recomputed by the client for the new body
    assert req.header("Host") is None
    assert missing_values(tpl, values) == []


def test_unbound_values_keep_recorded_ones_and_are_reported_missing():
    tpl = _refund_template()
    values = {("POST /login", "body:$.token"): "NEW"}
    req = render_request(tpl, values, base_url="http://10.0.0.1:9000/api")
    assert (req.scheme, req.host, req.port) == ("http", "10.0.0.1", 9000)
    assert req.path == "/api/users/3/orders/17/refund"
    assert req.header("Authorization") == "Bearer NEW"
    missing = {c.location for c in missing_values(tpl, values)}
    assert missing == {"path:order_id", "body:$.order.id", "header:If-Match", "cookie:sid", "query:trace"}


def test_form_bodies_are_rebuilt():
    recorded = Request("POST", "http", "h", 80, "/cart", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                       body=b"item=5&qty=2")
    tpl = ActionTemplate(id="POST /cart", method="POST", path="/cart", host="h",
                         consumes=[Consumption("item_id", "form:item", "POST /items", "body:$.id")],
                         example_request=recorded, example_requests=[recorded])
    req = render_request(tpl, {("POST /items", "body:$.id"): 41})
    assert req.body == b"item=41&qty=2"


def test_extract_values_reads_body_headers_and_cookies():
    tpl = ActionTemplate(id="POST /login", method="POST", path="/login", produces=[
        Production("token", "body:$.data.token"), Production("item_id", "body:$.items[*].id"),
        Production("etag", "header:ETag"), Production("sid", "cookie:sid"), Production("gone", "body:$.nope")])
    resp = Response(200, headers=[("Content-Type", "application/json"), ("etag", '"x"'),
                                  ("Set-Cookie", "sid=abc; Path=/; HttpOnly")],
                    body=json.dumps({"data": {"token": "T"}, "items": [{"id": 4}, {"id": 5}]}).encode())
    assert extract_values(tpl, resp) == {"body:$.data.token": "T", "body:$.items[*].id": 4,
                                         "header:ETag": '"x"', "cookie:sid": "abc"}


def test_transforms_and_path_matching():
    assert apply_transform("url-segment:1", "/orders/12?x=1") == "12"
    assert apply_transform("bearer", "t") == "Bearer t"
    assert apply_transform("format:Token {}", "t") == "Token t"
    with pytest.raises(VenomError):
        apply_transform("rot13", "x")
    assert path_params("/a/{x}/b/{y}", "/a/1/b/2") == {"x": "1", "y": "2"}
    assert path_params("/a/{x}", "/b/1") is None
