"""Scripted happy-path traffic for the demo shop, the way its real clients would use it.

``run_traffic(base_url)`` plays a few client sessions against ``base_url`` (the recording proxy in
front of the shop): an admin sets up the catalogue and users, members shop, pay, get one refund and
cancel, a promoted user works as an admin and then steps down, and finally a product is retired.
Every endpoint is called with values produced by earlier responses, so that templates and their
bindings can be learned. None of the planted bug sequences is in it: nothing is refunded twice,
nothing is read or listed after its delete, and a demoted user's token is never used for an admin
write again. Against the buggy shop and its correct twin it therefore gets the same answers.

Each session uses its own connection (``requests.Session``) and names itself with the
``X-Venom-Session`` header.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from venom_replay.replay.demo.shop import ADMIN_PASSWORD, ADMIN_USERNAME

SESSION_HEADER = "X-Venom-Session"


class TrafficError(RuntimeError):
    """The shop answered a scripted call differently than a healthy shop does."""


@dataclass
class TrafficSummary:
    requests: int = 0
    sessions: list[str] = field(default_factory=list)
    endpoints: Counter[str] = field(default_factory=Counter)
    """``METHOD /path/pattern`` -> calls, the way the script names them."""
    transcript: list[tuple[str, str, int, Any]] = field(default_factory=list)
    """(session, ``METHOD path``, status, JSON body) of every call, in order."""


class _Client:
    """One client session: its own connection, its own session name, an optional bearer token."""

    def __init__(self, base_url: str, name: str, summary: TrafficSummary, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers[SESSION_HEADER] = name
        self.name = name
        self.summary = summary
        self.timeout = timeout
        summary.sessions.append(name)

    def call(self, method: str, pattern: str, expect: int, *, json: Any = None, **params: Any) -> Any:
        path = pattern.format(**params)
        resp = self.http.request(method, self.base_url + path, json=json, timeout=self.timeout)
        self.summary.requests += 1
        self.summary.endpoints[f"{method} {pattern}"] += 1
        if resp.status_code != expect:
            raise TrafficError(f"{method} {path}: expected {expect}, got {resp.status_code}: {resp.text[:200]}")
        answer = resp.json() if resp.content else None
        self.summary.transcript.append((self.name, f"{method} {path}", resp.status_code, answer))
        return answer

    def login(self, username: str, password: str) -> dict[str, Any]:
        answer = self.call("POST", "/login", 200, json={"username": username, "password": password})
        self.http.headers["Authorization"] = f"Bearer {answer['token']}"
        return answer

    def close(self) -> None:
        self.http.close()


def run_traffic(base_url: str, *, rounds: int = 3, timeout: float = 10.0) -> TrafficSummary:
    """Play ``rounds`` rounds of the scripted sessions against a freshly started demo shop."""
    summary = TrafficSummary()
    for rnd in range(1, rounds + 1):
        _play_round(base_url, rnd, last=rnd == rounds, summary=summary, timeout=timeout)
    return summary


def _play_round(base_url: str, rnd: int, *, last: bool, summary: TrafficSummary, timeout: float) -> None:
    def client(story: str) -> _Client:
        return _Client(base_url, f"{story}-{rnd}", summary, timeout)

    alice, bob, carol = (f"{name}{rnd}" for name in ("alice", "bob", "carol"))
    password = f"pw-{rnd}-secret"

    # The admin sets up the catalogue and the team, and promotes bob to the admins group.
    admin = client("admin-setup")
    admin.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    admin.call("GET", "/me", 200)
    widget = admin.call("POST", "/products", 201, json={"name": f"Widget {rnd}", "price": 1250, "stock": 50})
    gadget = admin.call("POST", "/products", 201, json={"name": f"Gadget {rnd}", "price": 4999 + rnd, "stock": 20})
    gizmo = admin.call("POST", "/products", 201, json={"name": f"Gizmo {rnd}", "price": 300, "stock": 100})
    admin.call("GET", "/products/{product_id}", 200, product_id=widget["id"])
    admin.call("PATCH", "/products/{product_id}", 200, json={"stock": 30 + rnd}, product_id=gadget["id"])
    admin.call("GET", "/products", 200)
    for name in (alice, bob, carol):
        admin.call("POST", "/users", 201, json={"username": name, "password": password})
    users = admin.call("GET", "/users", 200)["users"]
    bob_id = next(u["id"] for u in users if u["username"] == bob)
    admin.call("PUT", "/groups/admins/members/{user_id}", 200, user_id=bob_id)
    admin.close()

    # Alice shops: one order paid and refunded once, one paid, one cancelled.
    shopper = client("alice-shopping")
    shopper.login(alice, password)  # she orders from the catalogue page the admin published
    first = shopper.call("POST", "/orders", 201, json={"product_id": widget["id"], "quantity": 2})
    shopper.call("GET", "/orders/{order_id}", 200, order_id=first["id"])
    shopper.call("POST", "/orders/{order_id}/pay", 200, json={"method": "card"}, order_id=first["id"])
    shopper.call("GET", "/orders/{order_id}", 200, order_id=first["id"])
    if not last:  # refunds are rare: most rounds have one, the last has none
        shopper.call("POST", "/orders/{order_id}/refund", 200, json={"reason": "arrived damaged"}, order_id=first["id"])
        shopper.call("GET", "/orders/{order_id}", 200, order_id=first["id"])
    second = shopper.call("POST", "/orders", 201, json={"product_id": gadget["id"], "quantity": 1})
    shopper.call("POST", "/orders/{order_id}/pay", 200, json={"method": "card"}, order_id=second["id"])
    third = shopper.call("POST", "/orders", 201, json={"product_id": gizmo["id"], "quantity": 3})
    shopper.call("POST", "/orders/{order_id}/cancel", 200, order_id=third["id"])
    shopper.call("GET", "/orders", 200)
    shopper.close()

    # Carol orders, changes her mind and deletes the order; she never reads or lists it again.
    member = client("carol-member")
    member.login(carol, password)
    member.call("GET", "/me", 200)
    member.call("GET", "/orders", 200)
    order = member.call("POST", "/orders", 201, json={"product_id": widget["id"], "quantity": 1})
    member.call("DELETE", "/orders/{order_id}", 204, order_id=order["id"])
    member.close()

    # Bob works as an admin, then steps down; his token is never used for an admin write again.
    helper = client("bob-admin")
    me = helper.login(bob, password)
    stall = helper.call("POST", "/products", 201, json={"name": f"Doohickey {rnd}", "price": 700, "stock": 5})
    helper.call("PATCH", "/products/{product_id}", 200, json={"price": 650}, product_id=stall["id"])
    order = helper.call("POST", "/orders", 201, json={"product_id": stall["id"], "quantity": 1})
    helper.call("POST", "/orders/{order_id}/pay", 200, json={"method": "invoice"}, order_id=order["id"])
    helper.call("GET", "/orders/{order_id}", 200, order_id=order["id"])
    helper.call("DELETE", "/groups/admins/members/{user_id}", 200, user_id=me["user_id"])
    helper.call("GET", "/me", 200)
    helper.call("GET", "/orders", 200)
    helper.close()

    if last:
        # A product is retired last of all: nobody lists or reads products after this.
        admin = client("admin-retire")
        admin.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        listed = admin.call("GET", "/products", 200)["products"]
        retired = next(p for p in listed if p["name"] == f"Gizmo {rnd}")
        admin.call("DELETE", "/products/{product_id}", 204, product_id=retired["id"])
        admin.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m venom_replay.replay.demo.traffic URL [--rounds N]``: play the traffic once."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m venom_replay.replay.demo.traffic")
    parser.add_argument("url", help="base URL of the shop, or of the recording proxy in front of it")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        summary = run_traffic(args.url, rounds=args.rounds)
    except (TrafficError, requests.RequestException) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"{summary.requests} requests in {len(summary.sessions)} sessions over {len(summary.endpoints)} endpoints")


if __name__ == "__main__":
    main()
