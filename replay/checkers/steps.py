"""What one executed step did, as the built-in checkers ask it: did it succeed, did it delete or
restore, which resources did it address.

Resources are identified by bound values: in request *paths* (``/orders/{order_id}``), and in
RPC-style calls that carry no id in their path, by bound id-named query and body fields
(``experiments/delete {"experiment_id": "2"}``, ``experiments/get?experiment_id=2``). A body field of
a call that has an id in its path is not its resource, so ordering a product is not "use" of it. What
a call does comes from its template's effect, which inference reads off the recording's behaviour
(``POST .../delete`` followed by a 404 deletes), not from the method. One home for these questions
keeps every checker answering them the same way.
"""

from __future__ import annotations

from typing import NamedTuple

from venom_replay.proxy.infer.bindings import id_field_name, location_name, norm_name, resource_name
from venom_replay.proxy.infer.effects import READ_METHODS
from venom_replay.proxy.infer.model import ActionTemplate

from venom_replay.replay.checkers.base import BoundUse, StepResult

__all__ = [
    "WRITE_METHODS",
    "Target",
    "addressed_resources",
    "deleted_resource",
    "deleted_target",
    "is_delete",
    "is_read",
    "is_restore",
    "path_resources",
    "resource_key",
    "succeeded",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Target(NamedTuple):
    """A resource a step addressed: where its request carried the id, and the bound value."""

    location: str
    use: BoundUse


def succeeded(step: StepResult) -> bool:
    """The step got a 2xx answer."""
    return step.response is not None and 200 <= step.response.status < 300


def is_delete(template: ActionTemplate) -> bool:
    """The call deletes what it addresses, as its effect says (a DELETE, or a call the recording
    showed deleting: a later read answered 404 or showed the object deleted). A hand-built
    template with no effect learned counts by its method."""
    return template.effect == "delete" or (template.effect == "action" and template.method.upper() == "DELETE")


def is_restore(template: ActionTemplate) -> bool:
    """The call brings back what a delete removed (``runs/restore``): the recording showed it."""
    return template.effect == "restore"


def is_read(template: ActionTemplate) -> bool:
    """The call only reads: a GET, or an RPC read (``POST .../search``) by its effect."""
    return template.effect == "read" or template.method.upper() in READ_METHODS


def path_resources(step: StepResult) -> dict[str, BoundUse]:
    """Bound values used in the request path, by parameter name, in path order."""
    return {loc[len("path:"):]: use for loc, use in step.consumed.items() if loc.startswith("path:")}


def addressed_resources(step: StepResult) -> list[Target]:
    """Every resource the step addressed: its bound path parameters, or, for a call with none, its
    bound id-named query and body fields."""
    paths = [Target(loc, use) for loc, use in step.consumed.items() if loc.startswith("path:")]
    if paths or step.template.params:
        return paths
    return [Target(loc, use) for loc, use in step.consumed.items() if id_field_name(loc) is not None]


def resource_key(use: BoundUse) -> tuple[str, str, str]:
    """One resource, whichever call addresses it: the producer and source of its id, and the id."""
    return (use.producer, use.source, str(use.value))


def target_name(location: str) -> str:
    """The normalised name an id travels under (``body:$.experiment_id`` -> ``experimentid``)."""
    return norm_name(location_name(location))


def deleted_target(step: StepResult) -> Target | None:
    """What a successful delete removed: the binding of its last path parameter, or for an RPC-style
    call the id field named after its resource (``experiments/delete`` -> ``experiment_id``), else
    its first bound id field."""
    params = step.template.params
    bound = path_resources(step)
    for name in reversed(params):
        if name in bound:
            return Target(f"path:{name}", bound[name])
    fields = addressed_resources(step)
    if not fields:
        return None
    own = norm_name(f"{resource_name(step.template.path)}_id")
    return next((t for t in fields if target_name(t.location) == own), fields[0])


def deleted_resource(step: StepResult) -> BoundUse | None:
    """What a successful delete removed (see ``deleted_target``)."""
    target = deleted_target(step)
    return target.use if target is not None else None
