"""A small JSON CRUD API with numeric ids, kept in memory: the recording tests' target."""

from __future__ import annotations

import itertools
import time
import uuid

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    items: dict[int, dict] = {}
    ids = itertools.count(1)

    @app.post("/items")
    def create_item():
        data = request.get_json(force=True, silent=True) or {}
        item_id = next(ids)
        items[item_id] = {"id": item_id, "name": data.get("name", ""), "price": data.get("price", 0)}
        resp = jsonify(items[item_id])
        resp.status_code = 201
        resp.headers["Location"] = f"/items/{item_id}"
        return resp

    @app.get("/items")
    def list_items():
        return jsonify({"items": list(items.values()), "generated_at": time.time()})

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int):
        if item_id not in items:
            return jsonify({"error": "not found"}), 404
        resp = jsonify(items[item_id])
        resp.headers["X-Request-Id"] = str(uuid.uuid4())
        return resp

    @app.put("/items/<int:item_id>")
    def update_item(item_id: int):
        if item_id not in items:
            return jsonify({"error": "not found"}), 404
        items[item_id].update(request.get_json(force=True, silent=True) or {})
        items[item_id]["id"] = item_id
        return jsonify(items[item_id])

    @app.delete("/items/<int:item_id>")
    def delete_item(item_id: int):
        if items.pop(item_id, None) is None:
            return jsonify({"error": "not found"}), 404
        return "", 204

    @app.get("/big")
    def big():
        return jsonify({"blob": "x" * int(request.args.get("size", "100000"))})

    @app.get("/binary")
    def binary():
        return bytes(range(256)) * 4, 200, {"Content-Type": "application/octet-stream"}

    @app.get("/health")
    def health():
        return jsonify({"ok": True})

    return app
