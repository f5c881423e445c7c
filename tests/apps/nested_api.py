"""A small JSON API of projects and their tasks on SQLite, with soft deletes and restores.

Environment: ``NESTED_DB`` (sqlite:///path); planted bugs, each off unless set to ``1``:
``NESTED_ORPHAN_TASKS`` (a) and ``NESTED_RESTORE_UNDER_DELETED`` (b). With neither: the correct twin.

    POST   /projects {name}                 -> 201 {id, name, deleted: false}
    GET    /projects/{id}                   404 once deleted
    DELETE /projects/{id}                   soft delete; its live tasks are deleted with it
    POST   /projects/{id}/restore           brings it back with the tasks its delete took
    GET    /projects/{id}/tasks             -> {"tasks": [...]}; 404 while the project is deleted
    POST   /tasks {project_id, title}       -> 201 {id, project_id, title, done}; 404 for a deleted project
    GET    /tasks/{id}, PATCH /tasks/{id}   404 once the task or its project is deleted
    DELETE /tasks/{id}                      soft delete
    POST   /tasks/{id}/restore              409 unless the task is deleted and its project is not

Planted bugs:
(a) orphan tasks: deleting a project leaves its tasks alive, readable and writable;
(b) restore under a deleted parent: a task deleted with its project can be restored on its own.
Ids start above 100 (projects) and 200 (tasks) so that they are no small numbers.
"""

from __future__ import annotations

import os
import sqlite3

from flask import Flask, jsonify, request

from apps.sqlite_db import sqlite_opener

SCHEMA = [
    ("CREATE TABLE IF NOT EXISTS projects (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
     "deleted INTEGER NOT NULL DEFAULT 0)"),
    ("CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, "
     "title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, "
     "deleted_with_project INTEGER NOT NULL DEFAULT 0)"),
]
FIRST_IDS = {"projects": 100, "tasks": 200}


def create_app() -> Flask:
    orphan_tasks = os.environ.get("NESTED_ORPHAN_TASKS") == "1"
    restore_under_deleted = os.environ.get("NESTED_RESTORE_UNDER_DELETED") == "1"
    path = os.environ["NESTED_DB"][len("sqlite:///"):]
    app = Flask(__name__)

    db = sqlite_opener(path, SCHEMA)
    with db() as conn:
        for table, first in FIRST_IDS.items():
            if conn.execute("SELECT 1 FROM sqlite_sequence WHERE name = ?", (table,)).fetchone() is None:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, first))

    def not_found(what: str):
        return jsonify({"error": f"{what} not found"}), 404

    def project_json(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "name": row["name"], "deleted": bool(row["deleted"])}

    def task_json(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "project_id": row["project_id"], "title": row["title"], "done": bool(row["done"])}

    def live_project(conn: sqlite3.Connection, project_id: object) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM projects WHERE id = ? AND deleted = 0", (project_id,)).fetchone()

    def live_task(conn: sqlite3.Connection, task_id: int) -> sqlite3.Row | None:
        row = conn.execute("SELECT * FROM tasks WHERE id = ? AND deleted = 0", (task_id,)).fetchone()
        # BUG (a): the buggy twin never asks whether the task's project is still there
        if row is None or orphan_tasks or live_project(conn, row["project_id"]) is not None:
            return row
        return None

    @app.post("/projects")
    def create_project():
        data = request.get_json(force=True)
        with db() as conn:
            cur = conn.execute("INSERT INTO projects (name) VALUES (?)", (data["name"],))
            row = conn.execute("SELECT * FROM projects WHERE id = ?", (cur.lastrowid,)).fetchone()
        return jsonify(project_json(row)), 201

    @app.get("/projects/<int:project_id>")
    def get_project(project_id: int):
        with db() as conn:
            row = live_project(conn, project_id)
        return jsonify(project_json(row)) if row is not None else not_found("project")

    @app.delete("/projects/<int:project_id>")
    def delete_project(project_id: int):
        with db() as conn:
            if live_project(conn, project_id) is None:
                return not_found("project")
            conn.execute("UPDATE projects SET deleted = 1 WHERE id = ?", (project_id,))
            if not orphan_tasks:  # BUG (a): the buggy twin leaves the tasks alive
                conn.execute("UPDATE tasks SET deleted = 1, deleted_with_project = 1 WHERE project_id = ? AND deleted = 0",
                             (project_id,))
        return "", 204

    @app.post("/projects/<int:project_id>/restore")
    def restore_project(project_id: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM projects WHERE id = ? AND deleted = 1", (project_id,)).fetchone()
            if row is None:
                return jsonify({"error": "no deleted project with that id"}), 409
            conn.execute("UPDATE projects SET deleted = 0 WHERE id = ?", (project_id,))
            conn.execute("UPDATE tasks SET deleted = 0, deleted_with_project = 0 WHERE project_id = ? "
                         "AND deleted_with_project = 1", (project_id,))
            row = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
        return jsonify(project_json(row))

    @app.get("/projects/<int:project_id>/tasks")
    def list_tasks(project_id: int):
        with db() as conn:
            if live_project(conn, project_id) is None:
                return not_found("project")
            rows = conn.execute("SELECT * FROM tasks WHERE project_id = ? AND deleted = 0 ORDER BY id", (project_id,)).fetchall()
        return jsonify({"tasks": [task_json(r) for r in rows]})

    @app.post("/tasks")
    def create_task():
        data = request.get_json(force=True)
        with db() as conn:
            if live_project(conn, data.get("project_id")) is None:
                return not_found("project")
            cur = conn.execute("INSERT INTO tasks (project_id, title) VALUES (?, ?)", (data["project_id"], data["title"]))
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (cur.lastrowid,)).fetchone()
        resp = jsonify(task_json(row))
        resp.headers["Location"] = f"/tasks/{row['id']}"
        return resp, 201

    @app.get("/tasks/<int:task_id>")
    def get_task(task_id: int):
        with db() as conn:
            row = live_task(conn, task_id)
        return jsonify(task_json(row)) if row is not None else not_found("task")

    @app.patch("/tasks/<int:task_id>")
    def update_task(task_id: int):
        data = request.get_json(force=True)
        with db() as conn:
            if live_task(conn, task_id) is None:
                return not_found("task")
            conn.execute("UPDATE tasks SET title = ?, done = ? WHERE id = ?",
                         (data.get("title"), int(bool(data.get("done"))), task_id))
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return jsonify(task_json(row))

    @app.delete("/tasks/<int:task_id>")
    def delete_task(task_id: int):
        with db() as conn:
            if live_task(conn, task_id) is None:
                return not_found("task")
            conn.execute("UPDATE tasks SET deleted = 1 WHERE id = ?", (task_id,))
        return "", 204

    @app.post("/tasks/<int:task_id>/restore")
    def restore_task(task_id: int):
        with db() as conn:
            row = conn.execute("SELECT * FROM tasks WHERE id = ? AND deleted = 1", (task_id,)).fetchone()
            if row is None:
                return jsonify({"error": "no deleted task with that id"}), 409
            # BUG (b): the buggy twin restores a task whose project is deleted
            if not restore_under_deleted and live_project(conn, row["project_id"]) is None:
                return jsonify({"error": "the task's project is deleted: restore the project"}), 409
            conn.execute("UPDATE tasks SET deleted = 0, deleted_with_project = 0 WHERE id = ?", (task_id,))
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return jsonify(task_json(row))

    return app
