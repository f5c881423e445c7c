"""What a path of calls did to which resource: which ids it deleted, which call repeats an earlier one.

Resources are named by their normalised path prefix and id value (``("/orders/{}", "5")``), so the
analysis needs no bindings: ``DELETE /orders/{order_id}`` and ``GET /orders/{id}`` with the same value
address the same order. The same functions read recorded sessions (to learn) and explored paths
(to check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.steps import is_delete, succeeded
from venom_replay.replay.learned.model import is_read, resource_keys

ResourceKey = tuple[str, str]


def keys_of(step: StepResult) -> list[ResourceKey]:
    return resource_keys(step.template.path, step.request.path)


def rejected(step: StepResult) -> bool:
    return step.response is not None and 400 <= step.response.status < 500


_PARSED: dict[int, tuple[object, Any]] = {}
_PARSED_MAX = 1024


def body_of(step: StepResult) -> Any:
    """The step's JSON body, parsed once: path checks read the same earlier responses at every step."""
    resp = step.response
    if resp is None:
        return None
    hit = _PARSED.get(id(resp))
    if hit is not None and hit[0] is resp:  # the response is kept in the entry, so its id is not reused
        return hit[1]
    value = resp.json()  # None for a body that is not JSON (never raises)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[id(resp)] = (resp, value)
    return value


def _created_values(step: StepResult) -> set[str]:
    """Ids a successful write handed out: top-level scalars of its body and its Location's last segment."""
    values: set[str] = set()
    body = body_of(step)
    if isinstance(body, dict):
        values.update(str(v) for v in body.values() if isinstance(v, (str, int)) and not isinstance(v, bool))
    location = step.response.header("Location") if step.response is not None else None
    if location:
        values.add(location.rstrip("/").rsplit("/", 1)[-1])
    return values


def deleted_before(path: Sequence[StepResult], index: int) -> dict[ResourceKey, int]:
    """Resources that a successful delete before ``index`` removed, and were not created again since
    (a database may hand a freed id out again), with the index of the deleting step."""
    deleted: dict[ResourceKey, int] = {}
    for j, step in enumerate(path[:index]):
        if not succeeded(step):
            continue
        if is_delete(step.template):
            keys = keys_of(step)
            if keys:
                deleted[keys[-1]] = j
        elif deleted and not is_read(step.template):
            created = _created_values(step)
            for key in [k for k in deleted if k[1] in created]:
                del deleted[key]
    return deleted


@dataclass(slots=True)
class Situation:
    kind: str
    """``after-delete`` (the call addresses a resource deleted earlier on the path) or ``repeat``
    (a state-changing call repeats one that succeeded on the same resource)."""
    earlier: int
    """Index of the deleting or the repeated step."""
    resource: ResourceKey


def situation(path: Sequence[StepResult], index: int) -> Situation | None:
    step = path[index]
    keys = keys_of(step)
    if not keys:
        return None
    deleted = deleted_before(path, index)
    for key in keys:
        if key in deleted:
            return Situation("after-delete", deleted[key], key)
    if is_read(step.template):
        return None
    for j in range(index - 1, -1, -1):
        prior = path[j]
        if prior.template.id == step.template.id and succeeded(prior) and keys_of(prior) == keys:
            return Situation("repeat", j, keys[-1])
    return None


def only_reads_between(path: Sequence[StepResult], start: int, end: int) -> bool:
    """True when nothing between steps ``start`` and ``end`` (exclusive) could have changed state."""
    return all(is_read(s.template) for s in path[start + 1 : end])


Profile = tuple[tuple[str, tuple[int | None, ...]], ...]


def origin_profile(path: Sequence[StepResult]) -> Profile:
    """Which earlier step of the path handed out each id a step addresses (None: from before the
    path). Two runs of the same calls with the same profile touched their objects the same way;
    a replay that deletes "the first listed note" where the recording deleted the note it had just
    created does not follow the recording, even though the calls are the same."""
    handed_out: list[set[str]] = []
    profile = []
    for step in path:
        origins = []
        for _, value in keys_of(step):
            origins.append(next((j for j, values in enumerate(handed_out) if value in values), None))
        profile.append((step.template.id, tuple(origins)))
        handed_out.append(_ids_handed_out(step) if succeeded(step) else set())
    return tuple(profile)


def _ids_handed_out(step: StepResult) -> set[str]:
    """The ids a response gives to later calls: its own ``id``, its Location, and the top-level
    values its template produces for consumers (not every small number in the body: a
    ``product_id`` of 1 does not make order 1 this step's doing)."""
    from venom_replay.replay.learned.model import leaf_value

    values: set[str] = set()
    body = body_of(step)
    sources = [p.source for p in step.template.produces if p.source.startswith("body:$.") and "[" not in p.source]
    for found, value in [leaf_value(body, src[len("body:"):]) for src in sources] + [leaf_value(body, "$.id")]:
        if found and isinstance(value, (str, int)) and not isinstance(value, bool):
            values.add(str(value))
    location = step.response.header("Location") if step.response is not None else None
    if location:
        values.add(location.rstrip("/").rsplit("/", 1)[-1])
    return values
