"""Links from value bindings: which bindings an OpenAPI runtime expression can state, and how."""

from __future__ import annotations

from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production
from venom_replay.replay.openapi.links import links_by_producer, source_expression
from venom_replay.replay.openapi.naming import operation_ids


def _templates() -> dict[str, ActionTemplate]:
    login = ActionTemplate("login", "POST", "/login", produces=[Production("token", "body:$.token")])
    create = ActionTemplate("create", "POST", "/orders", produces=[Production("order_id", "body:$.order.id")])
    listing = ActionTemplate("list", "GET", "/items", produces=[Production("item_id", "body:$.items[*].id")])
    upload = ActionTemplate("upload", "PUT", "/docs", produces=[Production("doc", "header:Location")])
    read = ActionTemplate("read", "GET", "/orders/{order_id}/items/{item_id}", consumes=[
        Consumption("order_id", "path:order_id", "create", "body:$.order.id"),
        Consumption("item_id", "path:item_id", "list", "body:$.items[*].id"),
        Consumption("token", "header:Authorization", "login", "body:$.token", transform="bearer"),
        Consumption("etag", "header:If-Match", "create", "header:ETag"),
    ])
    doc = ActionTemplate("doc", "GET", "/docs/{doc_id}", consumes=[
        Consumption("doc", "path:doc_id", "upload", "header:Location", transform="url-segment:1"),
    ])
    pay = ActionTemplate("pay", "POST", "/payments", consumes=[
        Consumption("order_id", "body:$.payment.order_id", "create", "body:$.order.id"),
        Consumption("order_id", "query:order", "create", "body:$.order.id"),
    ])
    return {t.id: t for t in (login, create, listing, upload, read, doc, pay)}


def test_source_expressions_are_json_pointers_and_headers() -> None:
    assert source_expression("body:$.order.id") == "$response.body#/order/id"
    assert source_expression("body:$.items[*].id") == "$response.body#/items/0/id"
    assert source_expression("body:$['a/b']['c~d']") == "$response.body#/a~1b/c~0d"
    assert source_expression("header:Location") == "$response.header.Location"
    assert source_expression("cookie:sid") is None
    assert source_expression("request:body:$.password") is None


def test_links_carry_each_expressible_binding_to_its_consumer() -> None:
    templates = _templates()
    ids = operation_ids(templates.values())
    links = links_by_producer(templates, ids)
    read_id, pay_id = ids["read"], ids["pay"]
    assert read_id == "getOrdersOrderIdItemsItemId"
    assert links["create"][read_id]["parameters"] == {"order_id": "$response.body#/order/id", "If-Match": "$response.header.ETag"}
    assert links["list"][read_id]["parameters"] == {"item_id": "$response.body#/items/0/id"}
    # A body field gets the value inside a body of the request's shape; a query parameter by name.
    assert links["create"][pay_id]["requestBody"] == {"payment": {"order_id": "$response.body#/order/id"}}
    assert links["create"][pay_id]["parameters"] == {"order": "$response.body#/order/id"}


def test_credentials_and_transformed_values_are_not_linked() -> None:
    links = links_by_producer(_templates(), operation_ids(_templates().values()))
    assert "login" not in links  # a bearer token is the security scheme's
    assert "upload" not in links  # an id cut out of a Location header has no runtime expression


def test_operation_ids_are_unique() -> None:
    twins = [ActionTemplate("a", "GET", "/a-b"), ActionTemplate("b", "GET", "/a_b"), ActionTemplate("c", "GET", "/a/b")]
    ids = operation_ids(twins)
    assert len(set(ids.values())) == 3 and ids["a"] == "getAB"
