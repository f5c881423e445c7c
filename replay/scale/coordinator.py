"""The coordinator's search: the single explorer's loop, with each state's expansion run by a worker.

The frontier, the state graph and the finding book live here. Idle workers pull the next state to
expand (its whole list of enabled actions: one ``ExpandUnit``); their outcomes are merged strictly in
the order the units were handed out, which is the order one explorer would have run them. Under
``bfs`` that makes the merged search step for step the single explorer's: the same states, the same
transitions, the same first sequence per finding bucket, whatever the number of workers (``dfs`` and
``coverage`` hand out the next state before the one before it has been merged, so their order is
close to, not the same as, one explorer's).

A state goes preferably to the worker that reached it first: that one holds its checkpoint. Another
worker re-executes its path from the deepest state on it that it has a checkpoint of.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.replay.explorer.core import Explorer
from venom_replay.replay.explorer.results import Limits, StopReason
from venom_replay.replay.explorer.search import Frontier, make_frontier
from venom_replay.replay.explorer.state import StateNode
from venom_replay.replay.findings import Action
from venom_replay.replay.scale.messages import ExpandUnit, NodeRef, UnitResult, relink
from venom_replay.replay.scale.pool import WorkerPool

EMIT_EVERY = 0.2
LOOKAHEAD = 4
"""States taken from the frontier ahead of the merge, per worker: room to give each worker a state it holds."""


@dataclass(slots=True)
class WorkerLoad:
    """One worker's share of the search, as the progress line and report.json show it."""

    index: int
    transitions: int = 0
    units: int = 0
    seconds: float = 0.0
    """Time its expansions took (busy time)."""
    affinity: int = 0
    """Units it got because it held the state's checkpoint."""

    @property
    def rate(self) -> float:
        return self.transitions / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Sent:
    node: StateNode
    actions: list[Action]
    worker: int
    first: int = 0
    """The index of ``actions[0]`` among the state's actions (a state's actions may be split in parts)."""


@dataclass
class Coordinator:
    """Runs the search of ``ex`` (an explorer without a target or databases of its own) on ``pool``."""

    ex: Explorer
    pool: WorkerPool
    owner: dict[str, int] = field(default_factory=dict)
    """The worker that holds each state's checkpoint (the one whose visit the graph keeps)."""
    loads: list[WorkerLoad] = field(default_factory=list)
    emit: Callable[[str], None] | None = None
    strict: bool = False
    """Each state is expanded by the worker that reached it (the baseline by any): set when the replicas
    answered the same recorded steps with values of their own (random tokens), so that a state reached
    again on another replica would be another state. Else an idle worker takes a state another holds
    and re-executes its path."""
    tags: dict[str, tuple] = field(default_factory=dict)
    """How the worker that reached each state names it (``NodeRef``); absent: send the node itself."""
    release: dict[int, list[tuple]] = field(default_factory=dict)
    shipped: dict[int, dict[str, tuple[int, int]]] = field(default_factory=dict)
    """The nodes each worker was sent whole (by key: the node's identity and version): later units name them."""
    version: dict[str, int] = field(default_factory=dict)
    """How often each state's values were refreshed (a re-execution of its path): a new version is sent again."""

    def __post_init__(self) -> None:
        self.loads = [WorkerLoad(i) for i in range(self.pool.size)]

    def _lineage(self, node: StateNode, worker: int) -> list[StateNode | NodeRef]:
        """``node``'s path of states for ``worker``: references to those it holds, the others whole."""
        nodes = self.ex.graph.nodes
        shipped = self.shipped.setdefault(worker, {})
        out: list[StateNode | NodeRef] = []
        for n in [nodes[k] for k in node.lineage[:-1]] + [node]:
            tag = self.tags.get(n.key)
            held = tag is not None and n is nodes.get(n.key) and (tag == ("root",) or self.owner.get(n.key) == worker)
            stamp = (id(n), self.version.get(n.key, 0))
            if held and tag is not None:
                out.append(NodeRef(n.key, tag))
            elif shipped.get(n.key) == stamp:
                out.append(NodeRef(n.key, ("key", n.key)))
            else:
                out.append(n)
                shipped[n.key] = stamp
        return out

    def _anyone(self, node: StateNode) -> bool:
        """Whether any worker can expand ``node`` exactly (the baseline: every replica starts there)."""
        return self.tags.get(node.key) == ("root",) or self.owner.get(node.key) is None

    def _assign(self, ready: list[int], sent: dict[int, _Sent]) -> list[tuple[int, int]]:
        """(worker, unit) pairs for the idle workers: each takes the first waiting state it holds the
        checkpoint of; a worker that holds none takes the first state whose holder is busy, preferring
        one below a state it holds (the shortest re-execution). A single worker runs the units in the
        merge order: where its databases stand is then where one explorer's would, so that re-executed
        paths (undo-only rollback) mint their values at the same steps and it finds the same states."""
        busy = self.pool.busy()
        idle = [w for w in range(self.pool.size) if w not in busy]
        if self.pool.size == 1:
            return [(0, ready[0])] if idle and ready else []
        pairs: list[tuple[int, int]] = []
        taken: set[int] = set()
        for w in idle:
            s = next((s for s in ready if s not in taken and self.owner.get(sent[s].node.key) == w), None)
            if s is not None:
                pairs.append((w, s))
                taken.add(s)
                self.loads[w].affinity += 1
        free = [w for w in idle if all(w != p for p, _ in pairs)]
        for w in free:
            waiting = [s for s in ready if s not in taken and self.owner.get(sent[s].node.key) not in idle
                       and (not self.strict or self._anyone(sent[s].node))]
            if not waiting:
                break
            near = next((s for s in waiting if w in {self.owner.get(k) for k in sent[s].node.lineage[:-1]}), waiting[0])
            pairs.append((w, near))
            taken.add(near)
        return pairs

    def _merge(self, sent: _Sent, result: UnitResult, frontier: Frontier, tset: TemplateSet) -> None:
        ex = self.ex
        for key, (values, results) in result.refreshed.items():
            node = ex.graph.nodes.get(key)
            if node is not None:  # as the single explorer's re-execution refreshes the path it ran
                node.values, node.results = values, relink(results, tset)
                self.version[key] = self.version.get(key, 0) + 1
                if self.owner.get(key) != result.worker and self.tags.get(key) != ("root",):
                    self.tags.pop(key, None)  # its holder's copy has the old values: send it whole
        if sent.node.key in result.refreshed:
            sent.node.values, sent.node.results = result.refreshed[sent.node.key][0], relink(result.refreshed[sent.node.key][1], tset)
        for i, out in enumerate(result.outcomes):
            if out.result is not None:
                relink((out.result,), tset)
            first = out.key is not None and out.key not in ex.graph.nodes
            deeper = ex.merge(sent.node, out, frontier)
            if out.key is None or out.result is None or out.result.response is None:
                continue
            if first or deeper:
                self.owner[out.key] = result.worker
                self.tags[out.key] = (result.seq, i)
            else:
                self.release.setdefault(result.worker, []).append((result.seq, i))
        load = self.loads[result.worker]
        load.transitions += sum(1 for o in result.outcomes if o.result is not None)
        load.units += 1
        load.seconds += result.seconds

    def search(self, strategy: str, limits: Limits, observed: Iterable[tuple[str, str]], roots: list[StateNode]) -> StopReason:
        """Expand states from ``roots`` (the baseline first) until done or a limit is hit."""
        ex = self.ex
        ex.limits = limits
        frontier = make_frontier(strategy, observed)
        for node in roots:
            frontier.push(node)
        sent: dict[int, _Sent] = {}
        order: deque[int] = deque()  # units in the order they were taken from the frontier: the merge order
        ready: list[int] = []  # taken from the frontier, not handed out yet
        done: dict[int, UnitResult] = {}
        seq = 0
        in_flight = 0  # actions taken from the frontier and not merged yet
        stop: StopReason | None = None
        search_started = time.monotonic()
        last_emit = 0.0
        deadline: float | None = None
        window = LOOKAHEAD * self.pool.size
        while True:
            while stop is None and len(ready) < window and len(frontier):
                if ex.stats.transitions + in_flight >= limits.max_transitions:
                    stop = StopReason.MAX_TRANSITIONS
                    break
                deadline = ex.budget.search_deadline(sum(len(f.actions) for f in ex.book), search_started=search_started)
                if deadline is not None and time.monotonic() >= deadline:
                    ex.budget.cut.add("search")
                    stop = StopReason.TIME_LIMIT
                    break
                node = frontier.pop()
                if not ex.expandable(node):
                    continue
                actions = frontier.order_actions(node, [a for a in ex.actions if ex.steps.enabled(a, node.values)])
                actions = actions[:limits.max_transitions - ex.stats.transitions - in_flight]
                if not actions:
                    continue
                # Every replica holds the baseline: its actions are shared out, so that the states after
                # them (and their subtrees) spread over the workers from the start.
                parts = self.pool.size if self._anyone(node) and node.key == (ex.root.key if ex.root else None) else 1
                size = -(-len(actions) // parts)
                for first in range(0, len(actions), size):
                    sent[seq] = _Sent(node, actions[first:first + size], -1, first)
                    order.append(seq)
                    ready.append(seq)
                    seq += 1
                in_flight += len(actions)
            for worker, s in self._assign(ready, sent):
                ready.remove(s)
                unit = sent[s]
                unit.worker = worker
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                self.pool.submit(worker, "expand", ExpandUnit(s, self._lineage(unit.node, worker), unit.actions, left,
                                                              self.release.pop(worker, [])))
            if not order:
                break
            if not self.pool.busy():  # cannot happen: an idle worker always takes a waiting unit
                raise RuntimeError("units wait but no worker runs")
            _worker, result = self.pool.next_done()
            done[result.seq] = result
            while order and order[0] in done:
                s = order.popleft()
                unit, result = sent.pop(s), done.pop(s)
                in_flight -= len(unit.actions)
                self._merge(unit, result, frontier, ex.tset)
                if result.target_down and stop is None:
                    stop = StopReason.TARGET_DOWN
            if stop in (StopReason.TIME_LIMIT, StopReason.TARGET_DOWN) and ready:  # what was not handed out is not run
                for s in ready:
                    order.remove(s)
                    in_flight -= len(sent.pop(s).actions)
                ready.clear()
            now = time.monotonic()
            if self.emit is not None and now - last_emit > EMIT_EVERY:
                last_emit = now
                self.emit("exploring")
        if stop == StopReason.MAX_TRANSITIONS and not self._more_to_do(frontier):
            return StopReason.COMPLETE  # the budget ran out exactly where the search did
        return stop or StopReason.COMPLETE

    def _more_to_do(self, frontier: Frontier) -> bool:
        ex = self.ex
        while len(frontier):
            node = frontier.pop()
            if ex.expandable(node) and any(ex.steps.enabled(a, node.values) for a in ex.actions):
                return True
        return False
