"""Four small SQLite-backed JSON APIs whose planted bugs only a learned relation catches, and their
correct twins (same code with ``LEARNED_BUGGY=0``).

Each bug hides in an ordering the happy-path traffic never takes:
- orders:   a refund is checked against the order amount alone, so two partial refunds make
            ``refunded > amount``;
- quota:    a consumption is checked against the quota alone, so two of them make ``used > quota``;
- stock:    a purchase is checked against the initial stock, so two of them make ``stock < 0``;
- notes:    the list query keeps deleted notes that were edited before they were deleted.

Environment: ``LEARNED_DB`` (SQLite file, created if missing), ``LEARNED_BUGGY`` ("1" plants the bug).
Factories: ``orders_app``, ``quota_app``, ``stock_app``, ``notes_app``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, jsonify, request


def _buggy() -> bool:
    return os.environ.get("LEARNED_BUGGY", "0") == "1"


def _database(schema: str) -> Callable[[], Any]:
    path = os.environ["LEARNED_DB"]
    with sqlite3.connect(path) as conn:
        conn.executescript(schema)

    @contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        # One connection per request, as a pooled API would; BEGIN IMMEDIATE serialises the
        # read-modify-write of a refund or purchase.
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    return connect


def _body() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else {}


def _not_found():
    return jsonify({"error": "not found"}), 404


def _conflict(message: str):
    return jsonify({"error": message}), 409


# ---------------------------------------------------------------- orders: over-refund


def orders_app() -> Flask:
    app = Flask(__name__)
    db = _database("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, refunded INTEGER NOT NULL DEFAULT 0)")
    buggy = _buggy()

    def show(row: sqlite3.Row) -> dict[str, Any]:
        status = "refunded" if row["refunded"] >= row["amount"] else "paid"
        return {"id": row["id"], "amount": row["amount"], "refunded": row["refunded"], "status": status}

    @app.post("/orders")
    def create():
        amount = int(_body().get("amount", 0))
        with db() as conn:
            oid = conn.execute("INSERT INTO orders (amount) VALUES (?)", (amount,)).lastrowid
            row = conn.execute("SELECT * FROM orders WHERE id = ?", (oid,)).fetchone()
        return jsonify(show(row)), 201, {"Location": f"/orders/{oid}"}

    @app.get("/orders")
    def listing():
        with db() as conn:
            return jsonify({"orders": [show(r) for r in conn.execute("SELECT * FROM orders ORDER BY id")]})

    @app.get("/orders/<int:oid>")
    def read(oid: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM orders WHERE id = ?", (oid,)).fetchone()
        return jsonify(show(row)) if row else _not_found()

    @app.post("/orders/<int:oid>/refund")
    def refund(oid: int):
        amount = int(_body().get("amount", 0))
        with db() as conn:
            row = conn.execute("SELECT * FROM orders WHERE id = ?", (oid,)).fetchone()
            if row is None:
                return _not_found()
            limit = row["amount"] if buggy else row["amount"] - row["refunded"]  # the bug: forgets earlier refunds
            if amount <= 0 or amount > limit:
                return _conflict("refund exceeds what is left of the order")
            conn.execute("UPDATE orders SET refunded = refunded + ? WHERE id = ?", (amount, oid))
            row = conn.execute("SELECT * FROM orders WHERE id = ?", (oid,)).fetchone()
        return jsonify(show(row))

    return app


# ---------------------------------------------------------------- quota: used > quota


def quota_app() -> Flask:
    app = Flask(__name__)
    db = _database("CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, quota INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0)")
    buggy = _buggy()

    def show(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "quota": row["quota"], "used": row["used"]}

    @app.post("/accounts")
    def create():
        quota = int(_body().get("quota", 0))
        with db() as conn:
            aid = conn.execute("INSERT INTO accounts (quota) VALUES (?)", (quota,)).lastrowid
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (aid,)).fetchone()
        return jsonify(show(row)), 201

    @app.get("/accounts/<int:aid>")
    def read(aid: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (aid,)).fetchone()
        return jsonify(show(row)) if row else _not_found()

    @app.post("/accounts/<int:aid>/consume")
    def consume(aid: int):
        units = int(_body().get("units", 0))
        with db() as conn:
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (aid,)).fetchone()
            if row is None:
                return _not_found()
            over = units > row["quota"] if buggy else row["used"] + units > row["quota"]  # the bug: ignores usage
            if units <= 0 or over:
                return _conflict("quota exceeded")
            conn.execute("UPDATE accounts SET used = used + ? WHERE id = ?", (units, aid))
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (aid,)).fetchone()
        return jsonify(show(row))

    return app


# ---------------------------------------------------------------- stock: negative stock


def stock_app() -> Flask:
    app = Flask(__name__)
    db = _database(
        "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL,"
        " initial INTEGER NOT NULL, stock INTEGER NOT NULL)"
    )
    buggy = _buggy()

    def show(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "price": row["price"], "stock": row["stock"]}

    @app.post("/products")
    def create():
        data = _body()
        stock = int(data.get("stock", 0))
        with db() as conn:
            pid = conn.execute(
                "INSERT INTO products (name, price, initial, stock) VALUES (?, ?, ?, ?)",
                (str(data.get("name", "")), int(data.get("price", 0)), stock, stock),
            ).lastrowid
            row = conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
        return jsonify(show(row)), 201

    @app.get("/products/<int:pid>")
    def read(pid: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
        return jsonify(show(row)) if row else _not_found()

    @app.post("/products/<int:pid>/purchase")
    def purchase(pid: int):
        qty = int(_body().get("qty", 0))
        with db() as conn:
            row = conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
            if row is None:
                return _not_found()
            available = row["initial"] if buggy else row["stock"]  # the bug: checks the initial stock
            if qty <= 0 or qty > available:
                return _conflict("not enough stock")
            conn.execute("UPDATE products SET stock = stock - ? WHERE id = ?", (qty, pid))
            row = conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
        return jsonify(show(row))

    return app


# ---------------------------------------------------------------- notes: deleted notes still listed


def notes_app() -> Flask:
    app = Flask(__name__)
    db = _database(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, edited INTEGER NOT NULL DEFAULT 0,"
        " deleted INTEGER NOT NULL DEFAULT 0)"
    )
    # The bug: an OR without parentheses lets edited notes through whether deleted or not.
    listing_sql = (
        "SELECT * FROM notes WHERE deleted = 0 OR edited = 1 ORDER BY id"
        if _buggy()
        else "SELECT * FROM notes WHERE deleted = 0 ORDER BY id"
    )

    def show(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "text": row["text"], "edited": bool(row["edited"])}

    @app.post("/notes")
    def create():
        text = str(_body().get("text", ""))
        with db() as conn:
            nid = conn.execute("INSERT INTO notes (text) VALUES (?)", (text,)).lastrowid
            row = conn.execute("SELECT * FROM notes WHERE id = ?", (nid,)).fetchone()
        return jsonify(show(row)), 201

    @app.get("/notes")
    def listing():
        with db() as conn:
            return jsonify([show(r) for r in conn.execute(listing_sql)])

    def live(conn: sqlite3.Connection, nid: int) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM notes WHERE id = ? AND deleted = 0", (nid,)).fetchone()

    @app.get("/notes/<int:nid>")
    def read(nid: int):
        with db() as conn:
            row = live(conn, nid)
        return jsonify(show(row)) if row else _not_found()

    @app.put("/notes/<int:nid>")
    def update(nid: int):
        text = str(_body().get("text", ""))
        with db() as conn:
            if live(conn, nid) is None:
                return _not_found()
            conn.execute("UPDATE notes SET text = ?, edited = 1 WHERE id = ?", (text, nid))
            row = live(conn, nid)
        return jsonify(show(row))

    @app.delete("/notes/<int:nid>")
    def delete(nid: int):
        with db() as conn:
            if live(conn, nid) is None:
                return _not_found()
            conn.execute("UPDATE notes SET deleted = 1 WHERE id = ?", (nid,))
        return "", 204

    return app


# ---------------------------------------------------------------- happy-path traffic


def _client(base_url: str, session: str):
    import requests

    http = requests.Session()
    http.headers["X-Venom-Session"] = session
    base = base_url.rstrip("/")

    def call(method: str, path: str, json: Any = None, expect: int | None = None) -> Any:
        resp = http.request(method, base + path, json=json, timeout=10)
        if expect is not None and resp.status_code != expect:
            raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    return call


def orders_traffic(base_url: str) -> None:
    """One customer per order: create, read, refund (at most once, never past the amount), read, list."""
    for n, (amount, refunds) in enumerate([(100, [60]), (40, [40]), (250, [100]), (80, [30]), (60, []), (120, [120]), (90, [50])]):
        call = _client(base_url, f"customer-{n}")
        oid = call("POST", "/orders", {"amount": amount}, 201)["id"]
        call("GET", f"/orders/{oid}", expect=200)
        for r in refunds:
            call("POST", f"/orders/{oid}/refund", {"amount": r}, 200)
        call("GET", f"/orders/{oid}", expect=200)
        call("GET", "/orders", expect=200)


def quota_traffic(base_url: str) -> None:
    for n, (quota, uses) in enumerate([(10, [7]), (5, [5]), (20, [4]), (8, [8]), (12, [3]), (6, [6]), (15, [9])]):
        call = _client(base_url, f"tenant-{n}")
        aid = call("POST", "/accounts", {"quota": quota}, 201)["id"]
        call("GET", f"/accounts/{aid}", expect=200)
        for units in uses:
            call("POST", f"/accounts/{aid}/consume", {"units": units}, 200)
        call("GET", f"/accounts/{aid}", expect=200)


def stock_traffic(base_url: str) -> None:
    products = [("pen", 3, 10, [6]), ("cup", 8, 5, [5]), ("hat", 20, 7, [2]), ("mug", 6, 12, [9]), ("bag", 30, 4, [1]), ("box", 2, 6, [6])]
    for n, (name, price, stock, buys) in enumerate(products):
        call = _client(base_url, f"shopper-{n}")
        pid = call("POST", "/products", {"name": name, "price": price, "stock": stock}, 201)["id"]
        call("GET", f"/products/{pid}", expect=200)
        for qty in buys:
            call("POST", f"/products/{pid}/purchase", {"qty": qty}, 200)
        call("GET", f"/products/{pid}", expect=200)


def notes_traffic(base_url: str) -> None:
    """Notes are created, listed, read, edited and deleted, but an edited note is never deleted."""
    for n, texts in enumerate([("groceries",), ("call mum", "dentist"), ("taxes", "plants"), ("gym", "books")]):
        call = _client(base_url, f"writer-{n}")
        ids = [call("POST", "/notes", {"text": t}, 201)["id"] for t in texts]
        call("GET", "/notes", expect=200)
        call("GET", f"/notes/{ids[0]}", expect=200)
        if n % 2 == 0:
            call("DELETE", f"/notes/{ids[0]}", expect=204)
            call("GET", "/notes", expect=200)
            call("GET", f"/notes/{ids[0]}", expect=404)
        else:
            call("PUT", f"/notes/{ids[-1]}", {"text": texts[-1] + " (edited)"}, 200)
            call("GET", f"/notes/{ids[-1]}", expect=200)
            call("GET", "/notes", expect=200)
        if len(ids) > 1 and n % 2 == 0:
            call("DELETE", f"/notes/{ids[1]}", expect=204)
            call("GET", "/notes", expect=200)


APIS = {
    "orders": ("apps.learned_apis:orders_app", orders_traffic),
    "quota": ("apps.learned_apis:quota_app", quota_traffic),
    "stock": ("apps.learned_apis:stock_app", stock_traffic),
    "notes": ("apps.learned_apis:notes_app", notes_traffic),
}
