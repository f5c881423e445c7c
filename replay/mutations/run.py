"""The mutation phase of ``explore()``: after the sequence search, before shrinking.

Each template variant's mutations (generate.py) are sent once, from the shallowest state the search
reached where that variant answered 2xx unchanged (so the resource it is about exists), and the
databases are put back to that state before the next one, like every explored step. A mutated call
is checked like any step (judge.py says by which checkers, and buckets its findings by template,
field and mutation kind); once a bucket holds a finding, the other values of that field and kind are
not tried. The run's time limit holds: the phase stops while shrinking and confirming still fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.explorer.state import StateNode
from venom_replay.replay.explorer.steps import TIME_LIMIT, content_change
from venom_replay.replay.findings import Action
from venom_replay.replay.mutations.generate import generate
from venom_replay.replay.mutations.ids import CreatedId, created_ids
from venom_replay.replay.mutations.settings import MutationSettings

if TYPE_CHECKING:
    from venom_replay.proxy.infer.model import ActionTemplate
    from venom_replay.replay.explorer.core import Explorer


@dataclass(slots=True)
class MutationStats:
    """What the phase did, for the report and the benchmark."""

    variants: int = 0
    """Template variants mutated."""
    sent: int = 0
    """Mutated calls sent."""
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    """Answers by status class (``2xx``, ``4xx``, ``5xx``)."""
    findings_by_kind: dict[str, int] = field(default_factory=dict)
    """New finding buckets by mutation kind."""
    cut: bool = False
    """The time limit ended the phase early."""

    @staticmethod
    def merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
        """The ``as_dict()`` of several workers' shares of one phase as one (seconds: the longest share)."""
        out: dict[str, Any] = {"variants": 0, "sent": 0, "seconds": 0.0, "statuses": {}, "findings_by_kind": {}, "cut": False}
        for part in parts:
            out["variants"] += part["variants"]
            out["sent"] += part["sent"]
            out["seconds"] = max(out["seconds"], part["seconds"])
            out["cut"] = out["cut"] or part["cut"]
            for name in ("statuses", "findings_by_kind"):
                for k, n in part[name].items():
                    out[name][k] = out[name].get(k, 0) + n
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"variants": self.variants, "sent": self.sent, "seconds": round(self.seconds, 3),
                "statuses": dict(self.statuses), "findings_by_kind": dict(self.findings_by_kind), "cut": self.cut}


def recorded_answers(ex: Explorer) -> list[tuple[ActionTemplate, Response]]:
    """Every recorded answer with its template."""
    exchanges = ex.steps.recorded_exchanges()
    out = []
    for tpl in ex.tset.templates.values():
        for seq in tpl.exchange_seqs:
            exchange = exchanges.get(seq)
            if exchange is not None and exchange.response is not None:
                out.append((tpl, exchange.response))
    return out


def recorded_creates(ex: Explorer) -> list[CreatedId]:
    """The ids the recording's creates handed out, with their kind and creator."""
    exchanges = ex.steps.recorded_exchanges()
    return created_ids((tpl, exchanges[seq].request, exchanges[seq].response) for tpl in ex.tset.templates.values()
                       for seq in tpl.exchange_seqs if seq in exchanges and exchanges[seq].response is not None)


def recorded_requests(ex: Explorer, tpl: ActionTemplate) -> list[Request]:
    exchanges = ex.steps.recorded_exchanges()
    found = [exchanges[s].request for s in tpl.exchange_seqs if s in exchanges]
    return found or list(tpl.example_requests)


def starting_states(ex: Explorer) -> dict[str, StateNode]:
    """For each explored action (by name), the shallowest state it answered 2xx from; states below a
    recorded prefix only when no state from the baseline serves."""
    best: dict[str, StateNode] = {}
    for src, _dst, name, data in ex.graph.graph.out_edges(keys=True, data=True):
        if not any(200 <= s < 300 for s in data.get("statuses", [])):
            continue
        node = ex.graph.nodes.get(src)
        if node is None:
            continue
        known = best.get(name)
        if known is None or (node.prefix_len > 0, node.depth) < (known.prefix_len > 0, known.depth):
            best[name] = node
    return best


def run_mutations(ex: Explorer, settings: MutationSettings, *, only: set[str] | None = None) -> MutationStats:
    """Send every variant's mutations from its starting state; findings go to ``ex.book``. ``only``: the
    variants of these templates alone (several workers share the phase out by template: a template's
    finding buckets are its own)."""
    stats = MutationStats()
    if settings.per_template <= 0 or ex.root is None:
        return stats
    started = time.monotonic()
    answers = recorded_answers(ex)
    created = recorded_creates(ex)
    states = starting_states(ex)
    found_buckets: set[tuple[str, str, str]] = set()
    try:
        for action in ex.actions:
            if action.seq is not None or action.mutation is not None or (only is not None and action.template not in only):
                continue
            node = states.get(str(action))
            if node is None or not ex.steps.enabled(action, node.values):
                continue
            tpl = ex.tset.templates[action.template]
            examples = tpl.example_requests or ([tpl.example_request] if tpl.example_request else [])
            if action.example >= len(examples):
                continue
            mutations = generate(tpl, examples[action.example], recorded_requests(ex, tpl), answers, settings, created,
                                 swap_identities=ex.swap_identities)
            if mutations:
                stats.variants += 1
            for mutation in mutations:
                bucket = (action.template, mutation.location, mutation.kind)
                if bucket in found_buckets:
                    continue  # this field and kind crashed already: one finding per root cause
                if not _affordable(ex):
                    stats.cut = True
                    ex.budget.cut.add("mutations")
                    return stats
                if ex.steps.target_down or not ex.goto(node):
                    break
                violated, opened = _send(ex, node, replace(action, mutation=mutation), stats)
                if violated:
                    found_buckets.add(bucket)
                if opened:
                    stats.findings_by_kind[mutation.kind] = stats.findings_by_kind.get(mutation.kind, 0) + 1
    finally:
        stats.seconds = time.monotonic() - started
    return stats


def _affordable(ex: Explorer) -> bool:
    """One more mutated call fits, leaving twice what confirming every finding needs."""
    return not ex.steps.expired() and ex.budget.affords(1, keep=2 * ex._confirm_reserve())


def _send(ex: Explorer, node: StateNode, action: Action, stats: MutationStats) -> tuple[bool, bool]:
    """Run one mutated call from ``node`` (the databases are there) and check it: whether it broke
    a check, and whether that opened a new finding bucket."""
    before = ex.position.fp if ex.position.rollback else None
    res = ex.steps.run(action, node.values)
    if res.error == TIME_LIMIT:
        return False, False
    ex.position.mark_changed()  # the next call starts from ``node`` again: restored
    if res.response is None:
        if not (res.error or "").startswith("mutation not applicable"):
            ex.warnings.add("transport", f"mutated call {action}: {res.error}")
        return False, False
    stats.sent += 1
    cls = f"{res.response.status // 100}xx"
    stats.statuses[cls] = stats.statuses.get(cls, 0) + 1
    values = ex.steps.bind(node.values, res, action)
    violations = [v for v in ex.steps.check(res, node.results + (res,), values, changed=content_change(ex.position, before))
                  if v.signature not in ex.suppressed]
    opened = False
    for v in violations:
        opened = ex.book.add(v, list(node.path) + [action], list(node.results) + [res]) or opened
    return bool(violations), opened
