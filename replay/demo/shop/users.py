"""Logins, users and the admins group: who may call what.

The roles are what the access-after-demotion bug is about: an admin can step down
(``DELETE /groups/admins/members/{me}``), and each login issues a token that remembers the role.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from venom_replay.replay.demo.shop.context import ApiError, body, caller, found, require_admin, tx

__all__ = ["blueprint"]

blueprint = Blueprint("users", __name__)


def _user_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "username": row["username"], "role": row["role"]}


@blueprint.post("/login")
def login() -> ResponseReturnValue:
    data = body()
    with tx() as db:
        user = db.one("SELECT * FROM users WHERE username = ?", (str(data.get("username", "")),))
        if user is None or user["password"] != data.get("password"):
            raise ApiError(401, "wrong username or password")
        token = secrets.token_hex(16)
        db.execute("INSERT INTO tokens (token, user_id, role_at_login) VALUES (?, ?, ?)", (token, user["id"], user["role"]))
    return jsonify({"token": token, "user_id": user["id"], "role": user["role"]})


@blueprint.get("/me")
def me() -> ResponseReturnValue:
    with tx() as db:
        user = caller(db)
    return jsonify(_user_json(user))


@blueprint.post("/users")
def create_user() -> ResponseReturnValue:
    data = body()
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
        raise ApiError(400, "username and password are required strings")
    with tx() as db:
        require_admin(db)
        if db.one("SELECT id FROM users WHERE username = ?", (username,)) is not None:
            raise ApiError(409, f"user {username} exists")
        row = db.one(
            "INSERT INTO users (username, password, role) VALUES (?, ?, 'member') RETURNING *", (username, password)
        )
    return jsonify(_user_json(row)), 201, {"Location": f"/users/{row['id']}"}


@blueprint.get("/users")
def list_users() -> ResponseReturnValue:
    with tx() as db:
        require_admin(db)
        rows = db.all("SELECT * FROM users ORDER BY id")
    return jsonify({"users": [_user_json(r) for r in rows]})


def _set_role(user_id: int, role: str) -> ResponseReturnValue:
    with tx() as db:
        require_admin(db)
        row = found(db.one("UPDATE users SET role = ? WHERE id = ? RETURNING *", (role, user_id)), f"user {user_id}")
    return jsonify({"user_id": row["id"], "username": row["username"], "role": row["role"]})


@blueprint.put("/groups/admins/members/<int:user_id>")
def promote(user_id: int) -> ResponseReturnValue:
    return _set_role(user_id, "admin")


@blueprint.delete("/groups/admins/members/<int:user_id>")
def demote(user_id: int) -> ResponseReturnValue:
    return _set_role(user_id, "member")
