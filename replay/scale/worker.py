"""One worker: an explorer on its own replica of the API and its databases, driven by a coordinator.

The worker does what a single-process run does at its start (install the rollback machinery, replay
the recording, pick the prefix roots) and at its end (restore, check, uninstall); in between it
expands the states the coordinator sends, one ``ExpandUnit`` at a time, and returns each step's
``StepOutcome``. The coordinator merges them into the one state graph in the order a single explorer
would have, so the search is the same whatever the number of workers.

A state the worker reached itself has a checkpoint here (branching adapters), and the coordinator
sends its expansion here when it can. Any other state is reached by re-executing its path from the
deepest checkpointed state on it, as a single explorer does after an undo-only restore. A checkpoint
serves a state only when it was taken with the same bound values (tokens included) as the
coordinator's node for it: two visits of one state may hold different fresh tokens.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from venom_replay.replay.explorer.core import Explorer
from venom_replay.replay.explorer.state import StateNode, values_digest
from venom_replay.replay.explorer.steps import StepOutcome
from venom_replay.replay.findings import FindingBook
from venom_replay.replay.scale.messages import (
    ConcludeRequest,
    ExpandUnit,
    NodeRef,
    StartReport,
    UnitResult,
    WorkerJob,
    WorkerSummary,
    relink,
)


class WorkerExplorer(Explorer):
    """An explorer that notes which states' paths it re-executed (their values and answers changed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refreshed: set[str] = set()

    def _redo(self, node: StateNode, i: int) -> bool:
        ok = super()._redo(node, i)
        if ok:
            self.refreshed.add(node.lineage[i + 1])
        return ok


class WorkerRuntime:
    """The worker's side of the protocol: ``start``, ``expand`` (many times), ``conclude`` (one
    worker), ``finish``. Every method's answer is plain data (messages.py)."""

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.index = job.index
        self.ex: WorkerExplorer | None = None
        self._stack = ExitStack()
        self._dir: Path | None = None
        self._installed = False
        self.kept_digest: dict[str, str] = {}
        """The values each kept checkpoint was taken with (``values_digest``)."""
        self.created: dict[tuple, StateNode] = {}
        """States this worker reached, by tag (``NodeRef``), until the coordinator releases them."""
        self.received: dict[str, StateNode] = {}
        """The coordinator's nodes sent whole, by key: later units name them (``NodeRef`` tag ``("key", k)``)."""
        self.transitions = 0
        self.busy = 0.0
        self.units = 0
        self._loaded: Any = None
        self._checkers: list = []
        self._stopped: str | None = None

    # ---------------------------------------------------------------- start

    def _materialise(self) -> tuple[Path, Path | None, Path | None]:
        """The job's files in a private folder: the recording (with its start state), the invariants
        and the OpenAPI document."""
        self._dir = Path(tempfile.mkdtemp(prefix=f"venom-replay-worker{self.index}-"))
        job = self.job
        recording = self._dir / job.recording.name
        recording.write_bytes(job.recording.data)
        if job.start_state is not None:
            (self._dir / job.start_state.name).write_bytes(job.start_state.data)
        invariants = None
        if job.invariants is not None:
            invariants = self._dir / job.invariants.name
            invariants.write_bytes(job.invariants.data)
        spec = None
        if job.openapi is not None:
            spec = self._dir / "openapi" / job.openapi.name
            spec.parent.mkdir()
            spec.write_bytes(job.openapi.data)
        return recording, invariants, spec

    def start(self) -> StartReport:
        from venom_replay.replay.auth import command_auth, parse_auth_options
        from venom_replay.replay.checkers import user_invariants
        from venom_replay.replay.explorer import Limits
        from venom_replay.replay.explorer.budget import Budget
        from venom_replay.replay.explorer.confirm import confirm_recorded
        from venom_replay.replay.http_client import HttpClient
        from venom_replay.replay.session import (
            build_checkers,
            load_recording_once,
            open_databases,
            tls_verify,
        )

        started = time.monotonic()
        job, options = self.job, self.job.options
        recording, invariants, spec = self._materialise()
        config = job.config.with_openapi(spec) if spec is not None else job.config
        with command_auth(parse_auth_options(job.auth)):
            loaded = load_recording_once(recording, config)
        self._loaded = loaded
        checkers, notes = build_checkers(loaded, invariants=invariants, learned=options.learned)
        self._checkers = checkers
        limits = Limits(depth=options.depth, max_transitions=options.max_transitions, time_limit=options.time_limit,
                        prefix_depth=options.prefix_depth, recorded_steps=options.max_recorded_steps,
                        min_agreement=options.min_agreement)
        start = self._start_state(loaded, notes)
        dbs = self._stack.enter_context(open_databases(job.db_urls))
        user_invariants.prepare_invariants(checkers, dbs.handles)
        client = self._stack.enter_context(closing(HttpClient(job.target, timeout=options.timeout, verify=tls_verify(options))))
        ex = WorkerExplorer(loaded.templates, client, dbs.adapter, checkers, databases=dbs.handles,
                            swap_identities=options.swap_identities,
                            prefix_roots=options.prefix_roots if options.confirm else 0,
                            recorded=loaded.exchanges, budget=Budget(limits.time_limit))
        ex.limits = limits
        self.ex = ex
        ex.start(start)
        self._installed = True
        for note in getattr(dbs.adapter, "notes", []) or []:
            notes.append(str(note))
        agreement = None
        if options.confirm:
            agreement = confirm_recorded(ex, loaded.exchanges, max_steps=limits.recorded_steps,
                                         min_agreement=limits.min_agreement)
        assert ex.root is not None
        replay_fp = ex.position.fp
        roots = ex.prefixes.add_roots(ex.graph, ex.root, loaded.templates, ex.volatile, ex.position)
        self.created[("root",)] = ex.root
        self.created.update({("start", i): node for i, node in enumerate(roots)})
        self._note_kept()
        return StartReport(
            index=self.index, root=ex.root, prefix_roots=list(roots),
            agreement=agreement.as_dict() if agreement is not None else None,
            like_recording=agreement is None or agreement.like_recording, replay_fingerprint=replay_fp,
            branching=ex.position.branching,
            confirmed_steps=ex.confirmed_steps, suppressed=dict(ex.suppressed), notes=notes,
            checkers=[getattr(c, "name", type(c).__name__) for c in checkers],
            seconds=time.monotonic() - started)

    def _start_state(self, loaded: Any, notes: list[str]) -> Any:
        """The recording's start state bound to this replica's databases: matched to the run's --db URLs
        (the copies have other names), then given to the copy of each."""
        from venom_replay.adapters.registry import database_identity
        from venom_replay.replay.session import start_for

        job = self.job
        origin = job.origin_db_urls if len(job.origin_db_urls) == len(job.db_urls) else job.db_urls
        binding = start_for(loaded, origin, notes)
        if binding is not None and origin != job.db_urls:
            binding.entries = {database_identity(copy): binding.entries[database_identity(url)]
                               for url, copy in zip(origin, job.db_urls) if database_identity(url) in binding.entries}
        return binding

    # ---------------------------------------------------------------- the search

    def _note_kept(self) -> None:
        """Checkpoints kept since the last call were taken with their state's present values."""
        assert self.ex is not None
        nodes = self.ex.graph.nodes
        for key in self.ex.position.checkpoints:
            if key not in self.kept_digest and key in nodes:
                self.kept_digest[key] = values_digest(nodes[key].values)

    def _adopt(self, entries: list[StateNode | NodeRef]) -> list[StateNode]:
        """Take the coordinator's nodes as this worker's (a ``NodeRef``: one it reached itself); a
        checkpoint or position taken with other bound values than the coordinator's no longer stands
        for its state. The nodes, in order."""
        assert self.ex is not None
        local = self.ex.graph.nodes
        position = self.ex.position
        nodes = [(self.received[e.key] if e.tag[0] == "key" else self.created[e.tag]) if isinstance(e, NodeRef) else e
                 for e in entries]
        for entry, node in zip(entries, nodes):
            if isinstance(entry, NodeRef) and local.get(node.key) is node:
                continue
            digest = values_digest(node.values)
            mine = local.get(node.key)
            kept = self.kept_digest.get(node.key)
            if (kept is not None and kept != digest) or (mine is not None and values_digest(mine.values) != digest):
                position.forget(node.key)
                self.kept_digest.pop(node.key, None)
            if not isinstance(entry, NodeRef):
                relink(node.results, self._loaded.templates)
                self.received[node.key] = node
            local[node.key] = node
        return nodes

    def _local_merge(self, node: StateNode, out: StepOutcome, tag: tuple) -> bool:
        """This worker's own record of the state ``out`` led to (the coordinator keeps the real graph)."""
        assert self.ex is not None and out.key is not None
        child = self.ex.child_of(node, out)
        self.created[tag] = child
        first = self.ex.graph.nodes.get(out.key)
        deeper = self.ex.is_deeper(child, first)
        if first is None or deeper:
            self.ex.graph.nodes[out.key] = child
        return deeper

    def _keep_after_redo(self, node: StateNode) -> None:
        """A state reached by re-execution is checkpointed (branching adapters): its next expansion here
        is one restore."""
        assert self.ex is not None
        position = self.ex.position
        if position.branching and position.at == node.key and node.key not in position.checkpoints:
            position.keep(node.key, position.db.checkpoint(), here=True, fingerprint=position.fp)
            self.kept_digest[node.key] = values_digest(node.values)

    def expand(self, unit: ExpandUnit) -> UnitResult:
        assert self.ex is not None
        ex = self.ex
        started = time.monotonic()
        deadline = None if unit.seconds_left is None else started + unit.seconds_left
        for tag in unit.release:
            self.created.pop(tag, None)
        node = self._adopt(unit.lineage)[-1]
        ex.refreshed = set()
        result = UnitResult(unit.seq, self.index)
        for i, action in enumerate(unit.actions):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if ex.steps.target_down:
                break
            if not ex.goto(node):
                result.unreachable = True
                break
            self._keep_after_redo(node)
            then = node if i + 1 < len(unit.actions) else None
            out, seen = ex.run_step(node, action, then=then)
            if seen is not None:
                had = ex.position.checkpoints.get(out.key or "")
                deeper = self._local_merge(node, out, (unit.seq, i))
                ex.settle(node, out, seen, then, deeper=deeper)
                if out.key is not None and ex.position.checkpoints.get(out.key) is not had:
                    self.kept_digest[out.key] = values_digest(out.values or {})
            result.outcomes.append(out)
            self.transitions += out.result is not None
        result.refreshed = {k: (dict(ex.graph.nodes[k].values), tuple(ex.graph.nodes[k].results))
                            for k in ex.refreshed if k in ex.graph.nodes}
        result.target_down = ex.steps.target_down
        result.seconds = time.monotonic() - started
        self.busy += result.seconds
        self.units += 1
        return result

    def export_state(self, tag: tuple) -> list | None:
        """The databases' content at a state this worker reached (``tag``), as its adapter exports it;
        None when it has no checkpoint of it (a re-execution would mint other values than the state's)."""
        assert self.ex is not None
        ex = self.ex
        node = self.created.get(tag)
        if node is None or not ex.position.branching or node.key not in ex.position.checkpoints or not ex.goto(node):
            return None
        parts: list = []
        ex.position.db.export_content(parts.append)
        return parts

    def import_state(self, node: StateNode, parts: list, tag: tuple) -> bool:
        """Make this replica hold ``node``'s content, exported by the worker that reached it (its values
        minted there included): from the baseline, through the journal, then checkpointed as that
        state's. False (and back at the baseline) when the result does not fingerprint as the state."""
        assert self.ex is not None and self._loaded is not None
        position = self.ex.position
        position.goto_root()
        position.db.import_content(parts)
        position.mark_changed()
        fp = position.db.fingerprint()
        if fp != node.fingerprint:
            position.goto_root()
            return False
        position.fp = fp
        position.keep(node.key, position.db.checkpoint(), here=True, fingerprint=fp)
        position.at = node.key
        relink(node.results, self._loaded.templates)
        self.created[tag] = node
        self.ex.graph.nodes[node.key] = node
        self.kept_digest[node.key] = values_digest(node.values)
        return True

    # ---------------------------------------------------------------- the end

    def _take_graph(self, graph: Any) -> None:
        """Work on the merged search's graph from now on (the later phases pick states from it)."""
        assert self.ex is not None
        self._adopt(list(graph.nodes.values()))
        self.ex.graph = graph

    def mutate(self, graph: Any, templates: set[str]) -> tuple[list, dict[str, Any]]:
        """This worker's share of the mutation phase (the variants of ``templates``), from the merged
        search's states: the findings it opened and what it did."""
        from venom_replay.replay.mutations.run import MutationStats, run_mutations
        from venom_replay.replay.mutations.settings import MutationSettings

        assert self.ex is not None and self._loaded is not None
        ex = self.ex
        self._take_graph(graph)
        ex.book = FindingBook()
        if ex.steps.target_down:
            return [], MutationStats().as_dict()
        options = self.job.options
        settings = MutationSettings.from_config(self._loaded.config, per_template=options.mutations,
                                                strict_domains=options.strict_domains)
        stats = run_mutations(ex, settings, only=set(templates))
        return ex.book.ordered(), stats.as_dict()

    def conclude(self, request: ConcludeRequest) -> list:
        """Shrinking and confirmation of the merged findings, on this worker's replica; the findings as
        they are then. ``request.graph`` None: the graph ``mutate`` took."""
        assert self.ex is not None and self._loaded is not None
        ex = self.ex
        if request.graph is not None:
            self._take_graph(request.graph)
        ex.book = FindingBook()
        for finding in request.findings:
            relink(finding.steps, self._loaded.templates)
        ex.book.by_signature = {f.signature: f for f in request.findings}
        if request.shrink:
            for finding in ex.book.ordered():
                if not ex.steps.target_down:
                    ex.shrink(finding)
        ex.confirm_findings()
        return ex.book.ordered()

    def finish(self) -> WorkerSummary:
        """Restore the replica's databases, check them, remove our objects; close everything."""
        from venom_replay.replay.checkers import user_invariants
        from venom_replay.replay.explorer.guards import DeferSigint
        from venom_replay.replay.explorer.run import _restore_at_end

        ex = self.ex
        restored: bool | None = None
        try:
            if ex is not None and self._installed:
                with DeferSigint():
                    restored, _failed = _restore_at_end(ex, None)
                self._installed = False
        finally:
            self._stack.close()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
        dropped: list[Any] = []
        for checker in self._checkers:
            dropped.extend(getattr(checker, "dropped", []) or [])
        return WorkerSummary(
            index=self.index, transitions=self.transitions, seconds=self.busy, units=self.units,
            db_restored=restored,
            warnings=list(ex.warnings.kept) if ex is not None else [],
            warning_counts=ex.warnings.counts if ex is not None else {},
            minimize_runs=ex.minimize_runs if ex is not None else 0,
            dropped_invariants=dropped,
            invariant_errors=user_invariants.invariant_errors(self._checkers),
            time_cut=sorted(ex.budget.cut) if ex is not None else [])
