"""The bundled demo shop: each planted bug is there in the buggy shop and absent from its twin, and
the scripted happy-path traffic never steps on a bug (both twins answer it the same way)."""

from __future__ import annotations

import re
import sqlite3

import pytest
import requests

from venom_replay.replay.demo.shop import ADMIN_PASSWORD, ADMIN_USERNAME, create_app, launch
from venom_replay.replay.demo.traffic import run_traffic


def _login(url: str, username: str, password: str) -> dict[str, str]:
    resp = requests.post(f"{url}/login", json={"username": username, "password": password}, timeout=10)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def _paid_order(url: str, auth: dict[str, str]) -> int:
    product = requests.post(f"{url}/products", json={"name": "W", "price": 250, "stock": 9}, headers=auth, timeout=10)
    order = requests.post(f"{url}/orders", json={"product_id": product.json()["id"], "quantity": 2}, headers=auth, timeout=10)
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    assert requests.post(f"{url}/orders/{order_id}/pay", json={"method": "card"}, headers=auth, timeout=10).ok
    return order_id


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@pytest.mark.parametrize("fixed", [False, True], ids=["buggy", "fixed"])
def test_planted_bugs_are_in_the_buggy_shop_only(demo_shop, request, engine: str, fixed: bool) -> None:
    # The same SQL runs on both engines; on PostgreSQL the shop gets a fresh database.
    db_url = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    url = demo_shop(db_url, fixed=fixed).url
    admin = _login(url, ADMIN_USERNAME, ADMIN_PASSWORD)

    # double refund
    order_id = _paid_order(url, admin)
    assert requests.post(f"{url}/orders/{order_id}/refund", headers=admin, timeout=10).status_code == 200
    again = requests.post(f"{url}/orders/{order_id}/refund", headers=admin, timeout=10)
    if fixed:
        assert again.status_code == 409
    else:
        assert again.status_code == 200 and again.json()["refunded"] == 2 * again.json()["amount"]

    # read after delete, and deleted orders and products still listed
    assert requests.delete(f"{url}/orders/{order_id}", headers=admin, timeout=10).status_code == 204
    read = requests.get(f"{url}/orders/{order_id}", headers=admin, timeout=10)
    assert read.status_code == (404 if fixed else 200)
    listed = [o["id"] for o in requests.get(f"{url}/orders", headers=admin, timeout=10).json()["orders"]]
    assert (order_id in listed) is not fixed
    products = requests.get(f"{url}/products", headers=admin, timeout=10).json()["products"]
    doomed = products[0]["id"]
    assert requests.delete(f"{url}/products/{doomed}", headers=admin, timeout=10).status_code == 204
    assert requests.get(f"{url}/products/{doomed}", headers=admin, timeout=10).status_code == 404
    still = [p["id"] for p in requests.get(f"{url}/products", headers=admin, timeout=10).json()["products"]]
    assert (doomed in still) is not fixed

    # access after demotion: a token taken while admin, used after stepping down
    user = requests.post(f"{url}/users", json={"username": "bob", "password": "pw"}, headers=admin, timeout=10).json()
    assert requests.put(f"{url}/groups/admins/members/{user['id']}", headers=admin, timeout=10).ok
    bob = _login(url, "bob", "pw")
    assert requests.post(f"{url}/products", json={"name": "B", "price": 1, "stock": 1}, headers=bob, timeout=10).status_code == 201
    demoted = requests.delete(f"{url}/groups/admins/members/{user['id']}", headers=bob, timeout=10)
    assert demoted.status_code == 200 and demoted.json()["role"] == "member"
    write = requests.post(f"{url}/products", json={"name": "C", "price": 1, "stock": 1}, headers=bob, timeout=10)
    assert write.status_code == (403 if fixed else 201)
    # a fresh login as a member is refused in both shops: only the old token carries the stale role
    fresh = _login(url, "bob", "pw")
    assert requests.post(f"{url}/products", json={"name": "D", "price": 1, "stock": 1}, headers=fresh, timeout=10).status_code == 403


def _comparable(value):
    """A transcript body with the values that differ on every run (tokens, timestamps) left out."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in ("token", "created_at")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _shop_endpoints(tmp_path) -> set[str]:
    app = create_app(f"sqlite:///{tmp_path / 'routes.db'}")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        pattern = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {f"{method} {pattern}" for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_happy_path_traffic_gets_the_same_answers_from_both_twins(demo_shop, tmp_path) -> None:
    buggy = run_traffic(demo_shop(fixed=False).url)
    fixed = run_traffic(demo_shop(fixed=True).url)
    assert len(buggy.transcript) == len(fixed.transcript) == buggy.requests
    for left, right in zip(buggy.transcript, fixed.transcript):
        assert left[:3] == right[:3]
        assert _comparable(left[3]) == _comparable(right[3]), left[1]
    # every endpoint of the shop is exercised, so every template can be learned
    assert set(buggy.endpoints) == _shop_endpoints(tmp_path)
    assert len(buggy.sessions) == 3 * 4 + 1  # three rounds of four stories, then a product is retired


def test_schema_has_foreign_keys_and_autoincrement_and_survives_restart(tmp_path) -> None:
    db = tmp_path / "shop.db"
    with launch(f"sqlite:///{db}") as shop:
        run_traffic(shop.url, rounds=1)
    with launch(f"sqlite:///{db}") as shop:  # the schema exists now; start again on the same data
        admin = _login(shop.url, ADMIN_USERNAME, ADMIN_PASSWORD)
        products = requests.get(f"{shop.url}/products", headers=admin, timeout=10).json()["products"]
    # The buggy shop still lists the retired Gizmo: that is one of its planted bugs.
    assert [p["name"] for p in products] == ["Widget 1", "Gadget 1", "Gizmo 1", "Doohickey 1"]
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        fks = {row[2] for row in con.execute("PRAGMA foreign_key_list(orders)")}
        assert fks == {"users", "products"}
        assert con.execute("SELECT count(*) FROM sqlite_sequence WHERE name = 'orders'").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM users WHERE username = 'admin'").fetchone()[0] == 1
    finally:
        con.close()


def test_bad_database_url_is_one_line(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="sqlite:///... and postgresql://"):
        launch("mysql://nowhere/db")


@pytest.mark.parametrize("fixed", [False, True], ids=["buggy", "fixed"])
def test_refusals_are_json_errors_alike_in_both_twins(demo_shop, fixed: bool) -> None:
    # Missing rows answer 404 and wrong order states 409, with the same messages in both twins.
    url = demo_shop(fixed=fixed).url
    admin = _login(url, ADMIN_USERNAME, ADMIN_PASSWORD)

    def error(method: str, path: str, status: int) -> str:
        resp = requests.request(method, f"{url}{path}", headers=admin, timeout=10)
        assert resp.status_code == status, resp.text
        return resp.json()["error"]

    assert error("GET", "/products/999", 404) == "product 999 not found"
    assert error("GET", "/orders/999", 404) == "order 999 not found"
    assert error("PUT", "/groups/admins/members/999", 404) == "user 999 not found"
    order_id = _paid_order(url, admin)
    assert error("POST", f"/orders/{order_id}/pay", 409) == f"order {order_id} is paid, not pending"
    assert error("POST", f"/orders/{order_id}/cancel", 409) == f"order {order_id} is paid, not pending"
    assert error("GET", "/nowhere", 404).startswith("The requested URL was not found")
    assert requests.get(f"{url}/me", timeout=10).json() == {"error": "missing bearer token"}
