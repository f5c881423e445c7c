"""A small orders API with one planted sequence bug per explorer checker, and its correct twin.

Environment: ``ORDERS_DB`` (postgresql://... or sqlite:///path), ``ORDERS_FIXED=1`` for the correct
twin, ``ORDERS_REDIS`` (redis://...) to cache order reads in Redis beside the database, and
``ORDERS_MEMO=1`` to number receipts from an in-process counter (state no rollback can reach).

    POST   /login {username}             -> {token, user_id, role}   (bob, root: admins; carol: member)
    DELETE /admins/{user_id}   (admin)   demote to member (stepping down included)
    PUT    /admins/{user_id}   (admin)   promote
    PUT    /settings           (admin)   {banner} -> settings
    POST   /orders {item, qty}           -> 201 order
    GET    /orders                       {"orders": [...]}
    GET    /orders/{id}
    POST   /orders/{id}/ship             pending -> shipped
    POST   /orders/{id}/cancel           pending -> cancelled
    DELETE /orders/{id}                  204 (soft delete)

Planted bugs (ORDERS_FIXED unset), each two or three calls deep:
- server error: shipping a cancelled order crashes (500);
- shape: a cancelled order's ``total`` is answered as a string;
- use after delete: ``GET /orders/{id}`` still answers a deleted order;
- deleted still listed: ``GET /orders`` keeps deleted orders;
- repeated success: shipping twice succeeds twice (and books two shipments: a SQL invariant's bug);
- access after revoke: a token keeps the role it had at login.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import sqlite3
from contextlib import contextmanager

from flask import Flask, jsonify, request

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, role TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL, role_at_login TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS settings (id INTEGER PRIMARY KEY, banner TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shipments (id {serial} PRIMARY KEY, order_id INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders (id {serial} PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL, "
    "total INTEGER NOT NULL, status TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)",
]
SEED = [
    ("INSERT INTO users (id, username, role) VALUES (1, 'bob', 'admin') ON CONFLICT DO NOTHING", ()),
    ("INSERT INTO users (id, username, role) VALUES (2, 'carol', 'member') ON CONFLICT DO NOTHING", ()),
    ("INSERT INTO users (id, username, role) VALUES (3, 'root', 'admin') ON CONFLICT DO NOTHING", ()),
    ("INSERT INTO settings (id, banner) VALUES (1, 'welcome') ON CONFLICT DO NOTHING", ()),
]
PRICE = 250


class Store:
    """SQL on PostgreSQL or SQLite with ``?`` placeholders; one connection per request, as simple apps do."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith(("postgresql://", "postgres://"))
        with self.conn() as c:
            for stmt in SCHEMA:
                c.execute(stmt.format(serial="SERIAL" if self.pg else "INTEGER"))
            for stmt, args in SEED:
                c.execute(stmt, args)

    @contextmanager
    def conn(self):
        if self.pg:
            import psycopg
            from psycopg.rows import dict_row

            conn = psycopg.connect(self.url, row_factory=dict_row)
            wrapped = _PgConn(conn)
        else:
            conn = sqlite3.connect(self.url[len("sqlite:///"):], timeout=10)
            conn.row_factory = sqlite3.Row
            wrapped = conn
        try:
            yield wrapped
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()


class _PgConn:
    def __init__(self, conn) -> None:
        self.conn = conn

    def execute(self, sql: str, args=()):
        return self.conn.execute(sql.replace("?", "%s"), args)


def _row(cur) -> dict | None:
    row = cur.fetchone()
    return None if row is None else dict(row)


def create_app() -> Flask:
    fixed = os.environ.get("ORDERS_FIXED") == "1"
    store = Store(os.environ["ORDERS_DB"])
    cache = None
    if os.environ.get("ORDERS_REDIS"):
        import redis

        cache = redis.Redis.from_url(os.environ["ORDERS_REDIS"])
    receipts = itertools.count(1)
    memo = os.environ.get("ORDERS_MEMO") == "1"
    app = Flask(__name__)

    def order_json(row: dict) -> dict:
        total = row["total"]
        if row["status"] == "cancelled" and not fixed:
            total = f"{total / 100:.2f}"  # BUG (shape): cancelled orders answer the total as text
        return {"id": row["id"], "item": row["item"], "qty": row["qty"], "total": total, "status": row["status"]}

    def caller(db) -> dict | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        return _row(db.execute("SELECT u.id, u.role, t.role_at_login FROM tokens t JOIN users u ON u.id = t.user_id "
                               "WHERE t.token = ?", (auth[7:],)))

    def is_admin(db) -> bool:
        user = caller(db)
        if user is None:
            return False
        return (user["role"] if fixed else user["role_at_login"]) == "admin"  # BUG (access after revoke)

    def load(db, order_id: int, *, include_deleted: bool = False) -> dict | None:
        row = _row(db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)))
        if row is None or (row["deleted"] and not include_deleted):
            return None
        return row

    def forget(order_id: int) -> None:
        if cache is not None:
            cache.delete(f"order:{order_id}")
            cache.delete("orders")

    @app.post("/login")
    def login():
        name = (request.get_json(silent=True) or {}).get("username")
        with store.conn() as db:
            user = _row(db.execute("SELECT * FROM users WHERE username = ?", (name,)))
            if user is None:
                return jsonify({"error": "unknown user"}), 401
            token = secrets.token_hex(16)
            db.execute("INSERT INTO tokens (token, user_id, role_at_login) VALUES (?, ?, ?)", (token, user["id"], user["role"]))
        return jsonify({"token": token, "user_id": user["id"], "role": user["role"]})

    def set_role(user_id: int, role: str):
        with store.conn() as db:
            if not is_admin(db):
                return jsonify({"error": "admins only"}), 403
            user = _row(db.execute("SELECT * FROM users WHERE id = ?", (user_id,)))
            if user is None:
                return jsonify({"error": "no such user"}), 404
            db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user_id))
        return jsonify({"user_id": user_id, "role": role})

    @app.delete("/admins/<int:user_id>")
    def demote(user_id: int):
        return set_role(user_id, "member")

    @app.put("/admins/<int:user_id>")
    def promote(user_id: int):
        return set_role(user_id, "admin")

    @app.put("/settings")
    def settings():
        banner = str((request.get_json(silent=True) or {}).get("banner", ""))
        with store.conn() as db:
            if not is_admin(db):
                return jsonify({"error": "admins only"}), 403
            db.execute("UPDATE settings SET banner = ? WHERE id = 1", (banner,))
        return jsonify({"banner": banner})

    @app.post("/orders")
    def create_order():
        data = request.get_json(silent=True) or {}
        item, qty = str(data.get("item", "")), data.get("qty", 1)
        if not item or not isinstance(qty, int) or qty < 1:
            return jsonify({"error": "item and qty >= 1 are required"}), 400
        with store.conn() as db:
            row = _row(db.execute("INSERT INTO orders (item, qty, total, status) VALUES (?, ?, ?, 'pending') RETURNING *",
                                  (item, qty, qty * PRICE)))
        forget(row["id"])
        body = order_json(row)
        if memo:
            body["receipt"] = next(receipts)  # lives in this process only: no rollback reaches it
        return jsonify(body), 201, {"Location": f"/orders/{row['id']}"}

    @app.get("/orders")
    def list_orders():
        if cache is not None and (hit := cache.get("orders")) is not None:
            return jsonify(json.loads(hit))
        with store.conn() as db:
            where = " WHERE deleted = 0" if fixed else ""  # BUG (deleted still listed)
            rows = [dict(r) for r in db.execute(f"SELECT * FROM orders{where} ORDER BY id").fetchall()]
        body = {"orders": [order_json(r) for r in rows]}
        if cache is not None:
            cache.set("orders", json.dumps(body))
        return jsonify(body)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int):
        if cache is not None and (hit := cache.get(f"order:{order_id}")) is not None:
            return jsonify(json.loads(hit))
        with store.conn() as db:
            row = load(db, order_id, include_deleted=not fixed)  # BUG (use after delete)
        if row is None:
            return jsonify({"error": "not found"}), 404
        body = order_json(row)
        if cache is not None:
            cache.set(f"order:{order_id}", json.dumps(body))
        return jsonify(body)

    @app.post("/orders/<int:order_id>/ship")
    def ship(order_id: int):
        with store.conn() as db:
            row = load(db, order_id)
            if row is None:
                return jsonify({"error": "not found"}), 404
            allowed = ("pending",) if fixed else ("pending", "shipped")  # BUG (repeated success)
            if row["status"] == "cancelled" and not fixed:
                raise RuntimeError("cannot ship a cancelled order")  # BUG (server error): unhandled
            if row["status"] not in allowed:
                return jsonify({"error": f"order is {row['status']}"}), 409
            row = _row(db.execute("UPDATE orders SET status = 'shipped' WHERE id = ? RETURNING *", (order_id,)))
            db.execute("INSERT INTO shipments (order_id) VALUES (?)", (order_id,))
        forget(order_id)
        return jsonify(order_json(row))

    @app.post("/orders/<int:order_id>/cancel")
    def cancel(order_id: int):
        with store.conn() as db:
            row = load(db, order_id)
            if row is None:
                return jsonify({"error": "not found"}), 404
            if row["status"] != "pending":
                return jsonify({"error": f"order is {row['status']}"}), 409
            row = _row(db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ? RETURNING *", (order_id,)))
        forget(order_id)
        return jsonify(order_json(row))

    @app.delete("/orders/<int:order_id>")
    def delete(order_id: int):
        with store.conn() as db:
            if load(db, order_id) is None:
                return jsonify({"error": "not found"}), 404
            db.execute("UPDATE orders SET deleted = 1 WHERE id = ?", (order_id,))
        forget(order_id)
        return "", 204

    return app
