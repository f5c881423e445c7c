"""What every route of the shop needs: its transaction, its JSON body, its caller, and its refusals.

The routes live in one blueprint per resource; they reach the app's database and its ``fixed``
switch through ``state()`` (kept in ``app.extensions`` by ``install``) rather than through closures
inside one big app factory. The access-after-demotion bug sits here, in ``require_admin``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request

from venom_replay.replay.demo.shop.database import Conn, Database

__all__ = ["ApiError", "ShopState", "body", "caller", "found", "install", "int_field", "require_admin", "state", "tx"]

_EXTENSION = "venom_demo_shop"


class ApiError(Exception):
    """A refusal: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ShopState:
    """One app's database, and whether it is the correct twin."""

    database: Database
    fixed: bool
    """True for the correct twin: every planted bug's condition reads this."""


def install(app: Flask, database: Database, *, fixed: bool) -> None:
    app.extensions[_EXTENSION] = ShopState(database, fixed)
    app.config["VENOM_DEMO_FIXED"] = fixed


def state() -> ShopState:
    """The state of the app handling the current request."""
    return current_app.extensions[_EXTENSION]


@contextmanager
def tx() -> Iterator[Conn]:
    """The current request's connection and transaction (a write transaction unless GET or HEAD)."""
    with state().database.transaction(write=request.method not in ("GET", "HEAD")) as db:
        yield db


def body() -> dict[str, Any]:
    """The request's JSON object (``{}`` when there is no body)."""
    data = request.get_json(silent=True)
    if request.data and not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data or {}


def found(row: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """``row``, or a 404 saying ``what`` was not found when there is none."""
    if row is None:
        raise ApiError(404, f"{what} not found")
    return row


INT_MAX = 2**31 - 1
"""The largest number an integer column holds on every database the shop runs on."""


def int_field(data: dict[str, Any], name: str, *, minimum: int = 0, default: int | None = None) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= INT_MAX:
        raise ApiError(400, f"{name} must be an integer from {minimum} to {INT_MAX}")
    return value


def caller(db: Conn) -> dict[str, Any]:
    """The user behind the bearer token, with its role now and the role its token was issued with."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        raise ApiError(401, "missing bearer token")
    row = db.one(
        "SELECT u.id, u.username, u.role, t.role_at_login FROM tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token = ?",
        (auth[len("Bearer "):],),
    )
    if row is None:
        raise ApiError(401, "unknown token")
    return row


def require_admin(db: Conn) -> dict[str, Any]:
    """The caller, when an admin; else a 403."""
    user = caller(db)
    # BUG (access after demotion): the buggy shop trusts the role remembered at login.
    role = user["role"] if state().fixed else user["role_at_login"]
    if role != "admin":
        raise ApiError(403, "admins only")
    return user
