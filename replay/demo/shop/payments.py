"""Paying and refunding an order: each moves its status on and writes a payments or refunds row.

The double-refund bug is here: the buggy shop also refunds an order that is already refunded.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from venom_replay.replay.demo.shop.context import body, state, tx
from venom_replay.replay.demo.shop.orders import caller_order, order_json, transition

__all__ = ["blueprint"]

blueprint = Blueprint("payments", __name__)


@blueprint.post("/orders/<int:order_id>/pay")
def pay_order(order_id: int) -> ResponseReturnValue:
    method = str(body().get("method", "card"))
    with tx() as db:
        order = caller_order(db, order_id)
        row = transition(db, order, "status = 'paid', paid = amount", "status = 'pending'", "pending")
        db.execute("INSERT INTO payments (order_id, amount, method) VALUES (?, ?, ?)", (order_id, row["amount"], method))
    return jsonify(order_json(row))


@blueprint.post("/orders/<int:order_id>/refund")
def refund_order(order_id: int) -> ResponseReturnValue:
    reason = str(body().get("reason", ""))
    with tx() as db:
        order = caller_order(db, order_id)
        # BUG (double refund): the buggy shop also accepts an order that is already refunded.
        refundable = "status = 'paid'" if state().fixed else "status IN ('paid', 'refunded')"
        row = transition(db, order, "status = 'refunded', refunded = refunded + amount", refundable, "paid")
        db.execute("INSERT INTO refunds (order_id, amount, reason) VALUES (?, ?, ?)", (order_id, row["amount"], reason))
    return jsonify(order_json(row))
