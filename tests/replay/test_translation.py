"""The recorded -> live translation of a faithful replay (pure logic: hand-built messages).

A live answer that differs from the recorded one teaches recorded -> live pairs; a later recorded
request gets its recorded values replaced: distinctive values wherever they stand, small ones only
at locations a template binding marks as bound, and nothing added or dropped.
"""

from __future__ import annotations

import json

from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.explorer.translation import EMPTY, distinctive

UUID_REC = "0b7f5a6e-3c1d-4e2a-9f00-6d2b8c1e4a11"
UUID_LIVE = "9e1c2b3a-4d5e-4f60-8a7b-1c2d3e4f5a6b"
TOKEN_REC = "tok_rec_7f3a9c2e1b4d6a8f"
TOKEN_LIVE = "tok_live_0a1b2c3d4e5f6a7b"


def _json(status: int, body: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, headers=[("Content-Type", "application/json"), *(headers or [])], body=json.dumps(body).encode())


def _request(method: str, path: str, *, query=(), headers=(), body: object | None = None, form: str | None = None) -> Request:
    hdrs = list(headers)
    raw = b""
    if body is not None:
        hdrs.append(("Content-Type", "application/json"))
        raw = json.dumps(body).encode()
    if form is not None:
        hdrs.append(("Content-Type", "application/x-www-form-urlencoded"))
        raw = form.encode()
    return Request(method, "http", "api.test", 80, path, query=list(query), headers=hdrs, body=raw)


CREATE = ActionTemplate(id="POST /orders", method="POST", path="/orders",
                        produces=[Production("order_id", "body:$.id"), Production("token", "body:$.token")])
READ = ActionTemplate(id="GET /orders/{order_id}", method="GET", path="/orders/{order_id}",
                      consumes=[Consumption("order_id", "path:order_id", "POST /orders", "body:$.id")])
LIST = ActionTemplate(id="GET /orders", method="GET", path="/orders")


def test_ids_tokens_and_timestamps_that_came_back_different_are_replaced_where_they_stand():
    recorded = _json(201, {"id": 16, "token": TOKEN_REC, "ref": UUID_REC, "status": "new", "created": 1_700_000_000_123,
                           "items": [{"sku": "A"}], "paid": False})
    live = _json(201, {"id": 40, "token": TOKEN_LIVE, "ref": UUID_LIVE, "status": "new", "created": 1_700_000_999_999,
                       "items": [{"sku": "A"}], "paid": False})
    tr = EMPTY.learned(CREATE, recorded, live)

    # The id is small: replaced in the bound path parameter, not in an unbound query value.
    req = _request("GET", "/orders/16", query=[("page", "16"), ("ref", UUID_REC)],
                   headers=[("Authorization", f"Bearer {TOKEN_REC}"), ("Cookie", f"sid={TOKEN_REC}; theme=dark")])
    out = tr.request(READ, req)
    assert out.path == "/orders/40"
    assert out.query == [("page", "16"), ("ref", UUID_LIVE)]
    assert out.headers == [("Authorization", f"Bearer {TOKEN_LIVE}"), ("Cookie", f"sid={TOKEN_LIVE}; theme=dark")]

    # JSON leaves keep their recorded type; unchanged bodies are sent byte for byte.
    body = _request("POST", "/orders", body={"echo": 1_700_000_000_123, "note": f"see {UUID_REC}", "status": "new", "n": 16})
    sent = json.loads(tr.request(LIST, body).body)
    assert sent == {"echo": 1_700_000_999_999, "note": f"see {UUID_LIVE}", "status": "new", "n": 16}
    untouched = _request("POST", "/orders", body={"qty": 2})
    assert tr.request(LIST, untouched).body == untouched.body


def test_a_bound_location_takes_the_pair_its_own_producer_taught():
    # Two creates answered recorded id 2 with different live ids: the binding's producer decides.
    users = ActionTemplate(id="POST /users", method="POST", path="/users", produces=[Production("user_id", "body:$.id")])
    tr = EMPTY.learned(users, _json(201, {"id": 2}), _json(201, {"id": 7}))
    tr = tr.learned(CREATE, _json(201, {"id": 2}), _json(201, {"id": 9}))
    grant = ActionTemplate(id="POST /grants", method="POST", path="/grants",
                           consumes=[Consumption("user_id", "body:$.user", "POST /users", "body:$.id"),
                                     Consumption("order_id", "query:order", "POST /orders", "body:$.id")])
    out = tr.request(grant, _request("POST", "/grants", query=[("order", "2")], body={"user": 2, "count": 2}))
    assert out.query == [("order", "9")]
    assert json.loads(out.body) == {"user": 7, "count": 2}


def test_headers_location_etag_and_set_cookie_are_compared_too():
    recorded = Response(201, headers=[("Location", "/docs/5"), ("ETag", '"v-1700000000"'), ("Set-Cookie", "sid=abc123def456; Path=/"),
                                      ("X-Request-Id", "req-0001-aaaa"), ("Date", "Mon, 01 Jan 2024 00:00:00 GMT")])
    live = Response(201, headers=[("Location", "/docs/8"), ("ETag", '"v-1700000555"'), ("Set-Cookie", "sid=zzz999yyy888; Path=/"),
                                  ("X-Request-Id", "req-0002-bbbb"), ("Date", "Tue, 02 Jan 2024 00:00:00 GMT")])
    docs = ActionTemplate(id="POST /docs", method="POST", path="/docs", produces=[Production("doc", "header:Location")])
    tr = EMPTY.learned(docs, recorded, live)
    put = ActionTemplate(id="PUT /docs/{doc_id}", method="PUT", path="/docs/{doc_id}",
                         consumes=[Consumption("doc", "path:doc_id", "POST /docs", "header:Location", transform="url-segment:1")])
    out = tr.request(put, _request("PUT", "/docs/5", headers=[("If-Match", '"v-1700000000"'), ("Cookie", "sid=abc123def456")],
                                   body={"version": "v-1700000000"}))
    assert out.path == "/docs/8"
    assert out.headers[0] == ("If-Match", '"v-1700000555"')
    assert out.headers[1] == ("Cookie", "sid=zzz999yyy888")
    assert json.loads(out.body) == {"version": "v-1700000555"}


def test_lists_of_another_length_teach_nothing_and_form_bodies_are_translated():
    recorded = _json(200, {"orders": [{"id": "ord-000001"}, {"id": "ord-000002"}]})
    live = _json(200, {"orders": [{"id": "ord-000009"}, {"id": "ord-000001"}, {"id": "ord-000002"}]})
    assert len(EMPTY.learned(LIST, recorded, live)) == 0
    tr = EMPTY.learned(CREATE, _json(201, {"token": TOKEN_REC}), _json(201, {"token": TOKEN_LIVE}))
    out = tr.request(LIST, _request("POST", "/orders", form=f"token={TOKEN_REC}&page=1"))
    assert out.body.decode() == f"token={TOKEN_LIVE}&page=1"


def test_what_counts_as_distinctive():
    assert distinctive(UUID_REC) and distinctive("1700000000123") and distinctive("ord-000001")
    assert not distinctive("16") and not distinctive("refunded") and not distinctive("1250") and not distinctive("card")
