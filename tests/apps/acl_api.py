"""A small document store with accounts, groups and ACLs on SQLite, in the manner of Kinto.

Accounts sign up themselves and log in with HTTP Basic; principals are ``account:<name>`` and group
paths (``/groups/<gid>``). Only ``admin`` manages groups and folders.

Environment: ``ACL_DB`` (sqlite:///path), ``ACL_FIXED=1`` for the correct twin.

    PUT    /accounts/{name} {password}          (anyone)        -> 201 {name}; 409 when taken
    DELETE /accounts/{name}                     (admin or self) -> 200
    GET    /me                                                  -> {name}
    PUT    /groups/{gid} {members: [...]}       (admin)         -> 201 {id, members}
    PATCH  /groups/{gid} {members: [...]}       (admin)         -> {id, members}
    PUT    /folders/{fid} {permissions: {read: [...], write: [...]}}  (admin) -> 201
    PATCH  /folders/{fid} {permissions: {...}}  (admin)         -> folder (the lists given replace theirs)
    PUT    /folders/{fid}/docs/{did} {text}     (folder write)  -> 201 {id, text, owner}; 409 when taken
    GET    /folders/{fid}/docs/{did}            (folder read or write) -> doc
    PATCH  /folders/{fid}/docs/{did} {text}     (folder write)  -> doc
    DELETE /folders/{fid}/docs/{did}            (folder write)  -> 200

Planted bugs (ACL_FIXED unset):
- access after revoke: a document's owner keeps write access to it after leaving every group that
  gave it (the owner is checked before the folder's ACL);
- inherited identity: deleting an account leaves its principal in groups and ACLs, so an account
  re-created under the same name gets what the old one was granted.
The twin checks the folder's ACL only, and removes a deleted account's principal everywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3

from flask import Flask, jsonify, request

from apps.sqlite_db import sqlite_opener

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, password TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS groups_ (id TEXT PRIMARY KEY, members TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS folders (id TEXT PRIMARY KEY, readers TEXT NOT NULL, writers TEXT NOT NULL)",
    ("CREATE TABLE IF NOT EXISTS docs (folder TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL, "
     "owner TEXT NOT NULL, PRIMARY KEY (folder, id))"),
    "INSERT OR IGNORE INTO accounts (name, password) VALUES ('admin', 'admin-pw')",
]


def create_app() -> Flask:
    fixed = os.environ.get("ACL_FIXED") == "1"
    path = os.environ["ACL_DB"][len("sqlite:///"):]
    app = Flask(__name__)

    db = sqlite_opener(path, SCHEMA)

    def refused(status: int, message: str):
        return jsonify({"error": message}), status

    def body() -> dict:
        data = request.get_json(force=True, silent=True)
        return data if isinstance(data, dict) else {}

    def caller(conn: sqlite3.Connection) -> str | None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        row = conn.execute("SELECT password FROM accounts WHERE name = ?", (name,)).fetchone()
        return name if row is not None and row["password"] == password else None

    def principals(conn: sqlite3.Connection, name: str) -> set[str]:
        """The caller's principals: its account and the groups that list it."""
        mine = {f"account:{name}"}
        for row in conn.execute("SELECT id, members FROM groups_"):
            if f"account:{name}" in json.loads(row["members"]):
                mine.add(f"/groups/{row['id']}")
        return mine

    def folder_json(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "permissions": {"read": json.loads(row["readers"]), "write": json.loads(row["writers"])}}

    def may(conn: sqlite3.Connection, name: str, fid: str, how: str) -> bool | None:
        """None when the folder does not exist."""
        row = conn.execute("SELECT * FROM folders WHERE id = ?", (fid,)).fetchone()
        if row is None:
            return None
        lists = json.loads(row["writers"]) + (json.loads(row["readers"]) if how == "read" else [])
        return name == "admin" or bool(principals(conn, name) & set(lists))

    @app.put("/accounts/<name>")
    def sign_up(name: str):
        password = str(body().get("password", ""))
        if len(password) < 3:
            return refused(400, "a password is required")
        with db() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                return refused(409, "account exists")
            conn.execute("INSERT INTO accounts (name, password) VALUES (?, ?)", (name, password))
        return jsonify({"name": name}), 201

    @app.delete("/accounts/<name>")
    def delete_account(name: str):
        with db() as conn:
            who = caller(conn)
            if who is None:
                return refused(401, "log in")
            if who not in ("admin", name):
                return refused(403, "admin or yourself only")
            if conn.execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount == 0:
                return refused(404, "no such account")
            if fixed:  # the principal goes with its account
                gone = f"account:{name}"
                for row in conn.execute("SELECT id, members FROM groups_").fetchall():
                    members = [m for m in json.loads(row["members"]) if m != gone]
                    conn.execute("UPDATE groups_ SET members = ? WHERE id = ?", (json.dumps(members), row["id"]))
                for row in conn.execute("SELECT * FROM folders").fetchall():
                    readers = [m for m in json.loads(row["readers"]) if m != gone]
                    writers = [m for m in json.loads(row["writers"]) if m != gone]
                    conn.execute("UPDATE folders SET readers = ?, writers = ? WHERE id = ?",
                                 (json.dumps(readers), json.dumps(writers), row["id"]))
        return jsonify({"name": name, "deleted": True})

    @app.get("/me")
    def me():
        with db() as conn:
            who = caller(conn)
        return refused(401, "log in") if who is None else jsonify({"name": who})

    def write_group(gid: str, create: bool):
        members = body().get("members")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            return refused(400, "members must be a list of principals")
        with db() as conn:
            if caller(conn) != "admin":
                return refused(403, "admin only")
            exists = conn.execute("SELECT 1 FROM groups_ WHERE id = ?", (gid,)).fetchone() is not None
            if create == exists:
                return refused(409 if create else 404, "group exists" if create else "no such group")
            # INSERT, else UPDATE: a REPLACE deletes without firing delete triggers, out of a rollback's sight
            if create:
                conn.execute("INSERT INTO groups_ (id, members) VALUES (?, ?)", (gid, json.dumps(members)))
            else:
                conn.execute("UPDATE groups_ SET members = ? WHERE id = ?", (json.dumps(members), gid))
        return jsonify({"id": gid, "members": members}), 201 if create else 200

    @app.put("/groups/<gid>")
    def create_group(gid: str):
        return write_group(gid, create=True)

    @app.patch("/groups/<gid>")
    def update_group(gid: str):
        return write_group(gid, create=False)

    def write_folder(fid: str, create: bool):
        given = body().get("permissions") or {}
        if not isinstance(given, dict):
            return refused(400, "permissions must be an object")
        with db() as conn:
            if caller(conn) != "admin":
                return refused(403, "admin only")
            row = conn.execute("SELECT * FROM folders WHERE id = ?", (fid,)).fetchone()
            if (row is not None) == create:
                return refused(409 if create else 404, "folder exists" if create else "no such folder")
            current = folder_json(row)["permissions"] if row is not None else {"read": [], "write": []}
            lists = {k: list(given.get(k, current[k])) for k in ("read", "write")}
            conn.execute("INSERT INTO folders (id, readers, writers) VALUES (?, ?, ?)" if create
                         else "UPDATE folders SET id = ?, readers = ?, writers = ? WHERE id = ?",
                         (fid, json.dumps(lists["read"]), json.dumps(lists["write"]), *(() if create else (fid,))))
        return jsonify({"id": fid, "permissions": lists}), 201 if create else 200

    @app.put("/folders/<fid>")
    def create_folder(fid: str):
        return write_folder(fid, create=True)

    @app.patch("/folders/<fid>")
    def update_folder(fid: str):
        return write_folder(fid, create=False)

    def doc_json(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "folder": row["folder"], "text": row["text"], "owner": row["owner"]}

    def doc_call(fid: str, did: str, how: str, conn: sqlite3.Connection):
        """(caller, the doc row or None, an error answer or None)."""
        who = caller(conn)
        if who is None:
            return None, None, refused(401, "log in")
        row = conn.execute("SELECT * FROM docs WHERE folder = ? AND id = ?", (fid, did)).fetchone()
        if not fixed and how == "write" and row is not None and row["owner"] == who:
            return who, row, None  # BUG (access after revoke): the owner is let in whatever the ACL says now
        allowed = may(conn, who, fid, how)
        if allowed is None:
            return who, None, refused(404, "no such folder")
        if not allowed:
            return who, row, refused(403, f"no {how} access to this folder")
        return who, row, None

    @app.put("/folders/<fid>/docs/<did>")
    def create_doc(fid: str, did: str):
        text = str(body().get("text", ""))
        with db() as conn:
            who, row, error = doc_call(fid, did, "write", conn)
            if error is not None:
                return error
            if row is not None:
                return refused(409, "document exists")
            conn.execute("INSERT INTO docs (folder, id, text, owner) VALUES (?, ?, ?, ?)", (fid, did, text, who))
            row = conn.execute("SELECT * FROM docs WHERE folder = ? AND id = ?", (fid, did)).fetchone()
        return jsonify(doc_json(row)), 201

    @app.get("/folders/<fid>/docs/<did>")
    def read_doc(fid: str, did: str):
        with db() as conn:
            _, row, error = doc_call(fid, did, "read", conn)
        if error is not None:
            return error
        return (jsonify(doc_json(row)), 200) if row is not None else refused(404, "no such document")

    @app.patch("/folders/<fid>/docs/<did>")
    def update_doc(fid: str, did: str):
        text = str(body().get("text", ""))
        with db() as conn:
            _, row, error = doc_call(fid, did, "write", conn)
            if error is not None:
                return error
            if row is None:
                return refused(404, "no such document")
            conn.execute("UPDATE docs SET text = ? WHERE folder = ? AND id = ?", (text, fid, did))
            row = conn.execute("SELECT * FROM docs WHERE folder = ? AND id = ?", (fid, did)).fetchone()
        return jsonify(doc_json(row))

    @app.delete("/folders/<fid>/docs/<did>")
    def delete_doc(fid: str, did: str):
        with db() as conn:
            _, row, error = doc_call(fid, did, "write", conn)
            if error is not None:
                return error
            if row is None:
                return refused(404, "no such document")
            conn.execute("DELETE FROM docs WHERE folder = ? AND id = ?", (fid, did))
        return jsonify({"id": did, "deleted": True})

    return app
