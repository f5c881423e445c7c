"""A small notes API with HTTP Basic users that the API itself creates, kept in memory.

The admin (``admin`` / ``BASIC_ADMIN_PASSWORD``, default ``admin-pw``) creates users; users sign up
on their own too, change their password (the old one stops working at once), get API keys, and
keep notes with version checks. Identities are values here: a password set by one call is what
later calls log in with.

    POST   /users {username, password}          (admin)  -> 201 {id, username}; 409 when taken
    POST   /signup {username, password}         (anyone) -> 201 {id, username}
    PUT    /users/{name}/password {password, current_password}  (that user) -> 200
    GET    /me                                           -> {username}
    POST   /keys                                         -> 201 {key}  (X-Api-Key: <key> logs in as its owner)
    POST   /notes {text}                                 -> 201 {id, owner, text, version}, ETag, Location
    GET    /notes[?since=<version>]                      -> {notes: [...]} the caller may read
    GET    /notes/{id}                                   -> note, ETag  (owner, or shared with the caller)
    PATCH  /notes/{id} {text}  [If-Match: <etag>]        -> note, ETag; 412 when the version moved on
    POST   /notes/{id}/share {username}         (owner)  -> 200
    DELETE /notes/{id}                          (owner)  -> 204
    POST   /pastes {text}                       (anyone) -> 201 {id}; GET /pastes/{id} (anyone)
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
import secrets
import threading

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    lock = threading.Lock()
    users: dict[str, dict] = {"admin": {"id": 1, "password": os.environ.get("BASIC_ADMIN_PASSWORD", "admin-pw"), "admin": True}}
    user_ids = itertools.count(2)
    keys: dict[str, str] = {}
    notes: dict[int, dict] = {}
    note_ids = itertools.count(1)
    pastes: dict[int, str] = {}
    paste_ids = itertools.count(1)

    def caller() -> str | None:
        key = request.headers.get("X-Api-Key")
        if key:
            return keys.get(key)
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = users.get(name)
        return name if user is not None and secrets.compare_digest(user["password"], password) else None

    def refused(status: int, message: str):
        return jsonify({"error": message}), status

    def new_user(data: dict):
        name, password = str(data.get("username", "")), str(data.get("password", ""))
        if not name or not password:
            return refused(400, "username and password are required")
        with lock:
            if name in users:
                return refused(409, "user exists")
            users[name] = {"id": next(user_ids), "password": password, "admin": False}
        return jsonify({"id": users[name]["id"], "username": name}), 201

    def with_etag(note: dict, status: int = 200):
        resp = jsonify(note)
        resp.status_code = status
        resp.headers["ETag"] = f'"v{note["version"]}"'
        return resp

    def readable(note_id: int, who: str):
        note = notes.get(note_id)
        if note is None:
            return None, refused(404, "no such note")
        if who != note["owner"] and who not in note["shared"]:
            return None, refused(403, "not yours")
        return note, None

    @app.post("/users")
    def create_user():
        who = caller()
        if who is None:
            return refused(401, "log in")
        if not users[who]["admin"]:
            return refused(403, "admins only")
        return new_user(request.get_json(force=True, silent=True) or {})

    @app.post("/signup")
    def signup():
        return new_user(request.get_json(force=True, silent=True) or {})

    @app.put("/users/<name>/password")
    def change_password(name: str):
        who = caller()
        if who is None:
            return refused(401, "log in")
        if who != name:
            return refused(403, "only your own")
        data = request.get_json(force=True, silent=True) or {}
        if data.get("current_password") != users[name]["password"] or not data.get("password"):
            return refused(400, "wrong current password")
        users[name]["password"] = str(data["password"])
        return jsonify({})

    @app.get("/me")
    def me():
        who = caller()
        return refused(401, "log in") if who is None else jsonify({"username": who})

    @app.post("/keys")
    def new_key():
        who = caller()
        if who is None:
            return refused(401, "log in")
        key = "k-" + secrets.token_hex(12)
        keys[key] = who
        return jsonify({"key": key}), 201

    @app.post("/notes")
    def create_note():
        who = caller()
        if who is None:
            return refused(401, "log in")
        data = request.get_json(force=True, silent=True) or {}
        with lock:
            note = {"id": next(note_ids), "owner": who, "text": str(data.get("text", "")), "version": 1, "shared": []}
            notes[note["id"]] = note
        resp = with_etag(note, 201)
        resp.headers["Location"] = f"/notes/{note['id']}"
        return resp

    @app.get("/notes")
    def list_notes():
        who = caller()
        if who is None:
            return refused(401, "log in")
        since = int(request.args.get("since", "0"))
        return jsonify({"notes": [n for n in notes.values()
                                  if (who == n["owner"] or who in n["shared"]) and n["version"] > since]})

    @app.get("/notes/<int:note_id>")
    def get_note(note_id: int):
        who = caller()
        if who is None:
            return refused(401, "log in")
        note, error = readable(note_id, who)
        return error if note is None else with_etag(note)

    @app.patch("/notes/<int:note_id>")
    def patch_note(note_id: int):
        who = caller()
        if who is None:
            return refused(401, "log in")
        note, error = readable(note_id, who)
        if note is None:
            return error
        expected = request.headers.get("If-Match")
        if expected is not None and expected != f'"v{note["version"]}"':
            return refused(412, "the note changed")
        note["text"] = str((request.get_json(force=True, silent=True) or {}).get("text", note["text"]))
        note["version"] += 1
        return with_etag(note)

    def owned(note_id: int) -> dict | None:
        who, note = caller(), notes.get(note_id)
        return note if who is not None and note is not None and note["owner"] == who else None

    @app.post("/notes/<int:note_id>/share")
    def share_note(note_id: int):
        note = owned(note_id)
        if note is None:
            return refused(403, "not yours")
        name = str((request.get_json(force=True, silent=True) or {}).get("username", ""))
        if name not in users:
            return refused(404, "no such user")
        note["shared"].append(name)
        return jsonify(note)

    @app.delete("/notes/<int:note_id>")
    def delete_note(note_id: int):
        if owned(note_id) is None:
            return refused(403, "not yours")
        del notes[note_id]
        return "", 204

    @app.post("/pastes")
    def create_paste():
        with lock:
            paste_id = next(paste_ids)
            pastes[paste_id] = str((request.get_json(force=True, silent=True) or {}).get("text", ""))
        return jsonify({"id": paste_id}), 201

    @app.get("/pastes/<int:paste_id>")
    def get_paste(paste_id: int):
        text = pastes.get(paste_id)
        return refused(404, "no such paste") if text is None else jsonify({"id": paste_id, "text": text})

    return app
