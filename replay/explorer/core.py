"""The explorer: run orderings of recorded calls against the live API, restoring the databases
between branches, checking every step, and reporting minimal reproductions.

How one run goes:

1. Install the rollback machinery, take the baseline checkpoint and fingerprint.
2. Confirmation: replay each recorded session as recorded. Learned oracles drop the invariants the
   recording itself breaks; a built-in violation seen here is the API's normal behaviour and is not
   reported later (a warning says so).
3. Search (bfs / dfs / coverage) over states = database fingerprints + bound values. An action is a
   template whose consumed values are all bound on the path. After every step: checkers, then the
   new state is merged with an equal known one or queued.
4. The first execution of each template is run twice from the same restored state: answers that
   differ outside volatile fields reveal state the rollback cannot reach (caches, files).
5. Each finding bucket's sequence is shrunk by re-execution from the baseline.
6. Always (errors and Ctrl-C included): restore the baseline, compare the fingerprint with the one
   taken at the start (``db_restored``), remove the machinery.

Reaching a state that is not an ancestor of the present: an adapter that can keep what it undoes
(``enable_branch_restore()``, the PostgreSQL journal) gets one checkpoint per state that will be
expanded, taken in the same round trip as the step's fingerprint (``snapshot()``), and going to a
state is one restore (undo to the branch point, redo the rest) with no request re-sent. Other
journal adapters undo but cannot redo, so the explorer keeps a stack of checkpoints along the
present lineage, restores the deepest one that lies on the target's path, and re-executes the rest
of that path.
"""

from __future__ import annotations

import itertools
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from venom_replay.adapters.base import Adapter, CannotRestore, Checkpoint
from venom_replay.proxy.infer.instantiate import apply_transform, extract_values, missing_values, render_request
from venom_replay.proxy.recording import Exchange, read_recording
from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.redact import is_secret_field, is_secret_header
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet

from venom_replay.replay.checkers.base import BoundUse, Checker, StepContext, StepResult, Violation
from venom_replay.replay.findings import Action, Finding, FindingBook
from venom_replay.replay.http_client import HttpClient
from venom_replay.replay.explorer.minimize import minimize
from venom_replay.replay.options import DEFAULTS, STRATEGIES
from venom_replay.replay.explorer.search import CoverageGuided, Frontier, make_frontier
from venom_replay.replay.explorer.state import StateGraph, StateNode, state_key, volatile_sources

ValueKey = tuple[str, str]

MAX_CONFIRM_STEPS_PER_SESSION = 60
MAX_CONFIRM_STEPS = 400
MAX_WARNINGS_PER_KIND = 5
@dataclass(slots=True)
class Limits:
    """Where the search stops; the defaults are ``ExploreOptions``'."""

    depth: int = DEFAULTS.depth
    max_transitions: int = DEFAULTS.max_transitions
    time_limit: float | None = DEFAULTS.time_limit
    """Seconds for the search phase; minimisation and the final restore come on top."""
    prefix_depth: int = DEFAULTS.prefix_depth
    """Longest explored sequence after a recorded prefix (the baseline's is ``depth``)."""


@dataclass(slots=True)
class ExploreStats:
    phase: str = "starting"
    states: int = 0
    transitions: int = 0
    findings: int = 0
    elapsed: float = 0.0

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
    stopped: str
    """Why the search ended: ``complete``, ``max-transitions``, ``time-limit``, ``interrupted``, ``target-down``."""
    target: str = ""
    databases: list[str] = field(default_factory=list)
    checkers: list[str] = field(default_factory=list)
    dropped_invariants: list[Any] = field(default_factory=list)
    confirmed_steps: int = 0
    suppressed: dict[str, str] = field(default_factory=dict)
    """Signatures the recording itself showed (not reported), with the reason."""
    minimize_runs: int = 0
    recording: str = ""
    search_seconds: float = 0.0
    """Time spent in the search phase alone (without install, confirmation, minimisation, restore)."""
    prefix_roots: int = 0
    """States reached by recorded session prefixes that the search also started from."""

    @property
    def interrupted(self) -> bool:
        return self.stopped == "interrupted"


class _NoDatabase(Adapter):
    """Stand-in when no --db is given: nothing is checkpointed, nothing is rolled back."""

    def __init__(self) -> None:
        super().__init__("none")

    def install(self) -> None: ...

    def checkpoint(self) -> Checkpoint:
        return Checkpoint("none", None)

    def restore(self, token: Checkpoint) -> None: ...

    def fingerprint(self) -> str:
        return ""

    def uninstall(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _PrefixEnd:
    """A state a recorded session reached during the confirmation replay: a candidate search root."""

    session: str
    actions: tuple[Action, ...]
    results: tuple[StepResult, ...]
    values: dict[ValueKey, Any]
    fingerprint: str
    checkpoint: Checkpoint | None
    session_end: bool


@dataclass(slots=True)
class _Frame:
    key: str
    checkpoint: Checkpoint
    fingerprint: str


class _Warnings:
    """Warnings for the report; repeated kinds are capped and counted instead of flooding it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._counts: dict[str, int] = {}

    def add(self, kind: str, line: str) -> None:
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        if n <= MAX_WARNINGS_PER_KIND:
            self.lines.append(line)

    def finish(self) -> list[str]:
        out = list(self.lines)
        for kind, n in self._counts.items():
            if n > MAX_WARNINGS_PER_KIND:
                out.append(f"{n - MAX_WARNINGS_PER_KIND} more warnings of kind {kind!r} not shown")
        return out


# ------------------------------------------------------------------ identities and examples

_IDENTITY_FIELD = re.compile(r"(^|_)(user(name)?|login|email|account)($|_)", re.I)


def _identity_signature(req: Any) -> tuple:
    """What says who is calling: credential headers and user-name-like body fields."""
    parts: list[tuple[str, str]] = [(k.lower(), v) for k, v in req.headers if is_secret_header(k)]
    data = req.json() if req is not None else None
    if isinstance(data, dict):
        parts += [(k, str(v)) for k, v in data.items() if _IDENTITY_FIELD.search(k) or is_secret_field(k)]
    return tuple(sorted(parts))


def identity_examples(template: ActionTemplate) -> list[int]:
    """One example index per distinct recorded identity of this template (the first is the default)."""
    seen: dict[tuple, int] = {}
    for i, req in enumerate(template.example_requests or []):
        seen.setdefault(_identity_signature(req), i)
    return sorted(seen.values()) or [0]


def build_actions(tset: TemplateSet, *, swap_identities: bool = False) -> list[Action]:
    """Every action the explorer may take; with identity swapping, one per recorded identity."""
    actions: list[Action] = []
    for tid, tpl in tset.templates.items():
        examples = identity_examples(tpl) if swap_identities else [0]
        actions.extend(Action(tid, ex) for ex in examples[:4])
    return actions


def _closest_example(template: ActionTemplate, recorded: Exchange | None) -> int:
    """The example request that matches a recorded exchange best (same inputs, same identity)."""
    if recorded is None or not template.example_requests:
        return 0
    want = recorded.request
    best, best_score = 0, -1
    for i, req in enumerate(template.example_requests):
        score = (2 if req.body == want.body else 0) + (1 if req.query == want.query else 0) + (
            1 if _identity_signature(req) == _identity_signature(want) else 0) + (1 if req.path == want.path else 0)
        if score > best_score:
            best, best_score = i, score
    return best


# ------------------------------------------------------------------ comparing answers

_TOKENISH = re.compile(r"^[A-Za-z0-9_\-+/=.]{16,}$")
_TIMEISH = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _normalise(value: Any, path: str, volatile: set[str]) -> Any:
    if path in volatile:
        return "<volatile>"
    if isinstance(value, dict):
        from venom_replay.proxy.infer.values import child_key

        return {k: _normalise(v, child_key(path, k), volatile) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, f"{path}[{i}]", volatile) for i, v in enumerate(value)]
    if isinstance(value, str) and (_TIMEISH.match(value) or (_TOKENISH.match(value) and any(c.isdigit() for c in value))):
        return "<token-or-time>"
    if isinstance(value, float) and value > 1e9:  # a unix time
        return "<time>"
    return value


def _volatile_paths(template: ActionTemplate) -> set[str]:
    vol = {v for v in template.volatile if v.startswith("$")}
    # A list's item path is recorded once with [*]; the explicit indexes should match it too.
    return vol | {re.sub(r"\[\*\]", "[0]", v) for v in vol}


def answer_digest(step: StepResult) -> Any:
    """A comparable form of one answer: status and body, volatile and token-like values masked."""
    if step.response is None:
        return ("error", step.error)
    data = step.response.json()
    vol = _volatile_paths(step.template)
    if data is None:
        return (step.response.status, len(step.response.body))
    return (step.response.status, _normalise(data, "$", {re.sub(r"\[\d+\]", "[0]", v) for v in vol}))


def _differences(a: Any, b: Any, path: str = "$", out: list[str] | None = None) -> list[str]:
    out = [] if out is None else out
    if len(out) >= 3:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            _differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _differences(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {str(a)[:60]} then {str(b)[:60]}")
    return out


# ------------------------------------------------------------------ the explorer


class Explorer:
    """One exploration run over one API and its databases (use ``explore()`` for the whole job)."""

    def __init__(
        self,
        tset: TemplateSet,
        client: HttpClient,
        db: Adapter | None,
        checkers: Sequence[Checker],
        *,
        databases: Mapping[str, Any] | None = None,
        swap_identities: bool = False,
        progress: Callable[[ExploreStats], None] | None = None,
        prefix_roots: int = DEFAULTS.prefix_roots,
    ) -> None:
        self.tset = tset
        self.max_prefix_roots = prefix_roots if db is not None else 0  # without rollback there is no state to go back to
        self.prefix_ends: list[_PrefixEnd] = []
        self.prefix_roots: list[StateNode] = []
        self.client = client
        self.rollback = db is not None
        self.db: Adapter = db if db is not None else _NoDatabase()
        self.checkers = list(checkers)
        self.databases = dict(databases or {})
        self.actions = build_actions(tset, swap_identities=swap_identities)
        self.volatile = volatile_sources(tset)
        self.var_of: dict[ValueKey, str] = {(t.id, p.source): p.var for t in tset.templates.values() for p in t.produces}
        self.progress = progress
        self.stats = ExploreStats()
        self.graph = StateGraph()
        self.book = FindingBook()
        self.warnings = _Warnings()
        self.suppressed: dict[str, str] = {}
        self.frames: list[_Frame] = []
        self.db_at: str | None = None
        self.dirty = False
        self.branching = False
        """The adapter restores any checkpoint (it redoes undone branches): no re-execution."""
        self.checkpoints: dict[str, Checkpoint] = {}
        """Branching mode: the checkpoint of every state that will be expanded."""
        self.db_base: str | None = None
        """The state whose checkpoint the databases were last put at (``dirty``: changed since)."""
        self.db_cp: Checkpoint | None = None
        """The checkpoint whose content the databases hold unless ``dirty``: a step that changed nothing
        leaves them at it, whichever state it led to."""
        self.limits = Limits()
        self.db_fp = ""
        self.root: StateNode | None = None
        self.probed: set[str] = set()
        self.checker_failures: set[str] = set()
        self.consecutive_errors = 0
        self.target_down = False
        self.minimize_runs = 0
        self.confirmed_steps = 0
        self.confirm_mismatches = 0
        self.search_seconds = 0.0
        self._started = time.monotonic()

    # ---------------------------------------------------------------- steps

    def template(self, tid: str) -> ActionTemplate:
        return self.tset.templates[tid]

    def effective_values(self, tpl: ActionTemplate, values: Mapping[ValueKey, Any]) -> Mapping[ValueKey, Any]:
        """``values`` plus stand-ins for missing bindings: a value of the same variable that another
        producer yielded on this path (the order id from ``POST /orders`` where the recording bound it
        from ``POST /orders/{id}/cancel``). Without them many orderings would never be enabled."""
        missing = missing_values(tpl, values)
        if not missing:
            return values
        out = dict(values)
        for c in missing:
            names = {c.var, re.split(r"[:.\[\]$]+", c.location)[-1] or c.var}
            for key in reversed(list(values)):
                if self.var_of.get(key) in names:
                    out[(c.producer, c.source)] = values[key]
                    break
        return out

    def enabled(self, action: Action, values: Mapping[ValueKey, Any]) -> bool:
        tpl = self.template(action.template)
        return not missing_values(tpl, self.effective_values(tpl, values))

    def runnable(self, action: Action, values: Mapping[ValueKey, Any]) -> bool:
        """A step of a recorded prefix runs as it was recorded: a value it took from another session
        (the product the admin created) is the recorded one, as when the prefix was first replayed."""
        return action.recorded_prefix or self.enabled(action, values)

    def run_step(self, action: Action, values: Mapping[ValueKey, Any]) -> StepResult:
        tpl = self.template(action.template)
        values = self.effective_values(tpl, values)
        request = render_request(tpl, values, example=action.example, base_url=self.client.target.base_url)
        with _FinishRequest():
            result = self.client.execute(tpl, request)
        for c in tpl.consumes:
            if (c.producer, c.source) in values:
                try:
                    used = apply_transform(c.transform, values[(c.producer, c.source)])
                except VenomError:
                    used = values[(c.producer, c.source)]
                result.consumed[c.location] = BoundUse(c.producer, c.source, used)
        if result.response is not None:
            try:
                result.produced = extract_values(tpl, result.response)
            except Exception as exc:  # a malformed reply must not stop the run
                self.warnings.add("extract", f"{tpl.label}: could not read produced values ({exc})")
            self.consecutive_errors = 0
        else:
            self.consecutive_errors += 1
            if self.consecutive_errors >= 3 and "unreachable" in (result.error or ""):
                self.target_down = True
        return result

    @staticmethod
    def bind(values: Mapping[ValueKey, Any], result: StepResult) -> dict[ValueKey, Any]:
        new = dict(values)
        for source, value in result.produced.items():
            new.pop((result.template.id, source), None)  # re-insert: the newest binding comes last
            new[(result.template.id, source)] = value
        return new

    def check(self, result: StepResult, path: Sequence[StepResult], values: Mapping[ValueKey, Any], *,
              recorded: bool = False) -> list[Violation]:
        ctx = StepContext(step=result, path=path, values=values, templates=self.tset,
                          databases=self.databases, replays_recorded_path=recorded)
        found: list[Violation] = []
        for checker in self.checkers:
            try:
                found.extend(checker.check(ctx) or [])
            except Exception as exc:  # a broken user invariant is reported, and the run goes on
                name = getattr(checker, "name", type(checker).__name__)
                if name not in self.checker_failures:
                    self.checker_failures.add(name)
                    self.warnings.add("checker", f"checker {name} failed on {result.template.label}: {type(exc).__name__}: {exc}")
        return found

    def fingerprint(self) -> str:
        return self.db.fingerprint() if self.rollback else ""

    # ---------------------------------------------------------------- moving between states

    def _push_frame(self, key: str) -> None:
        """Make ``key`` (whose content the database holds now) restorable."""
        if self.frames and not self.dirty:
            top = self.frames[-1]
            self.frames.append(_Frame(key, top.checkpoint, top.fingerprint))  # same content, same token
        else:
            self.frames.append(_Frame(key, self.db.checkpoint(), self.db_fp))
        self.dirty = False
        self.db_cp = self.frames[-1].checkpoint

    def _restore(self, frame: _Frame) -> None:
        self.db.restore(frame.checkpoint)
        self.db_fp, self.db_cp = frame.fingerprint, frame.checkpoint
        self.dirty = False
        self.db_at = self.db_base = frame.key

    def goto(self, node: StateNode) -> bool:
        """Put the databases into ``node``'s state; False when its path no longer replays."""
        if not self.rollback:
            return True
        if self.branching:
            if self.db_at is not None and self.db_base == node.key and not self.dirty:
                self.db_at = node.key  # already there: a step that changed nothing came in between
                return True
            cp = self.checkpoints.get(node.key)
            if cp is not None and self.db.can_restore(cp):
                self._restore(_Frame(node.key, cp, node.fingerprint))
                return True
            # No checkpoint for it (should not happen): re-execute its path from the root.
            del self.frames[1:]
            self.db_at, self.dirty = None, True
        if self.db_at == node.key:
            if self.frames[-1].key != node.key:
                self._push_frame(node.key)
            return True
        on_path = {k: i for i, k in enumerate(node.lineage)}
        while len(self.frames) > 1 and self.frames[-1].key not in on_path:
            self.frames.pop()
        frame = self.frames[-1]
        # Not dirty only says nothing changed since the last checkpoint: a branch whose last step
        # changed nothing (a 404) still holds its own deeper content, not this frame's.
        if self.dirty or self.db_at is None or self.db_cp != frame.checkpoint:
            try:
                self._restore(frame)
            except CannotRestore:
                del self.frames[1:]
                frame = self.frames[0]
                self._restore(frame)
        self.db_at = frame.key
        # Re-execute the rest of the path (the states between were reached before, on a branch
        # whose journal is gone); their bound values are refreshed from the new answers.
        start = on_path[frame.key]
        values = dict(self.graph.nodes[frame.key].values)
        results = list(self.graph.nodes[frame.key].results)
        for i in range(start, len(node.lineage) - 1):
            nxt = self.graph.nodes[node.lineage[i + 1]]
            for action in _lineage_step(node, i):
                if not self.runnable(action, values):
                    self.warnings.add("replay", f"state {nxt.key}: {action} is no longer enabled when re-executing its path")
                    self.db_at, self.dirty = None, True
                    return False
                res = self.run_step(action, values)
                if res.response is None:
                    self.warnings.add("transport", f"re-executing the path to a state: {res.error}")
                    self.db_at, self.dirty = None, True
                    return False
                values = self.bind(values, res)
                results.append(res)
                self._after_write()
            nxt.values, nxt.results = dict(values), tuple(results)
            self.db_at = nxt.key
            self._push_frame(nxt.key)
        return True

    def _after_write(self) -> None:
        self._observe(with_checkpoint=False)

    def _observe(self, *, with_checkpoint: bool, then: StateNode | None = None) -> tuple[Checkpoint | None, str, bool]:
        """After a step: the new fingerprint (and a checkpoint of it), then, in branching mode, the
        databases put back to ``then`` — in one round trip when the adapter can. Returns the
        checkpoint, the fingerprint, and whether the databases are at ``then`` now."""
        if not self.rollback:
            return None, "", False
        target = self.checkpoints.get(then.key) if then is not None and self.branching else None
        if target is not None and self.db.can_restore(target):
            checkpoint, fp = self.db.snapshot(checkpoint=with_checkpoint, then_restore=target)
            self.db_fp, self.dirty, self.db_cp = then.fingerprint, False, target
            self.db_at = self.db_base = then.key
            return checkpoint, fp, True
        checkpoint, fp = self.db.snapshot(checkpoint=with_checkpoint)
        if fp != self.db_fp:
            self.dirty = True
        self.db_fp = fp
        return checkpoint, fp, False

    # ---------------------------------------------------------------- phases

    def start(self) -> None:
        self.branching = self.rollback and self.db.enable_branch_restore()
        self.db.install()
        if self.rollback:
            self.db_fp = self.db.fingerprint()
        root = StateNode(key=state_key([self.db_fp], {}, self.volatile), depth=0, fingerprint=self.db_fp,
                         values={}, path=(), lineage=())
        root.lineage = (root.key,)
        self.root = root
        self.graph.add_state(root, root=True)
        self.frames = [_Frame(root.key, self.db.checkpoint(), self.db_fp)]
        self.checkpoints[root.key] = self.frames[0].checkpoint
        self.db_at = self.db_base = root.key
        self.db_cp = self.frames[0].checkpoint
        self.baseline_fp = self.db_fp

    def _emit(self, phase: str) -> None:
        self.stats.phase = phase
        self.stats.states = len(self.graph)
        self.stats.findings = len(self.book)
        self.stats.elapsed = time.monotonic() - self._started
        if self.progress is not None:
            self.progress(self.stats)

    def confirm_recorded(self, recording_exchanges: Mapping[int, Exchange]) -> None:
        """Replay each recorded session as recorded, from the baseline."""
        budget = MAX_CONFIRM_STEPS
        for session, steps in self.tset.sessions.items():
            if budget <= 0 or self.target_down:
                break
            steps = [s for s in steps if s.template in self.tset.templates][:MAX_CONFIRM_STEPS_PER_SESSION]
            if not steps:
                continue
            self.goto_root()
            values: dict[ValueKey, Any] = {}
            path: list[StepResult] = []
            actions: list[Action] = []
            replayable = self.max_prefix_roots > 0
            for n, step in enumerate(steps, 1):
                budget -= 1
                recorded = recording_exchanges.get(step.seq)
                action = Action(step.template, _closest_example(self.template(step.template), recorded), recorded_prefix=True)
                res = self.run_step(action, values)
                self.confirmed_steps += 1
                self.dirty = True
                if res.response is None:
                    self.warnings.add("transport", f"replaying recorded session {session}: {res.error}")
                    break
                before = values
                values = self.bind(values, res)
                path.append(res)
                actions.append(action)
                # A prefix may end where the session ends, where it bound new values, or after a write
                # that succeeded (the state a second refund or a read after the delete starts from).
                wrote = res.response.status < 300 and self.template(step.template).method not in ("GET", "HEAD", "OPTIONS")
                if replayable and (n == len(steps) or wrote
                                   or any(before.get(k, _UNSET) != v for k, v in values.items())):
                    self._note_prefix_end(session, actions, path, values, session_end=n == len(steps))
                if recorded is not None and recorded.response is not None and recorded.response.status // 100 != res.response.status // 100:
                    self.confirm_mismatches += 1
                for v in self.check(res, path, values, recorded=True):
                    if v.checker != "learned" and v.signature not in self.suppressed:
                        self.suppressed[v.signature] = f"the recording itself shows it (session {session})"
                        self.warnings.add("suppressed", f"not reported: {v.message} — replaying recorded session {session} shows the same")
            self.db_at = None
        if self.confirm_mismatches:
            # Expected in part: the baseline already holds what the recording created (409 on a second
            # sign-up). Many of them mean the templates or the API changed.
            self.warnings.add("recorded-status", f"{self.confirm_mismatches} of {self.confirmed_steps} recorded steps answered "
                              "with another status class on replay than in the recording (the database already holds "
                              "what the recording created, values bound across sessions, or the API changed)")
        self._emit("confirming")

    def _note_prefix_end(self, session: str, actions: Sequence[Action], path: Sequence[StepResult],
                         values: Mapping[ValueKey, Any], *, session_end: bool) -> None:
        """Keep the state this recorded prefix reached (its content, and the values bound live in this
        replay) as a candidate search root. Branching adapters checkpoint it now; the others reach it
        later by re-executing the prefix from the baseline."""
        checkpoint, fp = self.db.snapshot(checkpoint=self.branching)
        self.db_fp = fp
        self.prefix_ends.append(_PrefixEnd(str(session), tuple(actions), tuple(path), dict(values), fp,
                                           checkpoint, session_end))

    def add_prefix_roots(self) -> list[StateNode]:
        """Turn the best prefix ends into search roots at depth 0, up to ``max_prefix_roots`` distinct
        states. Sessions with the same steps count once. Prefixes are grouped by their last call (after
        a refund, after a delete, at a session's end...) and the groups take turns, deepest prefix first,
        so the roots cover the most different recorded moments and no long session takes them all.
        A one-step prefix is what the search reaches anyway."""
        assert self.root is not None
        by_last: dict[tuple[str, bool], list[int]] = {}
        seen: set[tuple[str, ...]] = set()
        for i, end in enumerate(self.prefix_ends):
            steps = tuple(str(a) for a in end.actions)
            useful = len(steps) > 1 and (end.session_end or self.template(end.actions[-1].template).method != "GET")
            if steps in seen or not useful:
                continue
            seen.add(steps)
            by_last.setdefault((end.actions[-1].template, end.session_end), []).append(i)
        for ends in by_last.values():
            ends.sort(key=lambda i: -len(self.prefix_ends[i].actions))
        ranked = [i for turn in itertools.zip_longest(*by_last.values()) for i in turn if i is not None]
        for i in ranked:
            if len(self.prefix_roots) >= self.max_prefix_roots:
                break
            end = self.prefix_ends[i]
            key = state_key([end.fingerprint], end.values, self.volatile)
            if key in self.graph:
                continue  # the baseline or an equal prefix state: searched already
            node = StateNode(key=key, depth=0, fingerprint=end.fingerprint, values=dict(end.values), path=end.actions,
                             lineage=(self.root.key, key), results=end.results, prefix_len=len(end.actions))
            self.graph.add_state(node, prefix_root=True)
            self.graph.add_transition(self.root.key, key, template=f"recorded:{end.session}:{len(end.actions)}",
                                      label=f"recorded session {end.session}, {len(end.actions)} steps",
                                      status=end.results[-1].response.status if end.results[-1].response else None)
            if end.checkpoint is not None:
                self.checkpoints[key] = end.checkpoint
            self.prefix_roots.append(node)
        self.prefix_ends.clear()  # the unused checkpoints and answers are not needed any more
        return self.prefix_roots

    def goto_root(self) -> None:
        assert self.root is not None
        if self.rollback:
            del self.frames[1:]
            self._restore(self.frames[0])

    def search(self, strategy: str, limits: Limits, observed: Iterable[tuple[str, str]] = ()) -> str:
        assert self.root is not None
        frontier = make_frontier(strategy, observed)
        frontier.push(self.root)
        for node in self.add_prefix_roots():
            frontier.push(node)
        self.limits = limits
        deadline = None if limits.time_limit is None else time.monotonic() + limits.time_limit
        last_emit = 0.0
        while len(frontier):
            node = frontier.pop()
            if not self.expandable(node):
                continue
            actions = frontier.order_actions(node, [a for a in self.actions if self.enabled(a, node.values)])
            for i, action in enumerate(actions):
                if self.stats.transitions >= limits.max_transitions:
                    return "max-transitions"
                if deadline is not None and time.monotonic() >= deadline:
                    return "time-limit"
                if self.target_down:
                    return "target-down"
                if not self.goto(node):
                    break
                # Where the next step starts (this node again, or the next one to expand): its restore
                # can ride with this step's snapshot.
                then = node if i + 1 < len(actions) else frontier.peek(self.expandable)
                self._expand(node, action, frontier, then=then)
                now = time.monotonic()
                if now - last_emit > 0.2:
                    last_emit = now
                    self._emit("exploring")
        return "complete"

    def _depth_limit(self, node: StateNode) -> int:
        """States below a recorded prefix are searched less deep than the baseline's."""
        return min(self.limits.prefix_depth, self.limits.depth) if node.prefix_len else self.limits.depth

    def _budget(self, node: StateNode) -> int:
        return self._depth_limit(node) - node.depth

    def expandable(self, node: StateNode) -> bool:
        return self._budget(node) > 0

    def _expand(self, node: StateNode, action: Action, frontier: Frontier, *, then: StateNode | None = None) -> None:
        """Run ``action`` from ``node`` (the databases are there), check it, merge or queue the new
        state. ``then``: the state the next step starts from, restored in the same round trip as this
        step's fingerprint when the adapter can."""
        res = self.run_step(action, node.values)
        self.stats.transitions += 1
        tpl = res.template
        if isinstance(frontier, CoverageGuided):
            frontier.note(node.path[-1].template if node.path else None, action.template)
        if res.response is None:
            self.warnings.add("transport", f"branch stopped after {' -> '.join(map(str, node.path + (action,)))}: {res.error}")
            self.graph.add_transition(node.key, node.key, template=str(action), label=tpl.label, status=None)
            self.db_at, self.dirty = None, True
            return
        values = self.bind(node.values, res)
        path = node.results + (res,)
        # Checks first: user SQL invariants read the databases as the step left them.
        violations = [v for v in self.check(res, path, values) if v.signature not in self.suppressed]
        for v in violations:
            self.book.add(v, list(node.path) + [action], list(path))
        probe = self.rollback and tpl.id not in self.probed
        # The child will be expanded later: in branching mode its checkpoint comes with the fingerprint.
        checkpoint, fp, restored = self._observe(with_checkpoint=self.branching and node.depth + 1 < self._depth_limit(node),
                                                 then=node if probe else then)
        key = state_key([fp], values, self.volatile)
        child = StateNode(key=key, depth=node.depth + 1, fingerprint=fp, values=values,
                          path=node.path + (action,), lineage=node.lineage + (key,), results=path,
                          prefix_len=node.prefix_len)
        first_visit = self.graph.nodes.get(key)
        # A state first reached below a recorded prefix (searched less deep) and now from the baseline
        # with more depth to go is searched again from this visit, its checkpoint included.
        deeper = first_visit is not None and self._budget(child) > self._budget(first_visit)
        new = first_visit is None or deeper
        if first_visit is None:
            self.graph.add_state(child)
        elif deeper:
            self.graph.nodes[key] = child
        if checkpoint is not None and (key not in self.checkpoints or deeper):
            self.checkpoints[key] = checkpoint
            if not restored:
                self.db_base, self.dirty, self.db_cp = key, False, checkpoint  # exactly at that checkpoint
        self.graph.add_transition(node.key, key, template=str(action), label=tpl.label, status=res.response.status,
                                  findings=[v.signature for v in violations])
        if violations:
            self.graph.mark_finding_state(key)
        if not restored:
            # A merged state keeps the values of its first visit: when this visit bound other volatile
            # values (a fresh token the databases now hold), they are not at that state's content.
            self.db_at = key if self.graph.nodes[key].values == values else None
        if probe:
            self.probed.add(tpl.id)
            self._probe_determinism(node, action, res, key, fp, then)
        if new:
            novelty = 0
            if isinstance(frontier, CoverageGuided):
                prev = node.path[-1].template if node.path else None
                novelty = int(prev is not None and (prev, action.template) not in frontier.observed)
                novelty += int(res.response.status not in tpl.statuses)
            frontier.push(self.graph.nodes[key], novelty)

    def _probe_determinism(self, node: StateNode, action: Action, first: StepResult, after_key: str, after_fp: str,
                           then: StateNode | None) -> None:
        """Run the same step again from the same restored state; differences are unreachable state."""
        if not self.goto(node):
            return
        again = self.run_step(action, node.values)
        if again.response is None:
            self.db_at, self.dirty = None, True
            return
        _, fp, restored = self._observe(with_checkpoint=False, then=then)
        if not restored:
            # The second run bound its own tokens: the databases are at ``after_key`` only if equal.
            same = fp == after_fp and self.bind(node.values, again) == self.graph.nodes[after_key].values
            self.db_at = after_key if same else None
        # Only the answers are compared: a database fingerprint also differs for random tokens and
        # timestamps written by the step, which the rollback does undo.
        a, b = answer_digest(first), answer_digest(again)
        if a != b:
            diffs = _differences(a[1], b[1], "$") if a[0] == b[0] else [f"status {a[0]} then {b[0]}"]
            what = "; ".join(diffs) or "the body"
            self.warnings.add(
                "nondeterministic",
                f"{first.template.label}: the same step from the same restored state answered differently "
                f"({what}) — state the rollback cannot reach (in-memory cache, files, external calls) or a "
                f"volatile value; findings that involve it may not reproduce")

    # ---------------------------------------------------------------- reproducing and shrinking

    def replay(self, actions: Sequence[Action]) -> tuple[list[StepResult], list[Violation]] | None:
        """Run ``actions`` from the baseline; the violations of the last step, or None if it broke off."""
        self.goto_root()
        values: dict[ValueKey, Any] = {}
        path: list[StepResult] = []
        violations: list[Violation] = []
        for i, action in enumerate(actions):
            if not self.runnable(action, values):
                self.db_at, self.dirty = None, True
                return None
            res = self.run_step(action, values)
            self.dirty = True
            if res.response is None:
                self.db_at = None
                return None
            values = self.bind(values, res)
            path.append(res)
            if i == len(actions) - 1:
                violations = self.check(res, path, values)
        self.db_at = None
        return path, violations

    def shrink(self, finding: Finding, *, max_runs: int = 40) -> None:
        signature = finding.signature

        def reproduces(candidate: list[Action]) -> bool:
            self.minimize_runs += 1
            out = self.replay(candidate)
            return out is not None and any(v.signature == signature for v in out[1])

        smaller = minimize(finding.actions, reproduces, max_runs=max_runs)
        if len(smaller) < len(finding.actions):
            out = self.replay(smaller)
            if out is not None and any(v.signature == signature for v in out[1]):
                finding.actions, finding.steps = smaller, out[0]
                match = next(v for v in out[1] if v.signature == signature)
                finding.message, finding.details = match.message, dict(match.details)
        finding.minimized = True

    def confirm_findings(self) -> None:
        """Keep only findings that a replay of their sequence from the baseline shows again.

        The search reaches states by restores and re-executions; a finding whose steps were not one
        execution (or whose state was not what its path makes) would not reproduce for the user. The
        replay also gives the reported requests and answers: all from this one execution."""
        if not self.rollback:
            return
        dropped = 0
        for finding in self.book.ordered():
            out = self.replay(finding.actions)
            match = next((v for v in out[1] if v.signature == finding.signature), None) if out is not None else None
            if match is None:
                dropped += 1
                self.book.by_signature.pop(finding.signature, None)
                self.warnings.add("not-reproducible", f"not reported: {finding.message} — replaying its "
                                  f"{len(finding.actions)} steps from the start did not show it again (not reproducible)")
                continue
            finding.steps, finding.message, finding.details = out[0], match.message, dict(match.details)
        if dropped:
            self.warnings.add("not-reproducible-count", f"{dropped} finding(s) not reproducible from the start were left out")

    def finish(self) -> bool | None:
        """Restore the baseline and check it: True when the content equals the one before the run."""
        if not self.rollback:
            return None
        self.goto_root()
        return self.db.fingerprint() == self.baseline_fp


# ------------------------------------------------------------------ the whole job

_UNSET = object()


def _lineage_step(node: StateNode, i: int) -> tuple[Action, ...]:
    """The actions from ``node.lineage[i]`` to ``node.lineage[i + 1]``: one action, or the whole
    recorded prefix from the baseline to a prefix root."""
    k = node.prefix_len
    if k == 0:
        return (node.path[i],)
    return tuple(node.path[:k]) if i == 0 else (node.path[k + i - 1],)



def _recorded_exchanges(tset: TemplateSet) -> dict[int, Exchange]:
    if not tset.source:
        return {}
    try:
        return {ex.seq: ex for ex in read_recording(tset.source).exchanges}
    except VenomError:
        return {}


class _DeferSigint:
    """Hold Ctrl-C while the baseline is being restored, so a second Ctrl-C cannot cut it short."""

    def __enter__(self) -> _DeferSigint:
        self.pending = False
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, *_: object) -> None:
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


class _FinishRequest(_DeferSigint):
    """Let a request that is on its way finish before Ctrl-C takes effect: cut off mid-flight, the
    API would still commit its write after the final restore, and the database would keep it. A
    second Ctrl-C stops at once."""

    def _hold(self, *_: object) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.old is not None and self.pending and exc[0] is None:
            raise KeyboardInterrupt


def explore(
    tset: TemplateSet,
    target: str | HttpClient,
    adapters: Adapter | None,
    *,
    strategy: str = DEFAULTS.strategy,
    depth: int | None = None,
    limits: Limits | None = None,
    checkers: Sequence[Checker] = (),
    progress: Callable[[ExploreStats], None] | None = None,
    databases: Mapping[str, Any] | None = None,
    swap_identities: bool = False,
    confirm: bool = True,
    shrink: bool = True,
    timeout: float = DEFAULTS.timeout,
    prefix_roots: int = DEFAULTS.prefix_roots,
    recorded_exchanges: Mapping[int, Exchange] | None = None,
) -> ExploreResult:
    """Explore orderings of ``tset``'s templates against ``target`` with ``adapters`` rolled back.

    ``adapters`` is one Adapter (an AdapterGroup for several databases) that is installed here and
    uninstalled at the end; None explores without any rollback. The databases are restored to the
    pre-run content at the end, also after errors and KeyboardInterrupt, and that is checked.

    ``prefix_roots``: besides the baseline, the search also starts (at depth 0) from up to this many
    states reached by replaying recorded session prefixes (needs ``confirm`` and a database; 0: off),
    so a bug that needs a long recorded set-up (log in, order, pay) is a few explored steps away.
    Findings from there carry the prefix steps, marked ``recorded_prefix``.

    ``recorded_exchanges``: the recording's exchanges by sequence number, when the caller has read
    it already (else it is read from ``tset.source``).
    """
    from venom_replay.graph.transition import observed_pairs

    limits = limits or Limits()
    if depth is not None:
        limits.depth = depth
    if strategy not in STRATEGIES:
        raise VenomError(f"unknown strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    client = target if isinstance(target, HttpClient) else HttpClient(target, timeout=timeout)
    ex = Explorer(tset, client, adapters, checkers, databases=databases, swap_identities=swap_identities,
                  progress=progress, prefix_roots=prefix_roots if confirm else 0)
    if adapters is None:
        ex.warnings.add("no-db", "no --db given: nothing is rolled back; branches see each other's writes and the API keeps them")
    stopped = "complete"
    db_restored: bool | None = None
    installed = False
    try:
        ex.start()
        installed = True
        for note in getattr(adapters, "notes", []) or []:
            ex.warnings.add("adapter", str(note))
        if confirm:
            ex.confirm_recorded(recorded_exchanges if recorded_exchanges is not None else _recorded_exchanges(tset))
        search_start = time.monotonic()
        stopped = ex.search(strategy, limits, observed_pairs(tset))
        ex.search_seconds = time.monotonic() - search_start
        if shrink:
            ex._emit("minimising")
            for finding in ex.book.ordered():
                ex.shrink(finding)
        ex._emit("confirming findings")
        ex.confirm_findings()
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        if installed:
            with _DeferSigint():
                try:
                    db_restored = ex.finish()
                finally:
                    if adapters is not None:
                        adapters.uninstall()
        if client is not target:
            client.close()
    if ex.target_down and stopped != "interrupted":
        stopped = "target-down"
    if db_restored is False:
        ex.warnings.add("db", "the databases' content after the final restore differs from the content before the run")
    ex._emit("done")
    dropped: list[Any] = []
    for checker in ex.checkers:
        dropped.extend(getattr(checker, "dropped", []) or [])
    return ExploreResult(
        states=len(ex.graph),
        transitions=ex.stats.transitions,
        findings=ex.book.ordered(),
        warnings=ex.warnings.finish(),
        db_restored=db_restored,
        graph=ex.graph,
        strategy=strategy,
        depth=limits.depth,
        elapsed=time.monotonic() - ex._started,
        stopped=stopped,
        target=client.target.base_url,
        databases=[] if adapters is None else [getattr(adapters, "url", "")],
        checkers=[getattr(c, "name", type(c).__name__) for c in ex.checkers],
        dropped_invariants=dropped,
        confirmed_steps=ex.confirmed_steps,
        suppressed=dict(ex.suppressed),
        minimize_runs=ex.minimize_runs,
        recording=tset.source,
        search_seconds=ex.search_seconds,
        prefix_roots=len(ex.prefix_roots),
    )
