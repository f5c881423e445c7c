"""The delete checkers: a deleted resource that still answers (use-after-delete) or is still listed
(deleted-still-listed).

Both ask the same question of the path first, ``deletes_before``: which resources did successful
deletes remove that nothing re-created or restored since. A delete is a call whose template's
effect says so (``DELETE``, or ``POST .../delete`` that the recording showed deleting). The first
checker then looks for a later call on the deleted resource, the second for the deleted id inside
a later listing.

A resource is addressed by its URL (``/orders/5`` and below), or in an RPC-style API by the same
id under the same name (``experiments/delete {"experiment_id": "2"}``, then
``experiments/get?experiment_id=2``). Some servers delete softly: the object stays readable, marked
(``lifecycle_stage: "deleted"``, ``deleted: true``). A read or a listing that shows the object so
marked tells the truth and is no violation; one that shows it alive is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from venom_replay.proxy.infer.effects import shown_state
from venom_replay.proxy.infer.model import TemplateSet

from venom_replay.replay.checkers.base import BoundUse, StepContext, StepResult, Violation
from venom_replay.replay.checkers.steps import (addressed_resources, deleted_target, is_delete, is_read, is_restore,
                                                resource_key, succeeded, target_name)

__all__ = ["Deleted", "DeletedStillListedChecker", "UseAfterDeleteChecker", "deletes_before"]


class Deleted(NamedTuple):
    """A successful delete on the path and the resource it removed."""

    index: int
    step: StepResult
    resource: BoundUse
    location: str
    """Where the delete's request carried the id (``path:order_id``, ``body:$.experiment_id``)."""


def deletes_before(path: list[StepResult]) -> list[Deleted]:
    """Successful deletes on the path (excluding the last step) with the resource each removed, as
    long as no later step produced the same value again (re-created it) or restored it."""
    out = []
    for i, step in enumerate(path[:-1]):
        if not (succeeded(step) and is_delete(step.template)):
            continue
        target = deleted_target(step)
        if target is None:
            continue
        gone = target.use
        back = any(succeeded(s) and (_produced_again(s, gone) or (is_restore(s.template) and _addresses(s, gone)))
                   for s in path[i + 1:-1])
        if not back:
            out.append(Deleted(i, step, gone, target.location))
    return out


def _produced_again(step: StepResult, gone: BoundUse) -> bool:
    return step.template.id == gone.producer and str(step.produced.get(gone.source)) == str(gone.value)


def _addresses(step: StepResult, gone: BoundUse) -> bool:
    return any(resource_key(t.use) == resource_key(gone) for t in addressed_resources(step))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _json(step: StepResult) -> Any:
    return step.response.json() if step.response is not None else None


def _shows(data: Any, key: str, value: Any) -> bool:
    """The answer is about this object: its id sits in the answer outside any list."""
    if isinstance(data, dict):
        if str(data.get(key)) == str(value):
            return True
        return any(_shows(child, key, value) for child in data.values() if isinstance(child, dict))
    return False


class UseAfterDeleteChecker:
    """A read or write of a resource answers 2xx after a delete of that resource succeeded.

    The resource is the deleted URL: a later call on that URL or below it (``/orders/5``,
    ``/orders/5/pay``) touches it; a PUT to the very URL re-creates it and is fine. In an RPC-style
    API a later call that names the same id under the same name touches it; a read counts only
    when its answer is about the object (a search that merely filters by it is not). A read whose
    answer shows the object marked deleted is a soft delete, as recorded: no violation.
    """

    name = "use-after-delete"

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or is_restore(step.template):
            return []
        path = list(ctx.path)
        out = []
        for d in deletes_before(path):
            if d.step.template.id == step.template.id:
                continue  # the same delete again, which may answer 2xx by design
            where = self._touches(step, d, path)
            if where is None:
                continue
            if is_read(step.template) and shown_state(_json(step)) != "live":
                continue  # the answer says it is deleted: a soft delete
            out.append(Violation(
                self.name,
                f"{step.template.label} answered {step.response.status} for {where} after "
                f"{d.step.template.label} deleted {self._what(d)} (answered {d.step.response.status})",
                f"use-after-delete:{d.step.template.id}:{step.template.id}",
                {"resource": self._what(d), "deleted_by": d.step.template.id},
            ))
        return out

    @staticmethod
    def _what(d: Deleted) -> str:
        if d.location.startswith("path:"):
            return d.step.request.path
        return f"{d.location.partition(':')[2].lstrip('$.')}={d.resource.value}"

    @staticmethod
    def _touches(step: StepResult, d: Deleted, path: list[StepResult]) -> str | None:
        """Where ``step`` touched the deleted resource (its path, or the id field), or None."""
        if d.location.startswith("path:"):
            url = d.step.request.path
            if not step.template.params or not _under(step.request.path, url):
                return None
            if step.template.method in ("PUT", "POST") and step.request.path == url:
                return None  # PUT to the deleted URL re-creates it
            if any(succeeded(s) and s.template.method in ("PUT", "POST") and s.request.path == url for s in path[d.index + 1:-1]):
                return None  # re-created in between
            return step.request.path
        name = target_name(d.location)
        for t in addressed_resources(step):
            if resource_key(t.use) != resource_key(d.resource) or target_name(t.location) != name:
                continue
            if is_read(step.template) and not _shows(_json(step), _id_key(t.location), d.resource.value):
                continue  # a read that is not about the object (a history, a filtered search)
            return f"{t.location.partition(':')[2].lstrip('$.')}={t.use.value}"
        return None


def dicts_in_lists(data: Any, depth: int = 0) -> Iterable[dict]:
    """Every object inside a list anywhere in ``data`` (the items an answer lists), six levels deep."""
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                yield item
            yield from dicts_in_lists(item, depth + 1)
    elif isinstance(data, dict):
        for value in data.values():
            yield from dicts_in_lists(value, depth + 1)


def _id_key(source: str) -> str:
    """The field name an object's own id sits under, judged from where the producer read it (or
    where a request carried it)."""
    kind, _, where = source.partition(":")
    if kind == "body":
        last = re.split(r"[.\[\]']+", where.strip("$"))
        names = [p for p in last if p and not p.isdigit() and p != "*"]
        if names:
            return names[-1]
    elif kind in ("query", "form"):
        return where
    return "id"


class DeletedStillListedChecker:
    """A successful listing still holds an object that a successful delete removed (and does not
    show it marked deleted)."""

    name = "deleted-still-listed"

    def __init__(self, tset: TemplateSet) -> None:
        self.tset = tset

    def _producer_keys(self, producer: str) -> set[str]:
        tpl = self.tset.templates.get(producer)
        data = tpl.example_response.json() if tpl is not None and tpl.example_response is not None else None
        return set(data) if isinstance(data, dict) else set()

    def _listed(self, data: Any, gone: BoundUse) -> bool:
        """Whether ``data`` lists, alive, an object with the deleted id that looks like the deleted
        kind of object (not a namesake id of another kind)."""
        key = _id_key(gone.source)
        like = self._producer_keys(gone.producer)
        return any(str(item.get(key)) == str(gone.value) and not (like and len(like & set(item)) < max(1, len(like) // 2))
                   and shown_state(item) == "live"
                   for item in dicts_in_lists(data))

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or not is_read(step.template):
            return []
        data = step.response.json()
        if not isinstance(data, (dict, list)):
            return []
        mine = {resource_key(t.use) for t in addressed_resources(step)}
        out = []
        for d in deletes_before(list(ctx.path)):
            if resource_key(d.resource) in mine:
                continue  # reading the resource itself is use-after-delete, not a listing
            if self._listed(data, d.resource):
                out.append(Violation(
                    self.name,
                    f"{step.template.label} still lists {_id_key(d.resource.source)}={d.resource.value} after "
                    f"{d.step.template.label} deleted it (answered {d.step.response.status})",
                    f"deleted-still-listed:{d.step.template.id}:{step.template.id}",
                    {"resource": str(d.resource.value), "deleted_by": d.step.template.id},
                ))
        return out
