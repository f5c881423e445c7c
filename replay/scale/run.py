"""``explore_parallel()``: one exploration over several replicas, as one call that returns the same
``ExploreResult`` as ``explore()``.

The workers start together (each installs its rollback machinery and replays the recording on its
replica); the coordinator runs the search (coordinator.py); the workers share out the mutation phase (by
template) and the shrinking and confirming of the merged findings (each finding by replays from the
baseline); every worker restores its databases and removes our objects — also after errors and
Ctrl-C: a call in flight is waited for, then every worker finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from venom_replay.graph.transition import observed_pairs
from venom_replay.proxy.errors import VenomError
from venom_replay.replay.explorer.budget import Budget
from venom_replay.replay.explorer.core import Explorer
from venom_replay.replay.explorer.guards import DeferSigint
from venom_replay.replay.explorer.phases import PhaseClock
from venom_replay.replay.explorer.results import (
    ExploreResult,
    ExploreStats,
    Limits,
    StopReason,
)
from venom_replay.replay.explorer.state import StateNode
from venom_replay.replay.http_client import HttpClient
from venom_replay.replay.mutations.run import MutationStats
from venom_replay.replay.report.outcome import lost_connection_warning
from venom_replay.replay.scale.coordinator import Coordinator
from venom_replay.replay.scale.messages import (
    ConcludeRequest,
    StartReport,
    WorkerSummary,
    relink,
)
from venom_replay.replay.scale.pool import WorkerError, WorkerPool, call_all, call_one


def _adopt_roots(ex: Explorer, starts: list[StartReport], coordinator: Coordinator) -> list[StateNode]:
    """The baseline and prefix roots of the first worker become the graph's; each prefix root is
    owned (checkpointed, its values kept) by a worker in turn, when that worker reached the same state."""
    first = starts[0]
    for other in starts[1:]:
        if other.root.key != first.root.key:
            raise VenomError(f"replica {other.index + 1}'s databases differ from replica 1's (another fingerprint "
                             "at the start): every replica must start from a copy of the same content")
    ex.root = first.root
    ex.graph.add_state(first.root, root=True)
    coordinator.tags[first.root.key] = ("root",)
    # The same recorded steps from the same content: replicas that end them apart write values of their own.
    coordinator.strict = any(o.replay_fingerprint != first.replay_fingerprint
                             or [n.key for n in o.prefix_roots] != [n.key for n in first.prefix_roots] for o in starts[1:])
    roots = [first.root]
    before = first.root
    for i, node in enumerate(first.prefix_roots):
        owner = i % len(starts)
        theirs = starts[owner].prefix_roots
        chosen = theirs[i] if i < len(theirs) and theirs[i].key == node.key else node
        owner = owner if chosen is not node else 0
        relink(chosen.results, ex.tset)
        ex.graph.add_state(chosen, prefix_root=True)
        first_step = before.prefix_len + 1
        last = chosen.results[-1].response if chosen.results else None
        ex.graph.add_transition(before.key, chosen.key, template=f"recorded:{first_step}-{chosen.prefix_len}",
                                label=f"recorded steps {first_step} to {chosen.prefix_len}",
                                status=last.status if last is not None else None)
        coordinator.owner[chosen.key] = owner
        coordinator.tags[chosen.key] = ("start", i)
        roots.append(chosen)
        before = chosen
    if coordinator.strict and len(starts) > 1 and all(s.branching for s in starts):
        _share_prefix_roots(roots[1:], coordinator)
    return roots


def _share_prefix_roots(prefix_roots: list[StateNode], coordinator: Coordinator) -> None:
    """Replicas that minted values of their own reached the prefix roots apart: the first worker's stand,
    and each one's subtree is searched by the worker that holds it exactly. So that they do not all stay
    with the first worker, each in turn is moved: its content (minted values included) exported by the
    first worker and imported by another, which checkpoints it as that state (branching adapters)."""
    pool = coordinator.pool
    for i, node in enumerate(prefix_roots):
        worker = i % pool.size
        if worker == 0 or coordinator.owner.get(node.key) != 0:
            continue
        parts = call_one(pool, 0, "export_state", ("start", i))
        if parts is not None and call_one(pool, worker, "import_state", node, parts, ("moved", i)):
            coordinator.owner[node.key] = worker
            coordinator.tags[node.key] = ("moved", i)


def _drain(pool: WorkerPool, lost: set[int]) -> None:
    """Wait for the calls in flight (a worker runs one call at a time; it must be free to finish)."""
    while pool.busy():
        try:
            pool.next_done()
        except WorkerError as exc:
            if exc.failure.kind == "lost-worker":
                lost.add(exc.worker)


def _recover_replica(worker: int, db_urls: Sequence[str]) -> WorkerSummary:
    """A worker whose process ended cannot restore its replica: its journal can, as `db recover` does."""
    from venom_replay.adapters.base import AdapterError
    from venom_replay.adapters.registry import open_adapter

    restored: bool | None = None if not db_urls else True
    for url in db_urls:
        try:
            with open_adapter(url) as adapter:
                adapter.recover()
                adapter.uninstall()
        except AdapterError:
            restored = False
    return WorkerSummary(index=worker, transitions=0, seconds=0.0, units=0, db_restored=restored, warnings=[],
                         warning_counts={})


def explore_parallel(tset: Any, pool: WorkerPool, *, strategy: str, limits: Limits, targets: Sequence[str],
                     databases: Sequence[Sequence[str]], run_mutations: bool, shrink: bool = True,
                     progress: Callable[[ExploreStats], None] | None = None) -> ExploreResult:
    """Explore with the workers of ``pool`` (one per replica: ``targets[i]`` with ``databases[i]``)."""
    budget = Budget(limits.time_limit)
    # The coordinator sends nothing itself; its client only tells request rendering (which calls are
    # enabled) the target's base URL.
    ex = Explorer(tset, HttpClient(targets[0]), None, [], budget=budget, prefix_roots=0)
    coordinator = Coordinator(ex, pool)

    def emit(phase: str) -> None:
        ex.stats.workers = [(load.index, load.transitions, load.rate) for load in coordinator.loads]
        ex.emit(phase)

    ex.progress = progress
    coordinator.emit = emit
    stopped = StopReason.COMPLETE
    starts: list[StartReport] = []
    summaries: list[WorkerSummary | None] = [None] * pool.size
    findings: list[Any] = []
    agreement = None
    search_seconds = 0.0
    error: WorkerError | None = None
    mutation_stats: dict[str, Any] | None = None
    lost: set[int] = set()
    """Workers whose process ended: their replicas are recovered here."""
    clock = PhaseClock()
    try:
        emit("starting workers")
        with clock("start"):  # each replica's install and replay of the recording, side by side
            starts = call_all(pool, "start")
        roots = _adopt_roots(ex, starts, coordinator)
        ex.suppressed = dict(starts[0].suppressed)
        ex.confirmed_steps = starts[0].confirmed_steps
        agreement = starts[0].agreement
        search_start = time.monotonic()
        with clock("search"):
            if not starts[0].like_recording:
                stopped = StopReason.UNLIKE_RECORDING
            else:
                stopped = coordinator.search(strategy, limits, observed_pairs(tset), roots)
        search_seconds = time.monotonic() - search_start
        mutate = run_mutations and stopped not in (StopReason.UNLIKE_RECORDING, StopReason.TARGET_DOWN)
        if mutate:
            emit("mutating")
            with clock("mutations"):
                mutation_stats = _mutate(ex, pool)
        emit("minimising" if shrink else "confirming findings")
        with clock("findings"):
            findings = _conclude(ex, pool, shrink=shrink and stopped != StopReason.TARGET_DOWN)
    except KeyboardInterrupt:
        stopped = StopReason.INTERRUPTED
        findings = ex.book.ordered()
    except WorkerError as exc:
        if exc.failure.kind == "lost-worker":
            lost.add(exc.worker)
        if exc.lost_database is None or not starts:
            error = exc
        else:
            stopped = StopReason.DATABASE_LOST
            ex.warnings.add("db-lost", lost_connection_warning(str(exc)))
            findings = ex.book.ordered()
    finally:
        with DeferSigint(), clock("restore"):  # whatever happened: every worker restores its databases
            _drain(pool, lost)
            _finish_all(pool, summaries, lost)
            for worker in sorted(lost):
                summaries[worker] = _recover_replica(worker, databases[worker])
        ex.client.close()
    if error is not None and error.failure.kind == "lost-worker":
        unrestored = [i for i, s in enumerate(summaries) if s is None or s.db_restored is False]
        raise VenomError(f"{error}: the run was stopped; " + (
            "every replica's databases were restored" if not unrestored else
            "run `venom-replay db recover --db URL` for the databases of replica(s) "
            + ", ".join(str(i + 1) for i in unrestored))) from None
    if error is not None:
        raise error.as_user_error() from None
    result = _result(ex, tset, starts, summaries, findings, stopped, agreement, search_seconds, strategy, limits,
                     targets, databases, budget, coordinator)
    result.mutations = mutation_stats
    result.phase_seconds = clock.report()
    return result


def _conclude(ex: Explorer, pool: WorkerPool, *, shrink: bool) -> list[Any]:
    """Each finding shrunk and confirmed by replays from the baseline, independent of the others: the
    findings are shared out over the workers, each on its own replica; in one explorer's order after."""
    found = ex.book.ordered()
    shares = [found[i::pool.size] for i in range(pool.size)]
    parts = call_all(pool, "conclude", [(ConcludeRequest(None, share, shrink),) for share in shares])
    findings = [finding for part in parts for finding in part]
    for finding in findings:
        relink(finding.steps, ex.tset)
    return sorted(findings, key=lambda f: (f.checker, len(f.actions), f.signature))  # FindingBook.ordered()'s order


def _mutate(ex: Explorer, pool: WorkerPool) -> dict[str, Any]:
    """The mutation phase shared out by template (a template's finding buckets are its own), every
    worker from the merged search's states; the findings join the book."""
    templates = list(dict.fromkeys(a.template for a in ex.actions if a.seq is None and a.mutation is None))
    shares = [set(templates[i::pool.size]) for i in range(pool.size)]
    parts = call_all(pool, "mutate", [(ex.graph, share) for share in shares])
    for found, _stats in parts:
        for finding in found:
            relink(finding.steps, ex.tset)
            known = ex.book.by_signature.get(finding.signature)
            if known is None:
                ex.book.by_signature[finding.signature] = finding
            else:
                known.count += finding.count
    return MutationStats.merged([stats for _found, stats in parts])


def _finish_all(pool: WorkerPool, summaries: list[WorkerSummary | None], lost: set[int]) -> None:
    """Every worker restores its databases and removes our objects (each one, whatever the others do)."""
    for i in range(pool.size):
        if summaries[i] is None and i not in lost:
            pool.submit(i, "finish")
    while pool.busy():
        try:
            worker, summary = pool.next_done()
            summaries[worker] = summary
        except WorkerError as exc:
            if exc.failure.kind == "lost-worker":
                lost.add(exc.worker)


def _result(ex: Explorer, tset: Any, starts: list[StartReport], summaries: list[WorkerSummary | None],
            findings: list[Any], stopped: StopReason, agreement: Any, search_seconds: float, strategy: str,
            limits: Limits, targets: Sequence[str], databases: Sequence[Sequence[str]], budget: Budget,
            coordinator: Coordinator) -> ExploreResult:
    done = [s for s in summaries if s is not None]
    for summary in done:
        ex.warnings.merge(summary.warnings, summary.warning_counts)
    restored_all = [s.db_restored for s in done]
    db_restored: bool | None
    if len(done) < len(summaries) or any(r is False for r in restored_all):
        db_restored = False
        ex.warnings.add("db", "a replica's databases were not restored to their content before the run")
    else:
        db_restored = True if any(r for r in restored_all) else None
    if stopped == StopReason.COMPLETE and (budget.cut or any(s.time_cut for s in done)):
        stopped = StopReason.TIME_LIMIT
    first = summaries[0]
    ex.emit("done")
    loads = {load.index: load for load in coordinator.loads}
    workers = [{"index": s.index + 1, "target": targets[s.index], "databases": list(databases[s.index]),
                "transitions": loads[s.index].transitions, "units": loads[s.index].units,
                "seconds": round(loads[s.index].seconds, 3), "rate": round(loads[s.index].rate, 2),
                "affinity": loads[s.index].affinity, "db_restored": s.db_restored} for s in done]
    notes = list(starts[0].notes) if starts else []
    result = ExploreResult(
        states=len(ex.graph), transitions=ex.stats.transitions, findings=list(findings),
        warnings=notes + ex.warnings.finish(), db_restored=db_restored, graph=ex.graph, strategy=strategy,
        depth=limits.depth, elapsed=time.monotonic() - ex.started, stopped=stopped,
        target=targets[0] if targets else "", databases=list(databases[0]) if databases else [],
        checkers=list(starts[0].checkers) if starts else [], dropped_invariants=list(first.dropped_invariants) if first else [],
        confirmed_steps=ex.confirmed_steps, suppressed=dict(ex.suppressed),
        minimize_runs=sum(s.minimize_runs for s in done), recording=tset.source, search_seconds=search_seconds,
        prefix_roots=max(0, len([n for n in ex.graph.nodes.values() if n.depth == 0]) - 1),
        replay_agreement=agreement, time_cut=sorted(budget.cut | {c for s in done for c in s.time_cut}),
        mutations=None)
    result.workers = workers
    result.invariant_errors = sorted({e for s in done for e in s.invariant_errors})
    result.warnings.extend(result.invariant_errors)
    return result
