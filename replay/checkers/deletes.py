"""The delete checkers: a deleted resource that still answers (use-after-delete) or is still listed
(deleted-still-listed).

Both ask the same question of the path first, ``deletes_before``: which resources did successful
deletes remove that nothing re-created since. The first then looks for a later call on the deleted
URL, the second for the deleted id inside a later listing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from venom_replay.proxy.infer.model import TemplateSet

from venom_replay.replay.checkers.base import BoundUse, StepContext, StepResult, Violation
from venom_replay.replay.checkers.steps import deleted_resource, is_delete, path_resources, resource_key, succeeded

__all__ = ["DeletedStillListedChecker", "UseAfterDeleteChecker", "deletes_before"]


def deletes_before(path: list[StepResult]) -> list[tuple[int, StepResult, BoundUse]]:
    """Successful deletes on the path (excluding the last step) with the resource each removed, as
    long as no later step produced the same value again (re-created it)."""
    out = []
    for i, step in enumerate(path[:-1]):
        if not (succeeded(step) and is_delete(step.template)):
            continue
        gone = deleted_resource(step)
        if gone is None:
            continue
        recreated = any(
            s.template.id == gone.producer and str(s.produced.get(gone.source)) == str(gone.value) and succeeded(s)
            for s in path[i + 1:-1]
        )
        if not recreated:
            out.append((i, step, gone))
    return out


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class UseAfterDeleteChecker:
    """A read or write of a resource answers 2xx after a DELETE of that resource succeeded.

    The resource is the deleted URL: a later call on that URL or below it (``/orders/5``,
    ``/orders/5/pay``) touches it; a PUT to the very URL re-creates it and is fine.
    """

    name = "use-after-delete"

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or not step.template.params:
            return []
        path = list(ctx.path)
        out = []
        for i, deleter, gone in deletes_before(path):
            url = deleter.request.path
            if not _under(step.request.path, url) or deleter.template.id == step.template.id:
                continue  # another resource; or the same DELETE again, which may answer 204 by design
            if step.template.method in ("PUT", "POST") and step.request.path == url:
                continue  # PUT to the deleted URL re-creates it
            if any(succeeded(s) and s.template.method in ("PUT", "POST") and s.request.path == url for s in path[i + 1:-1]):
                continue  # re-created in between
            out.append(Violation(
                self.name,
                f"{step.template.label} answered {step.response.status} for {step.request.path} after "
                f"{deleter.template.label} deleted {url} (answered {deleter.response.status})",
                f"use-after-delete:{deleter.template.id}:{step.template.id}",
                {"resource": url, "deleted_by": deleter.template.id},
            ))
        return out


def _dicts_in_lists(data: Any, depth: int = 0) -> Iterable[dict]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                yield item
            yield from _dicts_in_lists(item, depth + 1)
    elif isinstance(data, dict):
        for value in data.values():
            yield from _dicts_in_lists(value, depth + 1)


def _id_key(source: str) -> str:
    """The field name an object's own id sits under, judged from where the producer read it."""
    kind, _, where = source.partition(":")
    if kind == "body":
        last = re.split(r"[.\[\]']+", where.strip("$"))
        names = [p for p in last if p and not p.isdigit() and p != "*"]
        if names:
            return names[-1]
    return "id"


class DeletedStillListedChecker:
    """A successful listing still holds an object that a successful DELETE removed."""

    name = "deleted-still-listed"

    def __init__(self, tset: TemplateSet) -> None:
        self.tset = tset

    def _producer_keys(self, producer: str) -> set[str]:
        tpl = self.tset.templates.get(producer)
        data = tpl.example_response.json() if tpl is not None and tpl.example_response is not None else None
        return set(data) if isinstance(data, dict) else set()

    def _listed(self, data: Any, gone: BoundUse) -> bool:
        """Whether ``data`` lists an object with the deleted id that looks like the deleted kind of
        object (not a namesake id of another kind)."""
        key = _id_key(gone.source)
        like = self._producer_keys(gone.producer)
        return any(str(item.get(key)) == str(gone.value) and not (like and len(like & set(item)) < max(1, len(like) // 2))
                   for item in _dicts_in_lists(data))

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or step.template.method != "GET":
            return []
        data = step.response.json()
        if not isinstance(data, (dict, list)):
            return []
        mine = {resource_key(u) for u in path_resources(step).values()}
        out = []
        for _, deleter, gone in deletes_before(list(ctx.path)):
            if resource_key(gone) in mine:
                continue  # reading the resource itself is use-after-delete, not a listing
            if self._listed(data, gone):
                out.append(Violation(
                    self.name,
                    f"{step.template.label} still lists {_id_key(gone.source)}={gone.value} after {deleter.template.label} "
                    f"deleted it (answered {deleter.response.status})",
                    f"deleted-still-listed:{deleter.template.id}:{step.template.id}",
                    {"resource": str(gone.value), "deleted_by": deleter.template.id},
                ))
        return out
