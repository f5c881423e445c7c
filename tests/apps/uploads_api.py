"""An uploads API: file contents in a directory, their records in SQLite, as many services keep them.

Environment: ``UPLOADS_DB`` (sqlite:///path) and ``UPLOADS_DIR`` (the folder the files go to).

    POST   /files {name, content}   -> 201 {id, name, size}; writes UPLOADS_DIR/<id>/<name> and a row
    GET    /files                   -> {items: [...]}; 500 when the folder holds an upload without a row
    GET    /files/{id}              -> {id, name, content}, read from the disk
    PUT    /files/{id} {content}    -> rewrites the file and the row's size
    DELETE /files/{id}              -> 204; removes the row and the file's folder

``GET /files`` cross-checks the folder with the table, as a consistency endpoint would: an upload
folder that no row describes (left behind when only the database was rolled back) is a 500.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, jsonify, request

SCHEMA = "CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, size INTEGER)"


def create_app() -> Flask:
    db_path = os.environ["UPLOADS_DB"][len("sqlite:///"):]
    folder = os.environ["UPLOADS_DIR"]

    @contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(db_path, timeout=30)  # one connection per request, as a pool would hand out
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    with connect() as conn:
        conn.execute(SCHEMA)

    def file_path(file_id: int, name: str) -> str:
        return os.path.join(folder, str(file_id), name)

    def write(path: str, content: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)

    app = Flask(__name__)

    @app.post("/files")
    def upload():
        data = request.get_json(force=True, silent=True) or {}
        name, content = data.get("name"), data.get("content")
        if not isinstance(name, str) or not name.isidentifier() or not isinstance(content, str):
            return jsonify({"error": "name (letters, digits, _) and content are required"}), 400
        with connect() as conn:
            file_id = conn.execute("INSERT INTO files (name, size) VALUES (?, ?)", (name, len(content))).lastrowid
        write(file_path(file_id, name), content)
        return jsonify({"id": file_id, "name": name, "size": len(content)}), 201

    @app.get("/files")
    def list_files():
        with connect() as conn:
            rows = conn.execute("SELECT id, name, size FROM files ORDER BY id").fetchall()
        described = {str(row[0]) for row in rows}
        orphans = sorted(set(os.listdir(folder)) - described)
        if orphans:
            return jsonify({"error": f"upload folders without a record: {orphans}"}), 500
        return jsonify({"items": [{"id": i, "name": n, "size": s} for i, n, s in rows]})

    def row(file_id: int) -> tuple | None:
        with connect() as conn:
            return conn.execute("SELECT id, name, size FROM files WHERE id = ?", (file_id,)).fetchone()

    @app.get("/files/<int:file_id>")
    def read(file_id: int):
        found = row(file_id)
        if found is None:
            return jsonify({"error": "not found"}), 404
        with open(file_path(file_id, found[1]), encoding="utf-8") as handle:
            content = handle.read()
        return jsonify({"id": file_id, "name": found[1], "content": content})

    @app.put("/files/<int:file_id>")
    def rewrite(file_id: int):
        found = row(file_id)
        if found is None:
            return jsonify({"error": "not found"}), 404
        content = (request.get_json(force=True, silent=True) or {}).get("content")
        if not isinstance(content, str):
            return jsonify({"error": "content is required"}), 400
        with connect() as conn:
            conn.execute("UPDATE files SET size = ? WHERE id = ?", (len(content), file_id))
        write(file_path(file_id, found[1]), content)
        return jsonify({"id": file_id, "name": found[1], "size": len(content)})

    @app.delete("/files/<int:file_id>")
    def delete(file_id: int):
        with connect() as conn:
            deleted = conn.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount
        if not deleted:
            return jsonify({"error": "not found"}), 404
        shutil.rmtree(os.path.join(folder, str(file_id)), ignore_errors=True)
        return "", 204

    return app
