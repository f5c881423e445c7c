"""Happy-path traffic of the slow boards-and-cards API (tests/apps/slow_api.py), for tests and benches.

    with recording_proxy(api.url, path, "--db", db_url) as proxy:
        drive_slow_api(proxy.url)

Every call the API offers is made at least once, each with ids that earlier answers produced, so that
every template and its bindings are learned. The "home" board outlives the session: replaying it from
its end state instead of its start state answers 409 (board names are unique). No card is touched after its board's delete: the
recording gets the same answers from the planted server and its correct twin.
"""

from __future__ import annotations

from typing import Any

import requests


def drive_slow_api(url: str) -> int:
    """One client session over two boards and their cards; returns the number of calls made."""
    http = requests.Session()
    http.trust_env = False
    http.headers["X-Venom-Session"] = "planner"
    calls = 0

    def call(method: str, path: str, expect: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        nonlocal calls
        resp = http.request(method, url + path, json=body, timeout=10)
        calls += 1
        if resp.status_code != expect:
            raise RuntimeError(f"{method} {path}: expected {expect}, got {resp.status_code}: {resp.text[:200]}")
        return resp.json() if resp.content else {}

    home = call("POST", "/boards", 201, {"name": "home"})["id"]
    work = call("POST", "/boards", 201, {"name": "work"})["id"]
    call("GET", "/boards", 200)
    call("GET", f"/boards/{home}", 200)
    call("PUT", f"/boards/{work}", 200, {"name": "office"})
    paint = call("POST", f"/boards/{home}/cards", 201, {"title": "paint the fence"})["id"]
    seeds = call("POST", f"/boards/{home}/cards", 201, {"title": "buy seeds"})["id"]
    report = call("POST", f"/boards/{work}/cards", 201, {"title": "write the report"})["id"]
    call("GET", f"/boards/{home}/cards", 200)
    call("GET", f"/cards/{paint}", 200)
    call("PATCH", f"/cards/{paint}", 200, {"done": True})
    call("PATCH", f"/cards/{report}", 200, {"title": "write the quarterly report"})
    call("DELETE", f"/cards/{seeds}", 204)
    call("GET", f"/boards/{home}/cards", 200)
    call("GET", f"/cards/{report}", 200)
    call("DELETE", f"/boards/{work}", 204)
    call("GET", "/boards", 200)
    http.close()
    return calls
