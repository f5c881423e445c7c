"""Fixtures for explorer tests: the orders API (buggy or fixed) on a real database, and its
happy-path traffic recorded through the real proxy.

``orders_api(db_url, fixed=False, redis_url=None, memo=False)`` starts tests/apps/orders_api.py in
its own process; ``orders_traffic(base_url)`` is the happy path a client would run (none of the
planted bug sequences is in it); ``record_orders`` records it through `venom-replay record`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from .http_app import AppProcess, start_app
from .proxy import recording_proxy


def orders_traffic(base_url: str) -> None:
    """Happy paths in three client sessions; raises if the API answers unlike a healthy one."""

    def session(name: str) -> requests.Session:
        s = requests.Session()
        s.headers["X-Venom-Session"] = name
        return s

    def call(s: requests.Session, method: str, path: str, expect: int, **kw):
        r = s.request(method, base_url + path, timeout=10, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    # bob, an admin, changes the banner and then steps down; carol shops.
    bob = session("bob")
    me = call(bob, "POST", "/login", 200, json={"username": "bob"})
    auth = {"Authorization": f"Bearer {me['token']}"}
    call(bob, "PUT", "/settings", 200, json={"banner": "summer sale"}, headers=auth)
    call(bob, "DELETE", f"/admins/{me['user_id']}", 200, headers=auth)

    carol = session("carol")
    for item in ("book", "lamp"):
        o = call(carol, "POST", "/orders", 201, json={"item": item, "qty": 2})
        call(carol, "GET", f"/orders/{o['id']}", 200)
        call(carol, "POST", f"/orders/{o['id']}/ship", 200)
        call(carol, "GET", f"/orders/{o['id']}", 200)
        call(carol, "GET", "/orders", 200)
        o2 = call(carol, "POST", "/orders", 201, json={"item": item + "-gift", "qty": 1})
        call(carol, "POST", f"/orders/{o2['id']}/cancel", 200)
    for item in ("spare", "extra"):  # deletes come last: nothing is read or listed after them
        o3 = call(carol, "POST", "/orders", 201, json={"item": item, "qty": 1})
        call(carol, "DELETE", f"/orders/{o3['id']}", 204)

    # root, another admin, puts bob back: after recording, bob is an admin again.
    root = session("root")
    admin = call(root, "POST", "/login", 200, json={"username": "root"})
    call(root, "PUT", f"/admins/{me['user_id']}", 200, headers={"Authorization": f"Bearer {admin['token']}"})


@pytest.fixture
def orders_api(tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    started: list[AppProcess] = []

    def start(db_url: str, *, fixed: bool = False, redis_url: str | None = None, memo: bool = False) -> AppProcess:
        env = {"ORDERS_DB": db_url, "ORDERS_FIXED": "1" if fixed else "0"}
        if redis_url:
            env["ORDERS_REDIS"] = redis_url
        if memo:
            env["ORDERS_MEMO"] = "1"
        app = start_app("apps.orders_api:create_app", env=env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def record_orders(tmp_path: Path) -> Callable[[str], Path]:
    def record(target_url: str, name: str = "orders.vrec") -> Path:
        out = tmp_path / name
        with recording_proxy(target_url, out) as proxy:
            orders_traffic(proxy.url)
        return out

    return record
