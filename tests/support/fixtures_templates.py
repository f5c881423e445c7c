"""Fixtures for template inference: one recording of the bindings test API, made through the real proxy."""

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
