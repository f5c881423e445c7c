"""Values that belong to a resource: an ETag, a version or a Last-Modified sent back in a conditional
request must be the one read from the resource the request is about, not whatever the producing
template's latest answer said (a PATCH of record A with record B's ETag answers 412).

Inference marks such a binding ``Consumption.same_resource``. The path then keeps, for each source
such bindings read, every value it produced together with the resource it was about: the path of
the request that got it, and the ids that request used or the answer produced. A request is rendered
with the newest value whose resource shares its path or one of its ids; with none, the binding is
unbound, so the call is not enabled (a conditional write needs the version of what it writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.infer.instantiate import apply_transform
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.replay.checkers.base import BoundUse, StepResult
from venom_replay.replay.explorer.state import BOOKKEEPING, ValueKey

RESOURCES: ValueKey = (BOOKKEEPING, "values by resource")
"""Where a path keeps its ``ResourceValues`` among its values."""
MAX_PER_SOURCE = 64
"""Values kept per source: the newest; an older resource's version is rarely sent back that late."""
_ID_LOCATIONS = ("path", "query", "body", "form")
_MISSING: Any = object()


def _spelling(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def id_key(producer: str, source: str, value: Any) -> str:
    """One id as a resource key: the same value from another kind of producer is another resource."""
    return f"id:{producer}|{source}={_spelling(value)}"


@dataclass(frozen=True, slots=True)
class ScopedSources:
    """Which produced values are per resource, and which are ids that name a resource."""

    scoped: frozenset[ValueKey]
    """(producer, source) pairs that some ``same_resource`` binding reads."""
    ids: Mapping[ValueKey, frozenset[str]]
    """(producer, source) pairs bound into paths, queries or bodies, with the transforms applied to them."""

    @classmethod
    def of(cls, tset: TemplateSet) -> ScopedSources:
        scoped: set[ValueKey] = set()
        ids: dict[ValueKey, set[str]] = {}
        for tpl in tset.templates.values():
            for c in tpl.consumes:
                if c.same_resource:
                    scoped.add((c.producer, c.source))
                elif c.location.split(":", 1)[0] in _ID_LOCATIONS:
                    ids.setdefault((c.producer, c.source), set()).add(c.transform)
        return cls(frozenset(scoped), {k: frozenset(v) for k, v in ids.items()})

    def request_keys(self, path: str, consumed: Mapping[str, BoundUse]) -> frozenset[str]:
        """The resource a request is about: its path, and the ids it carries."""
        keys = {f"path:{path.split('?', 1)[0]}"}
        for loc, use in consumed.items():
            if loc.split(":", 1)[0] in _ID_LOCATIONS and (use.producer, use.source) in self.ids:
                keys.add(id_key(use.producer, use.source, use.value))
        return frozenset(keys)

    def answer_keys(self, step: StepResult) -> frozenset[str]:
        """The resource an answer is about: its request's, plus the ids the answer produced."""
        keys = set(self.request_keys(step.request.path, step.consumed))
        for source, value in step.produced.items():
            for transform in self.ids.get((step.template.id, source), ()):
                try:
                    keys.add(id_key(step.template.id, source, apply_transform(transform, value)))
                except VenomError:
                    continue
        return frozenset(keys)


@dataclass(frozen=True, slots=True)
class ResourceValues:
    """Per-resource values produced on one path (immutable: branches share it)."""

    by_source: Mapping[ValueKey, tuple[tuple[frozenset[str], Any], ...]]

    def with_answer(self, sources: Iterable[ValueKey], values: Mapping[ValueKey, Any], keys: frozenset[str]) -> ResourceValues:
        """Also the values of ``sources`` that ``values`` holds, about the resource ``keys``."""
        out = dict(self.by_source)
        for source in sources:
            if source in values:
                kept = out.get(source, ())[-(MAX_PER_SOURCE - 1):]
                out[source] = (*kept, (keys, values[source]))
        return ResourceValues(out)

    def latest(self, source: ValueKey, keys: frozenset[str]) -> Any:
        """The newest value of ``source`` about a resource that shares one of ``keys``; _MISSING if none."""
        for about, value in reversed(self.by_source.get(source, ())):
            if about & keys:
                return value
        return _MISSING


def latest_for(values: Mapping[ValueKey, Any], source: ValueKey, keys: frozenset[str]) -> tuple[bool, Any]:
    """(found, value): ``source``'s newest value on this path about the resource ``keys``."""
    store = values.get(RESOURCES)
    if not isinstance(store, ResourceValues):
        return False, None
    value = store.latest(source, keys)
    return (value is not _MISSING), value


def remember(values: dict[ValueKey, Any], scoped: ScopedSources, step: StepResult) -> None:
    """Add what ``step`` produced for per-resource sources to ``values``' store (in place)."""
    sources = [(step.template.id, s) for s in step.produced if (step.template.id, s) in scoped.scoped]
    if not sources:
        return
    store = values.get(RESOURCES)
    store = store if isinstance(store, ResourceValues) else ResourceValues({})
    values[RESOURCES] = store.with_answer(sources, values, scoped.answer_keys(step))
