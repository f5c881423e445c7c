"""What the coordinator and the workers send each other: plain, picklable data (over a pipe to a local
process, or through Ray's object store to an actor on another machine)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venom_replay.replay.explorer.state import StateNode
from venom_replay.replay.explorer.steps import StepOutcome
from venom_replay.replay.findings import Action, Finding


@dataclass(slots=True)
class JobFile:
    """A file the job needs, carried by value: a worker on another machine has no access to ours."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: str | Path | None) -> JobFile | None:
        if path is None:
            return None
        p = Path(path)
        return cls(p.name, p.read_bytes())


@dataclass(slots=True)
class WorkerJob:
    """Everything one worker needs to explore its replica like a single-process run would."""

    recording: JobFile
    start_state: JobFile | None
    """The recording's start state (``<recording>.start``), when it has one."""
    config: Any
    """The ``VenomConfig`` the coordinator loaded (host chosen, OpenAPI document named)."""
    openapi: JobFile | None
    invariants: JobFile | None
    auth: tuple[str, ...]
    options: Any
    """The ``ExploreOptions`` of the run."""
    target: str
    """This worker's replica of the API."""
    db_urls: list[str]
    """This worker's replica of each database, in --db order."""
    index: int = 0
    origin_db_urls: list[str] = field(default_factory=list)
    """The run's --db URLs (the databases this replica's are copies of): the recording's start state
    is matched to them."""


@dataclass(slots=True)
class StartReport:
    """A worker after its start: the baseline, the replay of the recording, the prefix roots."""

    index: int
    root: StateNode
    prefix_roots: list[StateNode]
    agreement: dict[str, Any] | None
    """The replay of the recording (``ReplayAgreement.as_dict()``); None when it was not replayed."""
    like_recording: bool
    replay_fingerprint: str
    """The databases' fingerprint after the replay of the recording: equal on every replica unless the
    API writes values of its own making (random tokens), which then make its states replica-specific."""
    branching: bool
    """The replica's adapters restore any checkpoint (no path is re-executed): states can move between replicas."""
    confirmed_steps: int
    suppressed: dict[str, str]
    checkers: list[str]
    notes: list[str]
    """Set-up notes (start state, adapters) for the report."""
    seconds: float


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A state the worker has already: one it reached itself (``tag``: the unit and the action that led
    to it, ``("start", i)`` for its i-th prefix root, ``("root",)`` for the baseline). Sent instead of
    the node: a prefix root carries the answers of the whole recorded prefix."""

    key: str
    tag: tuple


@dataclass(slots=True)
class ExpandUnit:
    """Expand one state: run ``actions`` from it, in order."""

    seq: int
    lineage: list[StateNode | NodeRef]
    """The coordinator's nodes from the root to the state to expand (the last): what the worker needs
    to reach it by re-execution when it holds no checkpoint of it."""
    actions: list[Action]
    seconds_left: float | None
    """The search's deadline as seconds from when the unit was sent (None: no time limit)."""
    release: list[tuple] = field(default_factory=list)
    """Tags of states this worker reached that the search merged into another visit: forget them."""


@dataclass(slots=True)
class UnitResult:
    seq: int
    worker: int
    outcomes: list[StepOutcome] = field(default_factory=list)
    """One per action run, in order; fewer than asked when the state could not be reached, the
    deadline came, or the target went down."""
    refreshed: dict[str, tuple[dict, tuple]] = field(default_factory=dict)
    """States on the lineage whose path was re-executed to reach them: their new (values, results)."""
    unreachable: bool = False
    """The state's path no longer replays: its remaining actions were not run."""
    target_down: bool = False
    seconds: float = 0.0


@dataclass(slots=True)
class ConcludeRequest:
    """For the one worker that shrinks and confirms: the merged search to work on."""

    graph: Any
    """The merged ``StateGraph``; None: the one the worker took for the mutation phase."""
    findings: list[Finding]
    shrink: bool


@dataclass(slots=True)
class WorkerSummary:
    """A worker's last word: its part of the run, and whether its databases were restored."""

    index: int
    transitions: int
    seconds: float
    """Time spent expanding states (the search phase's busy time)."""
    units: int
    db_restored: bool | None
    warnings: list[tuple[str, str]]
    warning_counts: dict[str, int]
    findings: list[Finding] | None = None
    """From the concluding worker: the findings shrunk and confirmed; None from the others."""
    minimize_runs: int = 0
    dropped_invariants: list[Any] = field(default_factory=list)
    invariant_errors: list[str] = field(default_factory=list)
    time_cut: list[str] = field(default_factory=list)
    stopped: str | None = None
    """Set when the concluding phases stopped early (target down, a database lost)."""


def relink(results: Iterable, tset: Any) -> tuple:
    """Steps that came from another process carry a copy of their template: use ours (one copy in
    memory, and ``is`` comparisons hold)."""
    out = tuple(results)
    for step in out:
        tpl = tset.templates.get(getattr(step.template, "id", None))
        if tpl is not None:
            step.template = tpl
    return out
