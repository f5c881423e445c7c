"""``explore()``: one whole exploration as one call, with the promise that matters most to a user
whose database it touches: whatever happens (an error, Ctrl-C, the API going down), the databases
are restored to the content they had before the run, that is checked, and our objects are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from venom_replay.adapters.base import Adapter, AdapterError
from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange, read_recording
from venom_replay.replay.checkers.base import Checker
from venom_replay.replay.explorer.budget import Budget
from venom_replay.replay.explorer.confirm import confirm_recorded
from venom_replay.replay.explorer.core import Explorer
from venom_replay.replay.explorer.guards import DeferSigint
from venom_replay.replay.explorer.phases import PhaseClock
from venom_replay.replay.explorer.results import ExploreResult, ExploreStats, Limits, StopReason
from venom_replay.replay.http_client import HttpClient
from venom_replay.replay.options import DEFAULTS, STRATEGIES
from venom_replay.replay.report.outcome import lost_connection_warning


def _recorded_exchanges(tset: TemplateSet) -> dict[int, Exchange]:
    """The recording's exchanges by sequence number ({} when the recording cannot be read)."""
    if not tset.source:
        return {}
    try:
        return {ex.seq: ex for ex in read_recording(tset.source).exchanges}
    except VenomError:
        return {}


UNCONFIRMED_DB_LOST = ("unconfirmed: the connection to a database was lost before this finding could be replayed "
                       "from the baseline")


def _lost_database(exc: BaseException) -> str | None:
    """The database whose connection ``exc`` says was lost mid-call (an adapter's ConnectionLost), else None."""
    return getattr(exc, "lost_database", None) if isinstance(exc, AdapterError) else None


def _restore_at_end(ex: Explorer, lost: AdapterError | None) -> tuple[bool | None, bool]:
    """The final restore, then our objects removed; (restored?, whether the restore itself failed).

    After a lost connection the adapter restores on a new one (its journal makes that exact whatever
    the lost call did), and a connection lost during the restore itself gets one more try. When it
    still fails, the databases count as not restored and our objects stay in place for `venom-replay
    db recover`; that is a warning, not an exception, so that the report is still written."""
    for last_try in (False, True):
        try:
            restored = ex.finish()
        except AdapterError as exc:
            if lost is None and _lost_database(exc) is None:
                ex.position.uninstall()  # any other error: as for any exception, our objects go first
                raise
            if lost is None:
                lost = exc
                ex.warnings.add("db-lost", lost_connection_warning(str(exc)))
            if not last_try and _lost_database(exc) is not None:
                continue
            ex.warnings.add("db", f"the final restore failed: {exc}")
            return False, True
        except BaseException:
            ex.position.uninstall()
            raise
        try:
            ex.position.uninstall()
        except AdapterError as exc:
            if lost is None:
                raise
            ex.warnings.add("db", f"the databases were restored, but venom-replay's triggers and journal could not be "
                                  f"removed ({exc}): run `venom-replay db uninstall` for each --db")
        return restored, False
    raise AssertionError("unreachable: the last try returns or raises")


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
    start_state: Any = None,
    mutations: Any = None,
) -> ExploreResult:
    """Explore orderings of ``tset``'s templates against ``target`` with ``adapters`` rolled back.

    ``adapters`` is one Adapter (an AdapterGroup for several databases) that is installed here and
    uninstalled at the end; None explores without any rollback. The databases are restored to the
    pre-run content at the end, also after errors and KeyboardInterrupt, and that is checked.

    ``confirm``: replay the recording first, in its recorded order with recorded values translated to
    live ones (at most ``limits.recorded_steps`` steps); the result's ``replay_agreement`` says how
    many answered with the recorded status class.

    ``prefix_roots``: besides the baseline, the search also starts (at depth 0) from up to this many
    states reached by prefixes of that replay (needs ``confirm`` and a database; 0: off), so a bug
    that needs a long recorded set-up (log in, order, pay) is a few explored steps away. Findings
    from there carry the prefix steps, marked ``recorded_prefix``.

    ``limits.time_limit`` bounds the whole run (budget.py says how the phases share it).

    ``recorded_exchanges``: the recording's exchanges by sequence number, when the caller has read
    it already (else it is read from ``tset.source``).

    ``start_state``: the databases' content when the recording started (``record --db``), or None.
    Given, the exploration starts from it: the recorded sessions replay from the state they were
    recorded in; the content the databases held before this call is put back at the end.

    ``mutations``: the mutation phase's settings (replay/mutations/settings.py ``MutationSettings``):
    after the search, each template variant's value mutations are sent from states it reached
    (replay/mutations/run.py); None: no mutation phase.
    """
    from venom_replay.graph.transition import observed_pairs

    limits = limits or Limits()
    budget = Budget(limits.time_limit)
    if depth is not None:
        limits.depth = depth
    if strategy not in STRATEGIES:
        raise VenomError(f"unknown strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    client = target if isinstance(target, HttpClient) else HttpClient(target, timeout=timeout)
    exchanges = recorded_exchanges if recorded_exchanges is not None else _recorded_exchanges(tset)
    ex = Explorer(tset, client, adapters, checkers, databases=databases, swap_identities=swap_identities,
                  progress=progress, prefix_roots=prefix_roots if confirm else 0, recorded=exchanges, budget=budget)
    if adapters is None:
        ex.warnings.add("no-db", "no --db given: nothing is rolled back; branches see each other's writes and the API keeps them")
    stopped = StopReason.COMPLETE
    db_restored: bool | None = None
    restore_failed = False
    installed = False
    agreement = None
    mutation_stats = None
    lost: AdapterError | None = None
    clock = PhaseClock()
    try:
        with clock("start"):
            ex.start(start_state)
        installed = True
        for note in getattr(adapters, "notes", []) or []:
            ex.warnings.add("adapter", str(note))
        if confirm:
            with clock("replay"):
                agreement = confirm_recorded(ex, exchanges, max_steps=limits.recorded_steps,
                                             min_agreement=limits.min_agreement)
        search_start = time.monotonic()
        with clock("search"):
            if agreement is not None and not agreement.like_recording:
                stopped = StopReason.UNLIKE_RECORDING  # its findings would be about another API than the recorded one
            else:
                stopped = ex.search(strategy, limits, observed_pairs(tset))
        ex.search_seconds = time.monotonic() - search_start
        if mutations is not None and stopped != StopReason.UNLIKE_RECORDING and not ex.steps.target_down:
            from venom_replay.replay.mutations.run import run_mutations

            ex.emit("mutating")
            with clock("mutations"):
                mutation_stats = run_mutations(ex, mutations)
        with clock("findings"):
            if shrink:
                ex.emit("minimising")
                for finding in ex.book.ordered():
                    if not ex.steps.target_down:  # every replay would fail at its first step
                        ex.shrink(finding)
            ex.emit("confirming findings")
            ex.confirm_findings()
    except KeyboardInterrupt:
        stopped = StopReason.INTERRUPTED
    except AdapterError as exc:
        if not installed or _lost_database(exc) is None:
            raise
        lost = exc  # the run ends here; what it found so far is reported
        stopped = StopReason.DATABASE_LOST
        ex.warnings.add("db-lost", lost_connection_warning(str(exc)))
        for finding in ex.book.ordered():
            if finding.signature not in ex.reconfirmed:
                finding.notes.append(UNCONFIRMED_DB_LOST)
    finally:
        if installed:
            with DeferSigint(), clock("restore"):
                db_restored, restore_failed = _restore_at_end(ex, lost)
        if client is not target:
            client.close()
    if ex.steps.target_down and stopped != StopReason.INTERRUPTED:
        stopped = StopReason.TARGET_DOWN
    elif budget.cut and stopped == StopReason.COMPLETE:
        stopped = StopReason.TIME_LIMIT
    if budget.cut - {"search"}:
        ex.warnings.add("time-limit", f"the time limit ({limits.time_limit:g} s) cut short: {', '.join(sorted(budget.cut))} "
                        "(see the notes of the findings and the replay agreement)")
    if db_restored is False and not restore_failed:
        ex.warnings.add("db", "the databases' content after the final restore differs from the content before the run")
    ex.emit("done")
    dropped: list[Any] = []
    for checker in ex.steps.checkers:
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
        elapsed=time.monotonic() - ex.started,
        stopped=stopped,
        target=client.target.base_url,
        databases=[] if adapters is None else [getattr(adapters, "url", "")],
        checkers=[getattr(c, "name", type(c).__name__) for c in ex.steps.checkers],
        dropped_invariants=dropped,
        confirmed_steps=ex.confirmed_steps,
        suppressed=dict(ex.suppressed),
        minimize_runs=ex.minimize_runs,
        recording=tset.source,
        search_seconds=ex.search_seconds,
        prefix_roots=len(ex.prefixes.roots),
        replay_agreement=agreement.as_dict() if agreement is not None else None,
        time_cut=sorted(budget.cut),
        mutations=mutation_stats.as_dict() if mutation_stats is not None else None,
        phase_seconds=clock.report(),
    )
