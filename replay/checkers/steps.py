"""What one executed step did, as the built-in checkers ask it: did it succeed, did it delete, which
resources did its path address.

Resources are identified by the bound values in request *paths* (``/orders/{order_id}``), never by
body fields, so ordering a product is not "use" of it. One home for these questions keeps every
checker answering them the same way.
"""

from __future__ import annotations

from venom_replay.proxy.infer.model import ActionTemplate

from venom_replay.replay.checkers.base import BoundUse, StepResult

__all__ = [
    "WRITE_METHODS",
    "deleted_resource",
    "is_delete",
    "path_resources",
    "resource_key",
    "succeeded",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def succeeded(step: StepResult) -> bool:
    """The step got a 2xx answer."""
    return step.response is not None and 200 <= step.response.status < 300


def is_delete(template: ActionTemplate) -> bool:
    """The call deletes what it addresses: a DELETE, or a call the recording showed deleting."""
    return template.method.upper() == "DELETE" or template.effect == "delete"


def path_resources(step: StepResult) -> dict[str, BoundUse]:
    """Bound values used in the request path, by parameter name, in path order."""
    return {loc[len("path:"):]: use for loc, use in step.consumed.items() if loc.startswith("path:")}


def resource_key(use: BoundUse) -> tuple[str, str, str]:
    """One resource, whichever call addresses it: the producer and source of its id, and the id."""
    return (use.producer, use.source, str(use.value))


def deleted_resource(step: StepResult) -> BoundUse | None:
    """What a successful DELETE removed: the binding of its last path parameter."""
    params = step.template.params
    bound = path_resources(step)
    for name in reversed(params):
        if name in bound:
            return bound[name]
    return None
