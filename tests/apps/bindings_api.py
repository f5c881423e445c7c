"""A test API whose value flows are known exactly: every way a real API hands ids and tokens around.

- numeric-id CRUD: ``POST /items`` -> ``{"id": n}``; ``GET|PUT|DELETE /items/<n>``
- UUIDs: ``POST /notes`` -> ``{"note": {"uuid": ...}}``; ``GET|DELETE /notes/<uuid>``
- login then bearer token: ``POST /login`` -> ``{"access_token": ...}`` (+ ``sid`` cookie); ``GET /me``
  needs ``Authorization: Bearer <token>``; ``GET /prefs`` needs the cookie
- Location-header create and ETag/If-Match: ``POST /docs`` -> 201 with only ``Location: /docs/<n>``;
  ``GET /docs/<n>`` -> ETag; ``PUT /docs/<n>`` needs ``If-Match`` with the current ETag (else 412)
- nested resources: ``POST /users`` -> ``{"id"}``; ``POST /users/<uid>/orders`` -> ``{"order_id"}``;
  ``GET /users/<uid>/orders/<oid>``; ``POST /users/<uid>/orders/<oid>/refund``
- form posts: ``POST /cart`` (form ``item=<id>&qty=<n>``) -> ``{"cart_id": "cart-<hex>"}``; ``GET /carts/<cart_id>``
- noise: item reads carry ``fetched_at`` (a clock) and an ``X-Request-Id`` header (random).
- a trailing slash that matters: ``GET /api/`` answers, ``GET /api`` redirects (308), as Kinto's ``/v1/`` does.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import secrets
import uuid

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    items: dict[int, dict] = {}
    notes: dict[str, dict] = {}
    docs: dict[int, dict] = {}
    users: dict[int, dict] = {}
    orders: dict[int, dict] = {}
    carts: dict[str, dict] = {}
    tokens: dict[str, str] = {}
    cookies: dict[str, str] = {}
    item_ids = itertools.count(101)
    doc_ids = itertools.count(1)
    user_ids = itertools.count(501)
    order_ids = itertools.count(9001)

    def now() -> str:
        return datetime.datetime.now(datetime.timezone.utc).isoformat()

    @app.get("/api/")
    def api_root():
        return jsonify({"version": "1.0", "endpoints": ["/items", "/notes", "/docs"]})

    @app.post("/items")
    def create_item():
        data = request.get_json(force=True, silent=True) or {}
        item_id = next(item_ids)
        items[item_id] = {"id": item_id, "name": data.get("name", ""), "price": data.get("price", 0)}
        return jsonify(items[item_id]), 201

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int):
        if item_id not in items:
            return jsonify({"error": "not found"}), 404
        resp = jsonify({**items[item_id], "fetched_at": now()})
        resp.headers["X-Request-Id"] = str(uuid.uuid4())
        return resp

    @app.put("/items/<int:item_id>")
    def update_item(item_id: int):
        if item_id not in items:
            return jsonify({"error": "not found"}), 404
        data = request.get_json(force=True, silent=True) or {}
        items[item_id].update({k: v for k, v in data.items() if k in ("name", "price")})
        return jsonify(items[item_id])

    @app.delete("/items/<int:item_id>")
    def delete_item(item_id: int):
        if items.pop(item_id, None) is None:
            return jsonify({"error": "not found"}), 404
        return "", 204

    @app.post("/notes")
    def create_note():
        data = request.get_json(force=True, silent=True) or {}
        note_id = str(uuid.uuid4())
        notes[note_id] = {"uuid": note_id, "text": data.get("text", "")}
        return jsonify({"note": notes[note_id]}), 201

    @app.get("/notes/<note_id>")
    def get_note(note_id: str):
        if note_id not in notes:
            return jsonify({"error": "not found"}), 404
        return jsonify(notes[note_id])

    @app.delete("/notes/<note_id>")
    def delete_note(note_id: str):
        if notes.pop(note_id, None) is None:
            return jsonify({"error": "not found"}), 404
        return "", 204

    @app.post("/login")
    def login():
        data = request.get_json(force=True, silent=True) or {}
        user = str(data.get("username", ""))
        token = secrets.token_urlsafe(24)
        sid = secrets.token_hex(16)
        tokens[token] = user
        cookies[sid] = user
        resp = jsonify({"access_token": token, "token_type": "bearer"})
        resp.set_cookie("sid", sid)
        return resp

    @app.get("/me")
    def me():
        auth = request.headers.get("Authorization", "")
        user = tokens.get(auth.removeprefix("Bearer "))
        if user is None:
            return jsonify({"error": "unauthorized"}), 401
        return jsonify({"username": user})

    @app.get("/prefs")
    def prefs():
        user = cookies.get(request.cookies.get("sid", ""))
        if user is None:
            return jsonify({"error": "no session"}), 401
        return jsonify({"theme": "dark", "user": user})

    @app.post("/docs")
    def create_doc():
        data = request.get_json(force=True, silent=True) or {}
        doc_id = next(doc_ids)
        docs[doc_id] = {"title": data.get("title", ""), "version": 1}
        return "", 201, {"Location": f"/docs/{doc_id}"}

    def etag(doc_id: int) -> str:
        d = docs[doc_id]
        return '"' + hashlib.sha1(f"{doc_id}:{d['version']}:{d['title']}".encode()).hexdigest()[:16] + '"'

    @app.get("/docs/<int:doc_id>")
    def get_doc(doc_id: int):
        if doc_id not in docs:
            return jsonify({"error": "not found"}), 404
        return jsonify(docs[doc_id]), 200, {"ETag": etag(doc_id)}

    @app.put("/docs/<int:doc_id>")
    def put_doc(doc_id: int):
        if doc_id not in docs:
            return jsonify({"error": "not found"}), 404
        if request.headers.get("If-Match") != etag(doc_id):
            return jsonify({"error": "precondition failed"}), 412
        data = request.get_json(force=True, silent=True) or {}
        docs[doc_id] = {"title": data.get("title", ""), "version": docs[doc_id]["version"] + 1}
        return jsonify(docs[doc_id]), 200, {"ETag": etag(doc_id)}

    @app.post("/users")
    def create_user():
        data = request.get_json(force=True, silent=True) or {}
        user_id = next(user_ids)
        users[user_id] = {"id": user_id, "name": data.get("name", "")}
        return jsonify(users[user_id]), 201

    @app.post("/users/<int:user_id>/orders")
    def create_order(user_id: int):
        if user_id not in users:
            return jsonify({"error": "no such user"}), 404
        data = request.get_json(force=True, silent=True) or {}
        order_id = next(order_ids)
        orders[order_id] = {"order_id": order_id, "user_id": user_id, "amount": data.get("amount", 0), "refunded": False}
        return jsonify(orders[order_id]), 201

    @app.get("/users/<int:user_id>/orders/<int:order_id>")
    def get_order(user_id: int, order_id: int):
        order = orders.get(order_id)
        if order is None or order["user_id"] != user_id:
            return jsonify({"error": "not found"}), 404
        return jsonify(order)

    @app.post("/users/<int:user_id>/orders/<int:order_id>/refund")
    def refund(user_id: int, order_id: int):
        order = orders.get(order_id)
        if order is None or order["user_id"] != user_id:
            return jsonify({"error": "not found"}), 404
        order["refunded"] = True
        return jsonify(order)

    @app.post("/cart")
    def add_to_cart():
        item = request.form.get("item", "")
        if not item.isdigit() or int(item) not in items:
            return jsonify({"error": "no such item"}), 400
        cart_id = f"cart-{secrets.token_hex(6)}"
        carts[cart_id] = {"cart_id": cart_id, "item": int(item), "qty": int(request.form.get("qty", "1"))}
        return jsonify({"cart_id": cart_id}), 201

    @app.get("/carts/<cart_id>")
    def get_cart(cart_id: str):
        if cart_id not in carts:
            return jsonify({"error": "not found"}), 404
        return jsonify(carts[cart_id])

    return app
