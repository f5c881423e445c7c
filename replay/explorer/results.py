"""What an exploration returns, and the limits it runs under.

Kept apart from the explorer so that the reports, the command line and the benchmarks can read a
result without importing the machinery that produced it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from venom_replay.replay.explorer.state import StateGraph
from venom_replay.replay.findings import Finding
from venom_replay.replay.options import DEFAULTS


class StopReason(enum.StrEnum):
    """Why the search ended. A str: report.json and comparisons with plain strings keep working."""

    COMPLETE = "complete"
    MAX_TRANSITIONS = "max-transitions"
    TIME_LIMIT = "time-limit"
    INTERRUPTED = "interrupted"
    TARGET_DOWN = "target-down"
    DATABASE_LOST = "database-lost"
    """Our connection to a database went away mid-run: the run ended there, its findings kept."""
    UNLIKE_RECORDING = "unlike-recording"
    """The replay of the recording showed a target that does not answer like the recorded API: not searched."""


@dataclass(slots=True)
class Limits:
    """Where the search stops; the defaults are ``ExploreOptions``'."""

    depth: int = DEFAULTS.depth
    max_transitions: int = DEFAULTS.max_transitions
    time_limit: float | None = DEFAULTS.time_limit
    """Seconds for the whole run, shared between its phases (see budget.py)."""
    prefix_depth: int = DEFAULTS.prefix_depth
    """Longest explored sequence after a recorded prefix (the baseline's is ``depth``)."""
    recorded_steps: int = DEFAULTS.max_recorded_steps
    """At most this many recorded steps are replayed before the search."""
    min_agreement: float = DEFAULTS.min_agreement
    """Below this share of replayed recorded steps with their recorded status class, no search."""


@dataclass(slots=True)
class ExploreStats:
    """Progress as the ``progress`` callback sees it while the run goes on."""

    phase: str = "starting"
    states: int = 0
    transitions: int = 0
    findings: int = 0
    elapsed: float = 0.0
    workers: list[tuple[int, int, float]] = field(default_factory=list)
    """With several workers: (index, transitions, transitions per second of its busy time) each."""

    @property
    def rate(self) -> float:
        return self.transitions / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(slots=True)
class ExploreResult:
    states: int
    transitions: int
    findings: list[Finding]
    warnings: list[str]
    db_restored: bool | None
    """True: the databases hold exactly what they held before; None: no database was given."""
    graph: StateGraph
    strategy: str
    depth: int
    elapsed: float
    stopped: StopReason
    """Why the search ended."""
    target: str = ""
    databases: list[str] = field(default_factory=list)
    checkers: list[str] = field(default_factory=list)
    dropped_invariants: list[Any] = field(default_factory=list)
    confirmed_steps: int = 0
    suppressed: dict[str, str] = field(default_factory=dict)
    """Signatures the recording itself showed (not reported), with the reason."""
    minimize_runs: int = 0
    recording: str = ""
    openapi: str | None = None
    """The OpenAPI document the templates were joined with (``--openapi``), for ``reproduce``."""
    search_seconds: float = 0.0
    """Time spent in the search phase alone (without install, confirmation, minimisation, restore)."""
    prefix_roots: int = 0
    """States reached by prefixes of the recorded replay that the search also started from."""
    replay_agreement: dict[str, Any] | None = None
    """``{"steps": N, "same_status_class": M, "recorded": R, "first_mismatches": [...], "min_agreement":
    0.5, "like_recording": bool, "unanswered": bool}``: how many recorded steps the replay of the
    recording sent, how many answered with the recorded status class, and whether that is enough for
    the target to count as the recorded API (None: the recording was not replayed)."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per phase (replay/explorer/phases.py): start, replay, search, mutations, findings, restore."""
    time_cut: list[str] = field(default_factory=list)
    """Phases the time limit cut short (``recorded``, ``search``, ``mutations``, ``shrink``, ``confirm``)."""
    mutations: dict[str, Any] | None = None
    """What the mutation phase did (replay/mutations/run.py ``MutationStats``); None: it did not run."""
    workers: list[dict[str, Any]] | None = None
    """With --workers: each worker's replica, transitions, busy seconds and rate; None: one explorer."""
    invariant_errors: list[str] = field(default_factory=list)
    """User invariants that could not run during the run (each said once; none of them is a finding)."""

    @property
    def like_recording(self) -> bool:
        """False when the replay of the recording showed a target unlike the recorded API."""
        return self.replay_agreement is None or self.replay_agreement.get("like_recording", True)

    @property
    def interrupted(self) -> bool:
        return self.stopped == StopReason.INTERRUPTED
