"""Wall seconds per phase of an explore run, for report.json's ``phase_seconds`` and summary.md.

The phases: ``start`` (installing the rollback, the start state; with workers also each replica's
replay of the recording), ``replay`` (the recording, replayed once), ``search``, ``mutations``,
``findings`` (minimising and confirming them) and ``restore`` (the databases put back at the end).
A phase that did not run is absent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

PHASES = ("start", "replay", "search", "mutations", "findings", "restore")


class PhaseClock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        assert phase in PHASES, phase
        started = time.monotonic()
        try:
            yield
        finally:  # an interrupted phase took its time too
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.monotonic() - started

    def report(self) -> dict[str, float]:
        """The phases in the order they run, rounded to milliseconds."""
        return {p: round(self.seconds[p], 3) for p in PHASES if p in self.seconds}

