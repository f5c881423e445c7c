"""The run's time limit, shared between its phases, so that ``--time-limit`` holds for the whole run.

Every phase sends requests: the replay of the recording, the search, shrinking the findings and
confirming them. A limit that covered only the search let the rest come on top (243 s wall for
``--time-limit 60`` on MLflow). How the one limit is shared:

- the replay of the recording may use up to ``RECORDED_SHARE`` of it (the rest is not replayed; the
  replay agreement says how many steps were);
- the search stops early enough to leave ``RESERVE_SHARE`` of the time that was left when it started,
  and at least twice what replaying every finding once costs, for shrinking and confirming them;
- shrinking stops while there is still time to confirm every finding once; a finding not shrunk in
  time is reported as found, with a note; one not confirmed in time is reported with a note too;
- no step starts after the limit (the step runner refuses to send it), so the run ends within one
  step's timeout of the limit, plus the final restore of the databases.
"""

from __future__ import annotations

import time

RECORDED_SHARE = 0.5
RESERVE_SHARE = 0.25
STEP_GUESS = 0.05
"""Seconds per step assumed before any was measured."""


class Budget:
    """Deadlines of one run; ``limit`` None: no time limit."""

    def __init__(self, limit: float | None, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self.limit = limit
        self.end = None if limit is None else self.started + limit
        self.step_seconds = STEP_GUESS
        """Running mean of one step's duration (request and checks), for estimates."""
        self._steps = 0
        self.cut: set[str] = set()
        """Phases the limit cut short (``recorded``, ``search``, ``shrink``, ``confirm``)."""

    def note_step(self, seconds: float) -> None:
        self._steps += 1
        self.step_seconds += (seconds - self.step_seconds) / min(self._steps, 50)

    def left(self) -> float:
        return float("inf") if self.end is None else self.end - time.monotonic()

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def cost(self, steps: int) -> float:
        """About how long ``steps`` steps take (plus one restore)."""
        return (steps + 1) * self.step_seconds

    def recorded_over(self) -> bool:
        """The replay of the recording has used its share."""
        return self.end is not None and time.monotonic() >= self.started + RECORDED_SHARE * self.limit

    def search_deadline(self, reserve_steps: int, *, search_started: float) -> float | None:
        """When the search must stop: the end, less what shrinking and confirming the findings need."""
        if self.end is None:
            return None
        reserve = max(RESERVE_SHARE * (self.end - search_started), 2 * self.cost(reserve_steps))
        return self.end - reserve

    def affords(self, steps: int, *, keep: float = 0.0) -> bool:
        """Whether ``steps`` steps still fit, leaving ``keep`` seconds for what must come after."""
        return self.left() - keep >= self.cost(steps)
