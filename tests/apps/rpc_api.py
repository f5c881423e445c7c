"""A small RPC-style projects API on SQLite: verbs in the path, ids in JSON bodies and query strings,
small integer ids from a sequence, soft deletes. The shape of MLflow's REST API, in 100 lines.

Environment: ``RPC_DB`` (sqlite:///path), ``RPC_FIXED=1`` for the correct twin.

    POST /api/projects/create {name}               -> {"project_id": "1"}
    GET  /api/projects/get?project_id=1            -> {"project": {project_id, name, lifecycle_stage}}
    POST /api/projects/search {view, page, max_results} -> {"projects": [...]}   (view: ACTIVE_ONLY or ALL)
    POST /api/projects/rename {project_id, name}
    POST /api/projects/delete {project_id}         soft delete: lifecycle_stage "deleted"
    POST /api/projects/restore {project_id}
    POST /api/tasks/create {project_id, title}     -> {"task": {task_id, project_id, title}}
    POST /api/permissions/grant {resource_type, resource_id, username}

Planted bugs (RPC_FIXED unset):
- deleted still listed: an ``ACTIVE_ONLY`` search keeps deleted projects (answered as active);
- use after delete: renaming a deleted project succeeds.
"""

from __future__ import annotations

import os
import sqlite3

from flask import Flask, jsonify, request

from apps.sqlite_db import sqlite_opener

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS projects (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
    "stage TEXT NOT NULL DEFAULT 'active')",
    "CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, title TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS grants (id INTEGER PRIMARY KEY AUTOINCREMENT, resource_type TEXT NOT NULL, "
    "resource_id TEXT NOT NULL, username TEXT NOT NULL)",
]


def create_app() -> Flask:
    fixed = os.environ.get("RPC_FIXED") == "1"
    path = os.environ["RPC_DB"][len("sqlite:///"):]
    app = Flask(__name__)

    db = sqlite_opener(path, SCHEMA)

    def project_json(row: sqlite3.Row, stage: str | None = None) -> dict:
        return {"project_id": str(row["id"]), "name": row["name"], "lifecycle_stage": stage or row["stage"]}

    def load(conn: sqlite3.Connection, project_id: object) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM projects WHERE id = ?", (str(project_id),)).fetchone()

    @app.post("/api/projects/create")
    def create():
        data = request.get_json(force=True)
        with db() as conn:
            cur = conn.execute("INSERT INTO projects (name) VALUES (?)", (data["name"],))
        return jsonify({"project_id": str(cur.lastrowid)})

    @app.get("/api/projects/get")
    def get():
        with db() as conn:
            row = load(conn, request.args.get("project_id"))
        if row is None:
            return jsonify({"error_code": "RESOURCE_DOES_NOT_EXIST"}), 404
        return jsonify({"project": project_json(row)})

    @app.post("/api/projects/search")
    def search():
        data = request.get_json(force=True)
        active_only = data.get("view", "ACTIVE_ONLY") == "ACTIVE_ONLY"
        limit, page = int(data.get("max_results", 100)), int(data.get("page", 1))
        where = " WHERE stage = 'active'" if active_only and fixed else ""
        with db() as conn:
            rows = conn.execute(f"SELECT * FROM projects{where} ORDER BY id LIMIT ? OFFSET ?",
                                (limit, (page - 1) * limit)).fetchall()
        # BUG (deleted still listed): the buggy twin lists deleted projects in active views, as active
        stage = "active" if active_only else None
        return jsonify({"projects": [project_json(r, stage) for r in rows], "page": page})

    def on_project(stage: str | None, change):
        """Load the body's project, refuse it unless in ``stage`` (None: any), answer what ``change`` returns."""
        data = request.get_json(force=True)
        with db() as conn:
            row = load(conn, data.get("project_id"))
            if row is None:
                return jsonify({"error_code": "RESOURCE_DOES_NOT_EXIST"}), 404
            if stage is not None and row["stage"] != stage:
                return jsonify({"error_code": "INVALID_STATE", "message": f"the project is not {stage}"}), 400
            return jsonify(change(conn, row, data))

    def set_stage(to: str):
        def change(conn: sqlite3.Connection, row: sqlite3.Row, data: dict) -> dict:
            conn.execute("UPDATE projects SET stage = ? WHERE id = ?", (to, row["id"]))
            return {}
        return change

    def rename(conn: sqlite3.Connection, row: sqlite3.Row, data: dict) -> dict:
        conn.execute("UPDATE projects SET name = ? WHERE id = ?", (data["name"], row["id"]))
        return {}

    def add_task(conn: sqlite3.Connection, row: sqlite3.Row, data: dict) -> dict:
        cur = conn.execute("INSERT INTO tasks (project_id, title) VALUES (?, ?)", (row["id"], data["title"]))
        return {"task": {"task_id": str(cur.lastrowid), "project_id": str(row["id"]), "title": data["title"]}}

    # BUG (use after delete): the buggy twin renames a deleted project
    app.post("/api/projects/rename", endpoint="rename")(lambda: on_project("active" if fixed else None, rename))
    app.post("/api/projects/delete", endpoint="delete")(lambda: on_project("active", set_stage("deleted")))
    app.post("/api/projects/restore", endpoint="restore")(lambda: on_project("deleted", set_stage("active")))
    app.post("/api/tasks/create", endpoint="create_task")(lambda: on_project("active", add_task))

    @app.post("/api/permissions/grant")
    def grant():
        data = request.get_json(force=True)
        with db() as conn:
            conn.execute("INSERT INTO grants (resource_type, resource_id, username) VALUES (?, ?, ?)",
                         (data["resource_type"], str(data["resource_id"]), data["username"]))
        return jsonify({})

    return app
