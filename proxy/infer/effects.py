"""What a template does to the server's state: read, create, update, delete or another action.

The explorer orders and checks calls by their effect (a delete followed by a read, a create twice),
so the effect is read off the method, the shape of the path and what the responses said: a POST
whose answers mostly were 201 or carried a Location header creates; one on a single resource
(``/orders/{order_id}``) updates it; a verb after an id (``/orders/{order_id}/refund``) is an action.
"""

from __future__ import annotations

from venom_replay.proxy.infer.model import Effect
from venom_replay.proxy.infer.path_patterns import PARAM, Pattern

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def classify_effect(method: str, pattern: Pattern, created: int, id_bodies: int, count: int) -> Effect:
    """read/create/update/delete/action from the method and the shape of the path.

    ``created``: responses that said "created" (201 or Location); ``id_bodies``: responses whose
    JSON body had a top-level ``id``; ``count``: all responses.
    """
    if method in READ_METHODS:
        return "read"
    if method == "DELETE":
        return "delete"
    if method in ("PUT", "PATCH"):
        return "update"
    last = pattern[-1] if pattern else ""
    if method == "POST":
        if created * 2 >= count and created:
            return "create"
        if last is PARAM:
            return "update"
        if len(pattern) >= 2 and pattern[-2] is PARAM:
            return "action"  # /orders/{order_id}/refund: a verb on one resource
        if id_bodies * 2 >= count and id_bodies and isinstance(last, str) and last.endswith("s"):
            return "create"
    return "action"
