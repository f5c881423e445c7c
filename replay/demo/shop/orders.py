"""Orders: a member orders a product (its stock is taken), reads, lists, cancels and deletes orders.

An order's life is a status: pending -> paid -> refunded, or pending -> cancelled; ``transition`` is
the one conditional UPDATE every move makes (paying and refunding are in ``payments``). The
read-after-delete bug and, for orders, the deleted-item-still-listed bug are here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from venom_replay.replay.demo.shop.context import ApiError, body, caller, found, int_field, state, tx
from venom_replay.replay.demo.shop.database import Conn
from venom_replay.replay.demo.shop.products import load_product

__all__ = ["blueprint", "caller_order", "order_json", "transition"]

blueprint = Blueprint("orders", __name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def order_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "user_id", "product_id", "quantity", "amount", "paid", "refunded", "status", "created_at")
    return {k: row[k] for k in keys}


def load_order(db: Conn, user: dict[str, Any], order_id: int, *, include_deleted: bool = False) -> dict[str, Any]:
    """The order's row when ``user`` may see it (its owner, or an admin); else a 404."""
    row = db.one("SELECT * FROM orders WHERE id = ?", (order_id,))
    visible = row is not None and (include_deleted or not row["deleted"]) and (
        row["user_id"] == user["id"] or user["role"] == "admin")
    return found(row if visible else None, f"order {order_id}")


def caller_order(db: Conn, order_id: int) -> dict[str, Any]:
    """The order, as the caller sees it (not deleted, their own unless they are an admin)."""
    return load_order(db, caller(db), order_id)


def transition(db: Conn, order: dict[str, Any], assignments: str, allowed: str, expected: str) -> dict[str, Any]:
    """Set ``assignments`` on ``order`` when its row matches ``allowed``; else a 409 naming the
    ``expected`` status. Returns the updated row."""
    row = db.one(f"UPDATE orders SET {assignments} WHERE id = ? AND {allowed} RETURNING *", (order["id"],))
    if row is None:
        raise ApiError(409, f"order {order['id']} is {order['status']}, not {expected}")
    return row


@blueprint.post("/orders")
def create_order() -> ResponseReturnValue:
    data = body()
    product_id, quantity = int_field(data, "product_id", minimum=1), int_field(data, "quantity", minimum=1, default=1)
    with tx() as db:
        user = caller(db)
        product = load_product(db, product_id)
        taken = db.changed(
            "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?", (quantity, product_id, quantity)
        )
        if not taken:
            raise ApiError(409, f"only {product['stock']} of product {product_id} in stock")
        row = db.one(
            "INSERT INTO orders (user_id, product_id, quantity, amount, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
            (user["id"], product_id, quantity, quantity * product["price"], _now()),
        )
    return jsonify(order_json(row)), 201, {"Location": f"/orders/{row['id']}"}


@blueprint.get("/orders")
def list_orders() -> ResponseReturnValue:
    with tx() as db:
        user = caller(db)
        # BUG (deleted item still listed), as for products.
        deleted = " AND deleted = 0" if state().fixed else ""
        rows = db.all(f"SELECT * FROM orders WHERE user_id = ?{deleted} ORDER BY id", (user["id"],))
    return jsonify({"orders": [order_json(r) for r in rows]})


@blueprint.get("/orders/<int:order_id>")
def get_order(order_id: int) -> ResponseReturnValue:
    with tx() as db:
        user = caller(db)
        # BUG (read after delete): the buggy shop's read path forgets the soft delete.
        row = load_order(db, user, order_id, include_deleted=not state().fixed)
    return jsonify(order_json(row))


@blueprint.post("/orders/<int:order_id>/cancel")
def cancel_order(order_id: int) -> ResponseReturnValue:
    with tx() as db:
        order = caller_order(db, order_id)
        row = transition(db, order, "status = 'cancelled'", "status = 'pending'", "pending")
        db.execute("UPDATE products SET stock = stock + ? WHERE id = ?", (row["quantity"], row["product_id"]))
    return jsonify(order_json(row))


@blueprint.delete("/orders/<int:order_id>")
def delete_order(order_id: int) -> ResponseReturnValue:
    with tx() as db:
        caller_order(db, order_id)
        db.execute("UPDATE orders SET deleted = 1 WHERE id = ?", (order_id,))
    return "", 204
