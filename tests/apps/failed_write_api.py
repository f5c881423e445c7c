"""A small notes API on SQLite whose refused create can still write, and its correct twin.

Environment: ``NOTES_DB`` (sqlite:///path); ``NOTES_BUGS=1`` plants the bug, unset is the correct twin;
``NOTES_ACCESS_LOG=1`` makes every request about notes (reads too) add a row to ``access_log``, as
servers that log each access do: a refused call then changes the database without having written.

    POST /login {username, password}   -> 200 {token}; a wrong password: 401, and the attempt is logged
    POST /notes {title, priority}      -> 201 {id, title, priority}   (priority: 1 to 5)
    GET  /notes                        -> {items: [...]}
    GET  /notes/{id}                   -> note

Planted: ``POST /notes`` inserts the row first and checks ``priority`` afterwards, answering 400 with
the row left in place. The twin checks first. Both log failed log-ins (a 401 that writes by design).
"""

from __future__ import annotations

import os
import sqlite3

from flask import Flask, jsonify, request

from apps.sqlite_db import sqlite_opener

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, priority INTEGER)",
    "CREATE TABLE IF NOT EXISTS login_attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT)",
    "CREATE TABLE IF NOT EXISTS access_log (id INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT, path TEXT)",
)
PASSWORDS = {"ann": "ann-secret"}


def valid_priority(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


def create_app() -> Flask:
    planted = os.environ.get("NOTES_BUGS") == "1"
    access_log = os.environ.get("NOTES_ACCESS_LOG") == "1"
    path = os.environ["NOTES_DB"][len("sqlite:///"):]
    app = Flask(__name__)

    db = sqlite_opener(path, SCHEMA)

    @app.before_request
    def log_access() -> None:
        if access_log and request.path.startswith("/notes"):
            with db() as conn:
                conn.execute("INSERT INTO access_log (method, path) VALUES (?, ?)", (request.method, request.path))

    def note_json(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "title": row["title"], "priority": row["priority"]}

    @app.post("/login")
    def login():
        data = request.get_json(silent=True) or {}
        if PASSWORDS.get(data.get("username")) != data.get("password"):
            with db() as conn:
                conn.execute("INSERT INTO login_attempts (username) VALUES (?)", (str(data.get("username")),))
            return jsonify({"error": "wrong user name or password"}), 401
        return jsonify({"token": "t-" + data["username"]})

    @app.post("/notes")
    def create_note():
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            return jsonify({"error": "title must be a string"}), 400
        priority = data.get("priority")
        if not planted and not valid_priority(priority):
            return jsonify({"error": "priority must be 1 to 5"}), 400
        with db() as conn:
            row = conn.execute("INSERT INTO notes (title, priority) VALUES (?, ?) RETURNING *",
                               (data["title"], priority if isinstance(priority, int) and abs(priority) < 2**31 else None)
                               ).fetchone()
        if not valid_priority(priority):  # planted: checked after the insert, which stays
            return jsonify({"error": "priority must be 1 to 5"}), 400
        return jsonify(note_json(row)), 201

    @app.get("/notes")
    def list_notes():
        with db() as conn:
            rows = conn.execute("SELECT * FROM notes ORDER BY id").fetchall()
        return jsonify({"items": [note_json(r) for r in rows]})

    @app.get("/notes/<int:note_id>")
    def get_note(note_id: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM notes WHERE id = ?", (note_id,)).fetchone()
        if row is None:
            return jsonify({"error": "not found"}), 404
        return jsonify(note_json(row))

    return app
