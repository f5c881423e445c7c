"""The catalogue: admins create, change and (softly) delete products; everyone reads them.

The deleted-item-still-listed bug is here for products: the buggy listing forgets the soft delete.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from venom_replay.replay.demo.shop.context import ApiError, body, caller, found, int_field, require_admin, state, tx
from venom_replay.replay.demo.shop.database import Conn

__all__ = ["blueprint", "load_product"]

blueprint = Blueprint("products", __name__)


def _product_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "price", "stock")}


def load_product(db: Conn, product_id: int) -> dict[str, Any]:
    """The product's row, or a 404 when it does not exist or was deleted."""
    return found(db.one("SELECT * FROM products WHERE id = ? AND deleted = 0", (product_id,)), f"product {product_id}")


@blueprint.post("/products")
def create_product() -> ResponseReturnValue:
    data = body()
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "name is a required string")
    price, stock = int_field(data, "price"), int_field(data, "stock", default=0)
    with tx() as db:
        require_admin(db)
        row = db.one("INSERT INTO products (name, price, stock) VALUES (?, ?, ?) RETURNING *", (name, price, stock))
    return jsonify(_product_json(row)), 201, {"Location": f"/products/{row['id']}"}


@blueprint.get("/products")
def list_products() -> ResponseReturnValue:
    with tx() as db:
        caller(db)
        # BUG (deleted item still listed): the buggy shop forgets the soft-delete filter.
        where = "WHERE deleted = 0 " if state().fixed else ""
        rows = db.all(f"SELECT * FROM products {where}ORDER BY id")
    return jsonify({"products": [_product_json(r) for r in rows]})


@blueprint.get("/products/<int:product_id>")
def get_product(product_id: int) -> ResponseReturnValue:
    with tx() as db:
        caller(db)
        row = load_product(db, product_id)
    return jsonify(_product_json(row))


@blueprint.patch("/products/<int:product_id>")
def update_product(product_id: int) -> ResponseReturnValue:
    data = body()
    with tx() as db:
        require_admin(db)
        row = load_product(db, product_id)
        price = int_field(data, "price", default=row["price"])
        stock = int_field(data, "stock", default=row["stock"])
        row = db.one("UPDATE products SET price = ?, stock = ? WHERE id = ? RETURNING *", (price, stock, product_id))
    return jsonify(_product_json(row))


@blueprint.delete("/products/<int:product_id>")
def delete_product(product_id: int) -> ResponseReturnValue:
    with tx() as db:
        require_admin(db)
        load_product(db, product_id)
        db.execute("UPDATE products SET deleted = 1 WHERE id = ?", (product_id,))
    return "", 204
