"""The checker interface: what every invariant check sees after each explored step, and what it reports.

Built-in checkers (server errors, shape, use after delete, ...), learned oracles and user invariants
all implement ``Checker``. The explorer calls ``check`` after every step and turns violations into
findings (minimised, bucketed by ``signature``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet


@dataclass(frozen=True, slots=True)
class BoundUse:
    """One bound value as a request used it."""

    producer: str
    source: str
    value: Any
    """The value as the request carried it (after the binding's transform, e.g. the id in a Location)."""


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A step's template while the step travels to another process: its id only (templates are large
    and both sides have them); the receiver puts its own back (replay/scale/messages.py ``relink``)."""

    id: str


@dataclass(slots=True)
class StepResult:
    """One executed step on the current path."""

    template: ActionTemplate
    request: Request
    response: Response | None
    error: str | None = None
    """Transport error (timeout, connection refused) when there is no response."""
    produced: dict[str, Any] = field(default_factory=dict)
    """Values this step's response yielded, by source (``body:$.id`` -> 17)."""
    consumed: dict[str, "BoundUse"] = field(default_factory=dict)
    """Bound values this step's request used, by location (``path:order_id``): which producer's
    value went where, so checkers can tell that two calls touched the same resource."""
    mutation: Any = None
    """The value mutation this step's request carried (replay/mutations' ``Mutation``); None: the
    request was rendered unchanged."""
    memo: dict[str, Any] = field(default_factory=dict)
    """What checkers noted about this step for the steps after it on the same path (user invariants:
    which step first broke what). Kept on the step, not in the checker, so that it travels with the
    path when a path is expanded in another process."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        template = TemplateRef(self.template.id) if isinstance(self.template, ActionTemplate) else self.template
        return (StepResult, (template, self.request, self.response, self.error, self.produced, self.consumed,
                             self.mutation, self.memo))


@dataclass(slots=True)
class StepContext:
    step: StepResult
    """The step just executed (also ``path[-1]``)."""
    path: Sequence[StepResult]
    """Every step from the start of this branch, this one last."""
    values: Mapping[tuple[str, str], Any]
    """Values bound so far on this path, keyed by (producer template id, source)."""
    templates: TemplateSet
    databases: Mapping[str, Any] = field(default_factory=dict)
    """Database handles by adapter URL, for checks that read the database."""
    replays_recorded_path: bool = False
    """True when this path is a sequence the recording itself contained (used to confirm oracles)."""
    content_changed: Callable[[], bool | None] | None = None
    """Asked lazily (one fingerprint): whether this step changed the databases' content, volatile
    columns left out; None (or a None answer): not known (no database, no fingerprint before the step)."""


@dataclass(slots=True)
class Violation:
    checker: str
    message: str
    signature: str
    """Bucket key: one root cause, one signature (e.g. ``use-after-delete:GET /orders/{order_id}``)."""
    details: dict[str, Any] = field(default_factory=dict)


class Checker(Protocol):
    name: str

    def check(self, ctx: StepContext) -> list[Violation]: ...
