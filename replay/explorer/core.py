"""The explorer: the search over states, one step at a time, with the databases rolled back between
branches; and the shrinking and confirmation of what it finds.

How one run goes (``explore()`` in run.py drives it):

1. Install the rollback machinery, take the baseline checkpoint and fingerprint (position.py).
2. Confirmation: replay the recording itself, in its recorded order, each request as recorded with
   recorded values translated to live ones (confirm.py, translation.py); states where prefixes of
   that replay end may become extra search roots (prefix.py).
3. Search (bfs / dfs / coverage, search.py) over states = database fingerprints + bound values
   (state.py). An action is a template whose consumed values are all bound on the path. After every
   step (steps.py): checkers, then the new state is merged with an equal known one or queued.
4. The first execution of each template is run twice from the same restored state (probe.py).
5. Each finding bucket's sequence is shrunk by re-execution from the baseline (minimize.py), and
   every finding is replayed once more from the baseline to confirm it. The time limit is shared
   between the phases (budget.py).
6. Always (errors and Ctrl-C included): restore the baseline, compare the fingerprint with the one
   taken at the start (``db_restored``), remove the machinery.

This module keeps what ties those together: which state to expand, what a step leads to, and how
a state's path is re-executed when the databases cannot be restored to it directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from venom_replay.adapters.base import Adapter
from venom_replay.proxy.infer.effects import READ_METHODS
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange
from venom_replay.replay.checkers.base import Checker
from venom_replay.replay.explorer.actions import build_actions
from venom_replay.replay.explorer.budget import Budget
from venom_replay.replay.explorer.confirm import recorded_order
from venom_replay.replay.explorer.control_read import (
    read_also_writes,
    repeat_writes_nothing,
)
from venom_replay.replay.explorer.dependencies import closure, recorded_dependencies
from venom_replay.replay.explorer.minimize import minimize
from venom_replay.replay.explorer.position import Observation, Position
from venom_replay.replay.explorer.prefix import PrefixRoots, lineage_step
from venom_replay.replay.explorer.probe import probe_determinism
from venom_replay.replay.explorer.results import ExploreStats, Limits, StopReason
from venom_replay.replay.explorer.search import CoverageGuided, Frontier, make_frontier
from venom_replay.replay.explorer.state import (
    StateGraph,
    StateNode,
    public_values,
    state_key,
    volatile_sources,
)
from venom_replay.replay.explorer.steps import (
    TIME_LIMIT,
    SequenceRun,
    StepOutcome,
    StepRunner,
    content_change,
    replay_sequence,
)
from venom_replay.replay.explorer.warning_log import WarningLog
from venom_replay.replay.findings import Action, Finding, FindingBook
from venom_replay.replay.http_client import HttpClient
from venom_replay.replay.options import DEFAULTS

__all__ = ["Explorer"]

EMIT_EVERY = 0.2
"""Seconds between progress reports during the search."""


UNCONFIRMED_TARGET_DOWN = ("unconfirmed: the target stopped answering before this finding could be replayed from "
                           "the start; it was seen once, on a live answer")


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
        recorded: Mapping[int, Exchange] | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.tset = tset
        self.client = client
        self.warnings = WarningLog()
        self.budget = budget or Budget(None)
        self.steps = StepRunner(tset, client, checkers, databases=databases, warnings=self.warnings,
                                recorded=recorded, budget=self.budget)
        self.session_of = {step.seq: str(session) for session, steps in tset.sessions.items() for step in steps}
        """The recorded session of each recorded exchange, by sequence number."""
        self.position = Position(db)
        # Without rollback there is no state to go back to.
        self.prefixes = PrefixRoots(prefix_roots if db is not None else 0)
        self.swap_identities = swap_identities
        self.actions = build_actions(tset, swap_identities=swap_identities)
        self.volatile = volatile_sources(tset)
        self.progress = progress
        self.stats = ExploreStats()
        self.graph = StateGraph()
        self.book = FindingBook()
        self.suppressed: dict[str, str] = {}
        """Signatures the recording itself showed (not reported), with the reason."""
        self.limits = Limits()
        self.root: StateNode | None = None
        self.probed: set[str] = set()
        """Templates the determinism probe has run already."""
        self.minimize_runs = 0
        self.confirmed_steps = 0
        self.search_seconds = 0.0
        self._needs: dict[int, frozenset[int]] | None = None
        """What each recorded step needs (dependencies.py), computed when a finding is first shrunk."""
        self.reconfirmed: set[str] = set()
        """Findings whose final sequence a replay from the baseline showed already (while shrinking)."""
        self.started = self.budget.started

    # ---------------------------------------------------------------- phases

    def start(self, start_state: Any = None) -> None:
        """Install the rollback machinery; the baseline (the recording's start state when one is
        given) becomes the graph's root."""
        fp = self.position.install(start_state)
        root = StateNode(key=state_key([fp], {}, self.volatile), depth=0, fingerprint=fp, values={}, path=(), lineage=())
        root.lineage = (root.key,)
        self.root = root
        self.graph.add_state(root, root=True)
        self.position.root(root.key)

    def emit(self, phase: str) -> None:
        """Tell the ``progress`` callback where the run is."""
        self.stats.phase = phase
        self.stats.states = len(self.graph)
        self.stats.findings = len(self.book)
        self.stats.elapsed = time.monotonic() - self.started
        if self.progress is not None:
            self.progress(self.stats)

    def search(self, strategy: str, limits: Limits, observed: Iterable[tuple[str, str]] = ()) -> StopReason:
        """Expand states from the baseline and the prefix roots until done or a limit is hit."""
        assert self.root is not None
        frontier = make_frontier(strategy, observed)
        frontier.push(self.root)
        for node in self.prefixes.add_roots(self.graph, self.root, self.tset, self.volatile, self.position):
            frontier.push(node)
        self.limits = limits
        search_started = time.monotonic()
        last_emit = 0.0
        while len(frontier):
            node = frontier.pop()
            if not self.expandable(node):
                continue
            actions = frontier.order_actions(node, [a for a in self.actions if self.steps.enabled(a, node.values)])
            for i, action in enumerate(actions):
                if self.stats.transitions >= limits.max_transitions:
                    return StopReason.MAX_TRANSITIONS
                deadline = self.budget.search_deadline(sum(len(f.actions) for f in self.book), search_started=search_started)
                if deadline is not None and time.monotonic() >= deadline:
                    self.budget.cut.add("search")
                    return StopReason.TIME_LIMIT
                if self.steps.target_down:
                    return StopReason.TARGET_DOWN
                if not self.goto(node):
                    break
                # Where the next step starts (this node again, or the next one to expand): its restore
                # can ride with this step's snapshot.
                then = node if i + 1 < len(actions) else frontier.peek(self.expandable)
                self._expand(node, action, frontier, then=then)
                now = time.monotonic()
                if now - last_emit > EMIT_EVERY:
                    last_emit = now
                    self.emit("exploring")
        return StopReason.COMPLETE

    def finish(self) -> bool | None:
        """Restore the baseline and check it: True when the content equals the one before the run."""
        return self.position.finish()

    # ---------------------------------------------------------------- states

    def _depth_limit(self, node: StateNode) -> int:
        """States below a recorded prefix are searched less deep than the baseline's."""
        return min(self.limits.prefix_depth, self.limits.depth) if node.prefix_len else self.limits.depth

    def _budget(self, node: StateNode) -> int:
        return self._depth_limit(node) - node.depth

    def expandable(self, node: StateNode) -> bool:
        return self._budget(node) > 0

    def goto(self, node: StateNode) -> bool:
        """Put the databases into ``node``'s state; False when its path no longer replays."""
        return self.position.goto(node, self._redo)

    def _redo(self, node: StateNode, i: int) -> bool:
        """Re-execute ``node``'s path from ``lineage[i]`` (the databases are there) to ``lineage[i + 1]``;
        that state's bound values and results are refreshed from the new answers."""
        here, nxt = self.graph.nodes[node.lineage[i]], self.graph.nodes[node.lineage[i + 1]]
        values, results = dict(here.values), list(here.results)
        for action in lineage_step(node, i):
            if not self.steps.runnable(action, values):
                self.warnings.add("replay", f"state {nxt.key}: {action} is no longer enabled when re-executing its path")
                return False
            res = self.steps.run(action, values)
            if res.response is None:
                if res.error != TIME_LIMIT:
                    self.warnings.add("transport", f"re-executing the path to a state: {res.error}")
                return False
            values = self.steps.bind(values, res, action)
            results.append(res)
            self.position.observe()
        nxt.values, nxt.results = dict(values), tuple(results)
        return True

    def _expand(self, node: StateNode, action: Action, frontier: Frontier, *, then: StateNode | None = None) -> None:
        """Run ``action`` from ``node`` (the databases are there), check it, merge or queue the new
        state. ``then``: the state the next step starts from, restored in the same round trip as this
        step's fingerprint when the adapter can."""
        out, seen = self.run_step(node, action, then=then)
        deeper = self.merge(node, out, frontier)
        if seen is not None:
            self.settle(node, out, seen, then, deeper=deeper)

    def run_step(self, node: StateNode, action: Action, *, then: StateNode | None = None) -> tuple[StepOutcome, Observation | None]:
        """Run and check one step from ``node`` (the databases are there) and observe where it led.
        The outcome is all the search needs to merge it (``merge``), here or in a coordinator; the
        observation stays with the databases it describes (``settle``)."""
        res = self.steps.run(action, node.values)
        if res.error == TIME_LIMIT:
            return StepOutcome(action, None), None  # not sent: nothing happened
        if res.response is None:
            self.position.mark_changed()
            return StepOutcome(action, res), None
        values = self.steps.bind(node.values, res, action)
        path = node.results + (res,)
        # Checks first: user SQL invariants read the databases as the step left them.
        changed = content_change(self.position, self.position.fp if self.position.rollback else None)
        violations = [v for v in self.steps.check(res, path, values, changed=changed) if v.signature not in self.suppressed]
        # The child will be expanded later: in branching mode its checkpoint comes with the fingerprint.
        seen = self.position.observe(checkpoint=self.position.branching and node.depth + 1 < self._depth_limit(node),
                                     then=node if self._will_probe(res) else then)
        key = state_key([seen.fingerprint], values, self.volatile)
        return StepOutcome(action, res, values, key, seen.fingerprint, violations), seen

    def _will_probe(self, res: Any) -> bool:
        return self.position.rollback and res.template.id not in self.probed

    def child_of(self, node: StateNode, out: StepOutcome) -> StateNode:
        """The state ``out`` (a step from ``node``) led to, as a node of the search."""
        assert out.result is not None and out.key is not None and out.values is not None
        return StateNode(key=out.key, depth=node.depth + 1, fingerprint=out.fingerprint, values=out.values,
                         path=node.path + (out.action,), lineage=node.lineage + (out.key,), results=node.results + (out.result,),
                         prefix_len=node.prefix_len, prefix_marks=node.prefix_marks)

    def is_deeper(self, child: StateNode, first_visit: StateNode | None) -> bool:
        """A state first reached below a recorded prefix (searched less deep) and now from the baseline
        with more depth to go is searched again from this visit, its checkpoint included."""
        return first_visit is not None and self._budget(child) > self._budget(first_visit)

    def merge(self, node: StateNode, out: StepOutcome, frontier: Frontier) -> bool:
        """Count ``out`` (a step from ``node``), book its violations, add its state to the graph (merged
        with an equal known one) and queue it when it is new; True when it replaced a shallower visit."""
        if out.result is None:
            return False
        self.stats.transitions += 1
        res, action = out.result, out.action
        tpl = res.template
        prev = node.path[-1].template if node.path else None
        if isinstance(frontier, CoverageGuided):
            frontier.note(prev, action.template)
        if res.response is None:
            self.warnings.add("transport", f"branch stopped after {' -> '.join(map(str, node.path + (action,)))}: {res.error}")
            self.graph.add_transition(node.key, node.key, template=str(action), label=tpl.label, status=None)
            return False
        child = self.child_of(node, out)
        for v in out.violations:
            self.book.add(v, list(child.path), list(child.results))
        first_visit = self.graph.nodes.get(child.key)
        deeper = self.is_deeper(child, first_visit)
        if first_visit is None:
            self.graph.add_state(child)
        elif deeper:
            self.graph.nodes[child.key] = child
        self.graph.add_transition(node.key, child.key, template=str(action), label=tpl.label, status=res.response.status,
                                  findings=[v.signature for v in out.violations])
        if out.violations:
            self.graph.mark_finding_state(child.key)
        if first_visit is None or deeper:
            novelty = 0
            if isinstance(frontier, CoverageGuided):
                novelty = int(prev is not None and (prev, action.template) not in frontier.observed)
                novelty += int(res.response.status not in tpl.statuses)
            frontier.push(self.graph.nodes[child.key], novelty)
        return deeper

    def settle(self, node: StateNode, out: StepOutcome, seen: Observation, then: StateNode | None, *, deeper: bool) -> None:
        """Where the databases are after ``out`` (merged into this explorer's graph): keep the child's
        checkpoint, note the state they hold, and probe the template's determinism on its first run."""
        assert out.result is not None and out.key is not None and out.values is not None
        key = out.key
        if seen.checkpoint is not None and (deeper or key not in self.position.checkpoints):
            self.position.keep(key, seen.checkpoint, here=not seen.restored, fingerprint=seen.fingerprint)
        # A merged state keeps the values of its first visit: when this visit bound other volatile
        # values (a fresh token the databases now hold), they are not at that state's content.
        same = public_values(self.graph.nodes[key].values) == public_values(out.values)  # bookkeeping is no content
        self.position.arrive(key if same else None, seen)
        if self._will_probe(out.result):
            self.probed.add(out.result.template.id)
            probe_determinism(self, node, out.action, out.result, key, seen.fingerprint, then)

    # ---------------------------------------------------------------- reproducing and shrinking

    def replay(self, actions: Sequence[Action]) -> SequenceRun:
        """Run ``actions`` from the baseline, checking the last step."""
        return replay_sequence(self.steps, self.position, actions)

    def _focused(self, actions: Sequence[Action]) -> list[list[Action]]:
        """Cheap first candidates for a sequence that starts with recorded steps: the recorded steps
        of the session the prefix ended in (and the last recorded producer of each value the explored
        steps take); then those plus every recorded step they need (dependencies.py); then those
        plus every recorded write."""
        recorded = [a for a in actions if a.seq is not None]
        if not recorded:
            return []
        session = self.session_of.get(recorded[-1].seq)
        seeds = {a.seq for a in recorded if self.session_of.get(a.seq) == session}
        for a in actions:
            if a.seq is None:
                for c in self.tset.templates[a.template].consumes:
                    last = next((r.seq for r in reversed(recorded) if r.template == c.producer), None)
                    seeds.update([last] if last is not None else [])
        if self._needs is None:
            self._needs = recorded_dependencies(self.tset, self.steps.recorded_exchanges(), recorded_order(self))
        needed = closure(self._needs, seeds)
        candidates = [[a for a in actions if a.seq is None or a.seq in keep] for keep in (seeds, needed)]
        candidates.append([a for a in actions if a in candidates[1] or self.tset.templates[a.template].method not in READ_METHODS])
        unique: list[list[Action]] = []
        for c in candidates:
            if len(c) < len(actions) and c not in unique:
                unique.append(c)
        return unique

    def _confirm_reserve(self, after: Finding | None = None) -> float:
        """Seconds that confirming the findings not confirmed yet needs (those after ``after`` too)."""
        return sum(self.budget.cost(len(f.actions)) for f in self.book.ordered()
                   if f is not after and f.signature not in self.reconfirmed)

    def shrink(self, finding: Finding, *, max_runs: int | None = None) -> None:
        """Drop the steps of ``finding``'s sequence that its signature does not need, while the time
        limit leaves enough to confirm every finding; else it is reported as found, with a note."""
        signature = finding.signature
        # Halving passes over a sequence of n steps take about 2n replays; 40 left long recorded
        # prefixes (30+ steps) half shrunk. Capped: each replay of a slow API costs seconds.
        max_runs = max_runs if max_runs is not None else min(150, max(40, 3 * len(finding.actions)))
        keep = self._confirm_reserve(after=finding)
        last: tuple[list[Action], SequenceRun] | None = None
        cut = False

        def reproduces(candidate: list[Action]) -> bool:
            nonlocal last, cut
            if not self.budget.affords(len(candidate), keep=keep):
                cut = True
                return False
            self.minimize_runs += 1
            run = self.replay(candidate)
            if run.match(signature) is None:
                return False
            last = (list(candidate), run)
            return True

        start = next((c for c in self._focused(finding.actions) if reproduces(c)), finding.actions)
        smaller = minimize(start, reproduces, max_runs=max_runs) if not cut else list(start)
        if last is not None and last[0] == smaller:
            run = last[1]
            match = run.match(signature)
            finding.actions, finding.steps = smaller, run.steps
            finding.message, finding.details = match.message, dict(match.details)
            self.reconfirmed.add(signature)
        finding.minimized = not cut
        if cut:
            self.budget.cut.add("shrink")
            finding.notes.append("not fully minimised: the time limit came first" if last is not None
                                 else "not minimised: the time limit came first")

    def _drop_writes_a_read_makes_too(self) -> None:
        """A refused call that wrote is no finding when the write is the server's bookkeeping
        (control_read.py): a read writes the same, or a second identical call writes nothing."""
        reads_write: dict[tuple, bool] = {}  # (steps before, URL) -> verdict: the same for every mutation
        for finding in self.book.ordered():
            if finding.checker != "failed-write" or self.steps.target_down or self.steps.expired():
                continue
            key = (tuple((a.seq, str(a)) for a in finding.actions[:-1]), finding.steps[-1].request.path if finding.steps else "")
            if key not in reads_write:
                reads_write[key] = read_also_writes(finding, self.steps, self.position, self.replay)
            if reads_write[key]:
                why = "a plain read of the same URL changes the databases as well"
            elif repeat_writes_nothing(finding, self.steps, self.position, self.replay):
                why = "the same call sent again writes nothing more (a one-time initialisation)"
            else:
                continue
            self.book.by_signature.pop(finding.signature, None)
            self.warnings.add("bookkeeping", f"not reported: {finding.message} — {why}: the server's own "
                              "bookkeeping, not this call's data")

    def confirm_findings(self) -> None:
        """Keep only findings that a replay of their sequence from the baseline shows again.

        The search reaches states by restores and re-executions; a finding whose steps were not one
        execution (or whose state was not what its path makes) would not reproduce for the user. The
        replay also gives the reported requests and answers: all from this one execution. A finding
        whose shrinking ended with such a replay is not replayed again; one the time limit leaves no
        room for is reported as found, with a note."""
        if not self.position.rollback:
            return
        dropped = 0
        for finding in self.book.ordered():
            if finding.signature in self.reconfirmed:
                continue
            if not self.budget.affords(len(finding.actions)):
                self.budget.cut.add("confirm")
                finding.notes.append("not replayed from the start to confirm it: the time limit came first")
                continue
            if self.steps.target_down:
                finding.notes.append(UNCONFIRMED_TARGET_DOWN)
                continue
            run = self.replay(finding.actions)
            if run.broke_off is not None and self.steps.expired():
                self.budget.cut.add("confirm")
                finding.notes.append("not replayed from the start to confirm it: the time limit came first")
                continue
            if run.unanswered is not None:
                # Seen once on a live answer; a target that went away cannot say it was not real.
                finding.notes.append(f"{UNCONFIRMED_TARGET_DOWN} ({run.unanswered})")
                continue
            match = run.match(finding.signature)
            if match is None:
                dropped += 1
                self.book.by_signature.pop(finding.signature, None)
                self.warnings.add("not-reproducible", f"not reported: {finding.message} — replaying its "
                                  f"{len(finding.actions)} steps from the start did not show it again (not reproducible)")
                continue
            finding.steps, finding.message, finding.details = run.steps, match.message, dict(match.details)
        self._drop_writes_a_read_makes_too()
        if dropped:
            self.warnings.add("not-reproducible-count", f"{dropped} finding(s) not reproducible from the start were left out")
