"""Client traffic for tests/apps/basic_auth_api.py, sent keep-alive or with one connection per request.

The same calls either way: the admin creates alice and bob; alice keeps a note, checks its version,
shares it with bob; bob reads and writes it; alice changes her password (the old one is refused
after that) and goes on with the new one; carol signs up on her own, gets an API key and uses it;
someone anonymous posts a paste and reads it back.

``keep-alive`` sends everything over one HTTP/1.1 connection (``http.client``); ``per-request``
uses plain ``urllib``, which opens a connection for every request, as scripts and many SDKs do.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

ADMIN = ("admin", "admin-pw")
ALICE = ("alice", "alice-pw-1")
ALICE_NEW = "alice-pw-2"
BOB = ("bob", "bob-pw-1")
CAROL = ("carol", "carol-pw-1")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Client:
    """One client program; ``transport`` decides how its requests travel, nothing else."""

    def __init__(self, url: str, transport: str) -> None:
        self.url = url.rstrip("/")
        self.transport = transport
        parts = urlsplit(self.url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10) if transport == "keep-alive" else None

    def call(self, method: str, path: str, expect: int, body: Any = None, headers: dict[str, str] | None = None) -> tuple[Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        status, raw, got = self._send(method, path, data, sent)
        assert status == expect, f"{method} {path}: {status} (expected {expect}): {raw[:200]!r}"
        return (json.loads(raw) if raw else None), got

    def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        if self.conn is not None:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
        except urllib.error.HTTPError as err:
            return err.code, err.read(), {k.lower(): v for k, v in err.headers.items()}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def drive(url: str, transport: str) -> dict[str, Any]:
    """Run the whole session; returns the ids the server handed out."""
    c = Client(url, transport)
    try:
        c.call("POST", "/users", 201, {"username": ALICE[0], "password": ALICE[1]}, basic(*ADMIN))
        c.call("POST", "/users", 201, {"username": BOB[0], "password": BOB[1]}, basic(*ADMIN))

        note, _ = c.call("POST", "/notes", 201, {"text": "groceries"}, basic(*ALICE))
        nid = note["id"]
        _, got = c.call("GET", f"/notes/{nid}", 200, headers=basic(*ALICE))
        c.call("PATCH", f"/notes/{nid}", 200, {"text": "groceries, milk"}, {**basic(*ALICE), "If-Match": got["etag"]})
        c.call("POST", f"/notes/{nid}/share", 200, {"username": BOB[0]}, basic(*ALICE))
        c.call("GET", "/notes", 200, headers=basic(*ALICE))
        c.call("GET", "/notes?since=1", 200, headers=basic(*ALICE))

        c.call("GET", f"/notes/{nid}", 200, headers=basic(*BOB))
        c.call("PATCH", f"/notes/{nid}", 200, {"text": "groceries, milk, eggs"}, basic(*BOB))

        c.call("PUT", f"/users/{ALICE[0]}/password", 200, {"password": ALICE_NEW, "current_password": ALICE[1]}, basic(*ALICE))
        c.call("GET", "/me", 401, headers=basic(*ALICE))  # the old password is refused from now on
        c.call("GET", "/me", 200, headers=basic(ALICE[0], ALICE_NEW))
        second, _ = c.call("POST", "/notes", 201, {"text": "todo"}, basic(ALICE[0], ALICE_NEW))
        c.call("GET", f"/notes/{second['id']}", 200, headers=basic(ALICE[0], ALICE_NEW))
        c.call("DELETE", f"/notes/{second['id']}", 204, headers=basic(ALICE[0], ALICE_NEW))

        c.call("POST", "/signup", 201, {"username": CAROL[0], "password": CAROL[1]})
        c.call("GET", "/me", 200, headers=basic(*CAROL))
        key, _ = c.call("POST", "/keys", 201, headers=basic(*CAROL))
        c.call("GET", "/me", 200, headers={"X-Api-Key": key["key"]})

        paste, _ = c.call("POST", "/pastes", 201, {"text": "hello"})
        c.call("GET", f"/pastes/{paste['id']}", 200)
        return {"note": nid, "second": second["id"], "paste": paste["id"]}
    finally:
        c.close()
