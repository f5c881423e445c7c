"""A small JSON blog API on SQLite with five RESTler-style planted bugs, and its correct twin.

Environment: ``BLOG_DB`` (sqlite:///path); ``BLOG_BUGS=1`` plants the bugs, unset is the correct twin.

    POST   /posts {title, body, tags}           -> 201 {id, title, body, tags, checksum}
    GET    /posts?page=P&per_page=N             -> {items: [post...], page, per_page}
    GET    /posts/{id}                          -> post
    PUT    /posts/{id} {id, title, body, tags}  -> post
    DELETE /posts/{id}                          -> 204

``checksum`` is derived from the title and body: the answers show it, no request carries it.

Planted (the first four a 500):
- a PUT body without its ``id`` field (the handler reads ``data["id"]``);
- a list read with ``per_page`` above 100000 (the page is materialised before it is cut);
- a PUT that sends ``checksum`` back (the post is rebuilt from the body's keys);
- a read of a post that does not exist (never created, or deleted): the lookup assumes a row;
- a create whose ``tags`` are not a list of strings answers 400, but only after inserting the post,
  which stays (a refused call that wrote).
The twin validates each input first and answers 400 or 404 instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from typing import Any

from flask import Flask, jsonify, request

from apps.sqlite_db import sqlite_opener

SCHEMA = ("CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, "
          "body TEXT NOT NULL, tags TEXT NOT NULL)")
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


class BadRequest(Exception):
    pass


def checksum(title: str, body: str) -> str:
    return hashlib.sha1(f"{title}\0{body}".encode()).hexdigest()[:12]


def create_app() -> Flask:
    planted = os.environ.get("BLOG_BUGS") == "1"
    path = os.environ["BLOG_DB"][len("sqlite:///"):]
    app = Flask(__name__)

    db = sqlite_opener(path, [SCHEMA])

    def post_json(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "title": row["title"], "body": row["body"], "tags": json.loads(row["tags"]),
                "checksum": checksum(row["title"], row["body"])}

    def fields(data: Any) -> tuple[str, str, list[str]]:
        """The twin's validation of a post body."""
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        title, body, tags = data.get("title"), data.get("body"), data.get("tags", [])
        if not isinstance(title, str) or not isinstance(body, str):
            raise BadRequest("title and body must be strings")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadRequest("tags must be a list of strings")
        return title, body, tags

    def whole(name: str, default: int, high: int) -> int:
        text = request.args.get(name, str(default))
        if not text.isdigit() or not 1 <= int(text) <= high:
            raise BadRequest(f"{name} must be a whole number from 1 to {high}")
        return int(text)

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return jsonify({"error": str(exc)}), 400

    @app.post("/posts")
    def create_post():
        data = request.get_json(silent=True)
        if planted and isinstance(data, dict) and isinstance(data.get("title"), str) and isinstance(data.get("body"), str):
            with db() as conn:  # inserted first, the tags checked after: a refused create keeps its row
                row = conn.execute("INSERT INTO posts (title, body, tags) VALUES (?, ?, ?) RETURNING *",
                                   (data["title"], data["body"], json.dumps(data.get("tags", [])))).fetchone()
            fields(data)
            return jsonify(post_json(row)), 201
        title, body, tags = fields(data)
        with db() as conn:
            row = conn.execute("INSERT INTO posts (title, body, tags) VALUES (?, ?, ?) RETURNING *",
                               (title, body, json.dumps(tags))).fetchone()
            return jsonify(post_json(row)), 201

    @app.get("/posts")
    def list_posts():
        if planted:
            page, per_page = int(request.args.get("page", "1")), int(request.args.get("per_page", "10"))
            if per_page > 100_000:
                raise MemoryError("page buffer too large")  # the buffer is sized before the page is cut
            page, per_page = max(page, 1), max(per_page, 1)
        else:
            page, per_page = whole("page", 1, MAX_PAGE), whole("per_page", 10, MAX_PER_PAGE)
        with db() as conn:
            rows = conn.execute("SELECT * FROM posts ORDER BY id LIMIT ? OFFSET ?",
                                (per_page, (page - 1) * per_page)).fetchall()
        return jsonify({"items": [post_json(r) for r in rows], "page": page, "per_page": per_page})

    @app.get("/posts/<int:post_id>")
    def get_post(post_id: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()
        if row is None:
            if planted:
                raise LookupError(f"post {post_id}")  # assumes the row is there
            return jsonify({"error": "not found"}), 404
        return jsonify(post_json(row))

    @app.put("/posts/<int:post_id>")
    def update_post(post_id: int):
        data = request.get_json(silent=True)
        if planted:
            if data["id"] != post_id:  # a body without its id: KeyError
                raise BadRequest("id does not match the path")
            post = {"id": data["id"], "title": data["title"], "body": data["body"], "tags": data.get("tags", [])}
            if "checksum" in data:  # rebuilt from the body's keys: the read-only field breaks it
                post = _Post(**data).__dict__
            title, body, tags = post["title"], post["body"], post["tags"]
        else:
            title, body, tags = fields(data)
            if data.get("id", post_id) != post_id:
                raise BadRequest("id does not match the path")
        with db() as conn:
            row = conn.execute("UPDATE posts SET title = ?, body = ?, tags = ? WHERE id = ? RETURNING *",
                               (title, body, json.dumps(tags), post_id)).fetchone()
        if row is None:
            return jsonify({"error": "not found"}), 404
        return jsonify(post_json(row))

    @app.delete("/posts/<int:post_id>")
    def delete_post(post_id: int):
        with db() as conn:
            gone = conn.execute("DELETE FROM posts WHERE id = ?", (post_id,)).rowcount
        return ("", 204) if gone else (jsonify({"error": "not found"}), 404)

    return app


class _Post:
    """The planted app's post model: the fields a client may send, no more."""

    def __init__(self, id: int, title: str, body: str, tags: list[str]) -> None:  # the JSON field names
        self.id, self.title, self.body, self.tags = id, title, body, tags
