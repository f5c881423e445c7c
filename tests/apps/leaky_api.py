"""A small user API on SQLite whose duplicate-create error can leak the failed INSERT.

Environment: ``LEAKY_DB`` (sqlite:///path); ``LEAKY_ERRORS=1`` plants the leak, unset is the correct twin.

    POST   /users {username, password}   -> 201 {id, username}; a taken name: see below
    GET    /users/{username}             -> {id, username}
    PATCH  /users/{username} {password}  -> {id, username}
    DELETE /users/{username}             -> 204

A second create of a taken name: the planted app answers 400 with the database error as it came,
the failed statement and its parameters among it, the new password hash included (what MLflow's
basic-auth app answered, through SQLAlchemy); the twin answers a plain 409.
"""

from __future__ import annotations

import os
import sqlite3

from flask import Flask, jsonify, request
from werkzeug.security import generate_password_hash

from apps.sqlite_db import sqlite_opener

SCHEMA = ("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE, "
          "password_hash TEXT NOT NULL)")
INSERT = "INSERT INTO users (username, password_hash) VALUES (?, ?)"


def create_app() -> Flask:
    leaky = os.environ.get("LEAKY_ERRORS") == "1"
    path = os.environ["LEAKY_DB"][len("sqlite:///"):]
    app = Flask(__name__)

    db = sqlite_opener(path, [SCHEMA])

    def user_json(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "username": row["username"]}

    def load(conn: sqlite3.Connection, username: str) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()

    @app.post("/users")
    def create_user():
        data = request.get_json(force=True)
        params = (data["username"], generate_password_hash(data["password"]))
        try:
            with db() as conn:
                conn.execute(INSERT, params)
                row = load(conn, data["username"])
        except sqlite3.IntegrityError as exc:
            if leaky:  # BUG: the database error goes out as it came, statement and parameters included
                message = (f"User (username={data['username']}) already exists. Error: (sqlite3.IntegrityError) {exc}\n"
                           f"[SQL: {INSERT}]\n[parameters: {params!r}]")
                return jsonify({"error_code": "RESOURCE_ALREADY_EXISTS", "message": message}), 400
            return jsonify({"error": f"user {data['username']} already exists"}), 409
        return jsonify(user_json(row)), 201

    @app.get("/users/<username>")
    def get_user(username: str):
        with db() as conn:
            row = load(conn, username)
        return jsonify(user_json(row)) if row is not None else (jsonify({"error": "no such user"}), 404)

    @app.patch("/users/<username>")
    def change_password(username: str):
        data = request.get_json(force=True)
        with db() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                         (generate_password_hash(data["password"]), username))
            row = load(conn, username)
        return jsonify(user_json(row)) if row is not None else (jsonify({"error": "no such user"}), 404)

    @app.delete("/users/<username>")
    def delete_user(username: str):
        with db() as conn:
            gone = conn.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount
        return ("", 204) if gone else (jsonify({"error": "no such user"}), 404)

    return app
