"""Fixtures for template inference: recordings made through the real proxy (the bindings test API, the
small CRUD API with ids 1, 2, 3, the demo shop)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from .http_app import running_app
from .proxy import recording_proxy

CLIENTS = 3


def drive(url: str) -> None:
    """Three clients, each its own session, doing what a real front end would."""
    for n in range(CLIENTS):
        s = requests.Session()
        s.headers["X-Venom-Session"] = f"client-{n}"
        assert s.get(f"{url}/api/", allow_redirects=False).status_code == 200  # /api would redirect
        ids = []
        for k in range(2):
            item = s.post(f"{url}/items", json={"name": f"widget-{n}-{k}", "price": 250 + k}).json()
            s.get(f"{url}/items/{item['id']}")
            s.get(f"{url}/items/{item['id']}")  # the same read twice: what differs is noise
            s.put(f"{url}/items/{item['id']}", json={"name": f"renamed-{n}-{k}", "price": 300})
            ids.append(item["id"])
        cart = s.post(f"{url}/cart", data={"item": str(ids[0]), "qty": "2"}).json()
        s.get(f"{url}/carts/{cart['cart_id']}")
        s.delete(f"{url}/items/{ids[1]}")

        note = s.post(f"{url}/notes", json={"text": f"note {n}"}).json()["note"]
        s.get(f"{url}/notes/{note['uuid']}")
        s.delete(f"{url}/notes/{note['uuid']}")

        token = s.post(f"{url}/login", json={"username": f"user{n}", "password": "pw"}).json()["access_token"]
        s.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"})
        s.get(f"{url}/prefs")  # the sid cookie rides along in the client's cookie jar
        s.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"})

        doc_url = urljoin(url + "/", s.post(f"{url}/docs", json={"title": "draft"}).headers["Location"])
        etag = s.get(doc_url).headers["ETag"]
        assert s.put(doc_url, json={"title": "final"}, headers={"If-Match": etag}).status_code == 200

        uid = s.post(f"{url}/users", json={"name": f"u{n}"}).json()["id"]
        oid = s.post(f"{url}/users/{uid}/orders", json={"amount": 40}).json()["order_id"]
        s.get(f"{url}/users/{uid}/orders/{oid}")
        s.post(f"{url}/users/{uid}/orders/{oid}/refund")


@pytest.fixture(scope="session")
def bindings_recording(tmp_path_factory) -> Path:
    """tests/apps/bindings_api.py driven by three real clients through `venom-replay record`."""
    out = tmp_path_factory.mktemp("rec") / "bindings.vrec"
    with running_app("apps.bindings_api:create_app") as api:
        with recording_proxy(api.url, out) as proxy:
            drive(proxy.url)
        assert proxy.proc.returncode == 0, proxy.stderr
    return out


def drive_crud(url: str) -> dict[str, int]:
    """tests/apps/crud_api.py the way a small front end uses it: ids 1, 2, 3 (a fresh server's).

    The shopper creates three items: the first is updated, read and deleted right away; the second
    after a listing read in between; the third is left for the auditor, who reads and deletes it in
    a session of its own (a cross-session flow: no binding, a hint).
    """
    shopper = requests.Session()
    shopper.headers["X-Venom-Session"] = "shopper"
    first = shopper.post(f"{url}/items", json={"name": "lamp", "price": 30}).json()["id"]
    assert shopper.put(f"{url}/items/{first}", json={"name": "lamp", "price": 25}).status_code == 200
    assert shopper.get(f"{url}/items/{first}").status_code == 200
    assert shopper.delete(f"{url}/items/{first}").status_code == 204
    second = shopper.post(f"{url}/items", json={"name": "desk", "price": 2}).json()["id"]
    shopper.get(f"{url}/items")
    assert shopper.put(f"{url}/items/{second}", json={"name": "desk", "price": 3}).status_code == 200
    assert shopper.delete(f"{url}/items/{second}").status_code == 204
    third = shopper.post(f"{url}/items", json={"name": "shelf", "price": 1}).json()["id"]
    auditor = requests.Session()
    auditor.headers["X-Venom-Session"] = "auditor"
    assert auditor.get(f"{url}/items/{third}").status_code == 200
    assert auditor.delete(f"{url}/items/{third}").status_code == 204
    return {"first": first, "second": second, "third": third}


@pytest.fixture(scope="session")
def crud_recording(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """tests/apps/crud_api.py (small integer ids) driven through `venom-replay record`."""
    out = tmp_path_factory.mktemp("rec") / "crud.vrec"
    with running_app("apps.crud_api:create_app") as api:
        with recording_proxy(api.url, out) as proxy:
            ids = drive_crud(proxy.url)
        assert proxy.proc.returncode == 0, proxy.stderr
    return out, ids


@pytest.fixture(scope="session")
def shop_recording(tmp_path_factory) -> Path:
    """The bundled demo shop (SQLite, small integer ids) and its scripted traffic, through the real proxy."""
    from venom_replay.replay.demo.shop import launch
    from venom_replay.replay.demo.traffic import run_traffic

    folder = tmp_path_factory.mktemp("shop")
    out = folder / "shop.vrec"
    with launch(f"sqlite:///{folder / 'shop.db'}") as shop:
        with recording_proxy(shop.url, out) as proxy:
            run_traffic(proxy.url)
        assert proxy.proc.returncode == 0, proxy.stderr
    return out
