"""The shop's planted bugs as data, so the demo can say which of them a run's findings caught.

``venom-replay demo`` matches every finding of report.json against ``PLANTED_BUGS``: a built-in
checker's finding by its checker and last step, a learned invariant's finding by its message and the
call that did the damage. The bugs themselves sit in the route modules, each marked ``BUG``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["PLANTED_BUGS", "PlantedBug"]


def _call(step: dict[str, Any]) -> str:
    """``METHOD /concrete/path`` of one step of a finding's sequence."""
    return f"{step['method']} {step['path']}"


@dataclass(frozen=True)
class PlantedBug:
    """A bug planted in the buggy shop, and what a finding that caught it looks like."""

    name: str
    sequence: str
    """The shortest story that shows it, in words."""
    checkers: frozenset[str]
    """Built-in checkers that catch it."""
    last_step: str
    """Regex over ``METHOD /concrete/path`` of such a finding's last step."""
    learned_message: str | None = None
    """Regex over a ``learned`` finding's message when a learned invariant shows this bug's damage."""
    cause_step: str | None = None
    """Regex over ``METHOD /concrete/path`` of a step a learned finding's sequence must contain."""
    cause_repeats: int = 1
    """How many times the cause step must occur on the same path (2 for a double refund)."""

    def caught_by(self, finding: dict[str, Any]) -> bool:
        """Whether a finding of report.json is this bug."""
        steps = finding.get("sequence") or []
        if not steps:
            return False
        if finding.get("checker") == "learned":
            return self._learned_shows_it(finding, steps)
        if finding.get("checker") not in self.checkers:
            return False
        return re.fullmatch(self.last_step, _call(steps[-1])) is not None

    def _learned_shows_it(self, finding: dict[str, Any], steps: list[dict[str, Any]]) -> bool:
        # A learned invariant names fields, not bugs: it counts for this bug only when its message is
        # about this bug's fields and the sequence contains the call that does the damage.
        if self.learned_message is None or self.cause_step is None:
            return False
        if not re.search(self.learned_message, finding.get("message", "")):
            return False
        causes = Counter(_call(s) for s in steps
                         if re.fullmatch(self.cause_step, _call(s)) and 200 <= s["status"] < 300)
        return any(n >= self.cause_repeats for n in causes.values())


PLANTED_BUGS: tuple[PlantedBug, ...] = (
    PlantedBug("double refund", "pay an order, refund it, refund it again (refunded > amount)",
               frozenset({"repeated-success"}), r"POST /orders/\d+/refund",
               learned_message=r"refunded", cause_step=r"POST /orders/\d+/refund", cause_repeats=2),
    PlantedBug("read after delete", "delete an order, then GET it: still 200",
               frozenset({"use-after-delete"}), r"GET /orders/\d+"),
    PlantedBug("deleted item still listed", "delete an order or a product, then list them: still there",
               frozenset({"deleted-still-listed"}), r"GET /(orders|products)",
               learned_message=r"deleted|listed", cause_step=r"DELETE /(orders|products)/\d+"),
    PlantedBug("access after demotion", "leave the admins group, then use the old token for an admin write",
               frozenset({"access-after-revoke"}), r"(POST|PATCH|PUT|DELETE) /(products|users|groups)\S*"),
)
