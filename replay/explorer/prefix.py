"""Prefix roots: states that the replay of the recording reaches, used as extra starting points of
the search.

A bug that needs a long set-up (log in, order, pay, then refund twice) lies deeper than the search
goes from the baseline. The confirmation replay of the recording passes through such set-ups anyway:
where a prefix of that one global replay ends (a write succeeded, new values were bound, a session
ended) its state is kept, and the best of them become search roots at depth 0. Findings from there
carry the prefix's steps, marked ``recorded_prefix`` and with the recorded exchange each replays
(``Action.seq``), so that shrinking and ``reproduce`` send them as recorded, translated the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from venom_replay.adapters.base import Checkpoint
from venom_replay.proxy.infer.effects import READ_METHODS
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.explorer.position import Position
from venom_replay.replay.explorer.state import StateGraph, StateNode, ValueKey, is_bookkeeping, state_key
from venom_replay.replay.findings import Action

_UNSET = object()


@dataclass(slots=True)
class PrefixEnd:
    """A state the replay of the recording reached: a candidate search root."""

    session: str
    """The session of the last recorded step."""
    actions: tuple[Action, ...]
    results: tuple[StepResult, ...]
    values: dict[ValueKey, Any]
    fingerprint: str
    checkpoint: Checkpoint | None
    """Branching adapters checkpoint it at once; the others reach it by re-executing the prefix."""
    session_end: bool


def ends_prefix(method: str, step: StepResult, before: Mapping[ValueKey, Any], after: Mapping[ValueKey, Any], *,
                session_end: bool) -> bool:
    """Whether a prefix may end after ``step``: where its session ends, where it bound new values, or
    after a write that succeeded (the state a second refund or a read after the delete starts from)."""
    wrote = step.response is not None and step.response.status < 300 and method not in READ_METHODS
    return session_end or wrote or any(before.get(k, _UNSET) != v for k, v in after.items() if not is_bookkeeping(k))


def lineage_step(node: StateNode, i: int) -> tuple[Action, ...]:
    """The actions from ``node.lineage[i]`` to ``node.lineage[i + 1]``: one explored action, or the
    recorded steps from one prefix root (or the baseline) to the next."""
    marks = node.prefix_marks
    if i < len(marks):
        return tuple(node.path[marks[i - 1] if i else 0:marks[i]])
    return (node.path[node.prefix_len + i - len(marks)],)


class PrefixRoots:
    """Collects prefix ends during the replay of the recording; turns the best into search roots."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        """At most this many roots (0: off)."""
        self.ends: list[PrefixEnd] = []
        self.roots: list[StateNode] = []

    def note(self, end: PrefixEnd) -> None:
        self.ends.append(end)

    def _ranked(self, tset: TemplateSet) -> list[PrefixEnd]:
        """Prefixes with the same steps count once. They are grouped by their last call (after a
        refund, after a delete, at a session's end...) and the groups take turns, deepest prefix first,
        so the roots cover the most different recorded moments. A one-step prefix is what the search
        reaches anyway."""
        by_last: dict[tuple[str, bool], list[PrefixEnd]] = {}
        seen: set[tuple[str, ...]] = set()
        for end in self.ends:
            steps = tuple(str(a) for a in end.actions)
            last = end.actions[-1].template
            useful = len(steps) > 1 and (end.session_end or tset.templates[last].method != "GET")
            if steps in seen or not useful:
                continue
            seen.add(steps)
            by_last.setdefault((last, end.session_end), []).append(end)
        for group in by_last.values():
            group.sort(key=lambda e: -len(e.actions))  # stable: the earlier of equal lengths first
        return [end for turn in itertools.zip_longest(*by_last.values()) for end in turn if end is not None]

    def add_roots(self, graph: StateGraph, root: StateNode, tset: TemplateSet, volatile: set[ValueKey],
                  position: Position) -> list[StateNode]:
        """Add the best prefix ends to ``graph`` as roots at depth 0, up to ``limit`` distinct states,
        their checkpoints to ``position``. They are prefixes of one replay, so each is reached from
        the one before it (the baseline for the first): shortest first, re-executing a root's path
        costs only the recorded steps since the previous root."""
        chosen: dict[str, PrefixEnd] = {}
        for end in self._ranked(tset):
            if len(chosen) >= self.limit:
                break
            key = state_key([end.fingerprint], end.values, volatile)
            if key not in graph and key not in chosen:  # else the baseline or an equal prefix state
                chosen[key] = end
        before = root
        for key, end in sorted(chosen.items(), key=lambda kv: len(kv[1].actions)):
            node = StateNode(key=key, depth=0, fingerprint=end.fingerprint, values=dict(end.values), path=end.actions,
                             lineage=before.lineage + (key,), results=end.results, prefix_len=len(end.actions),
                             prefix_marks=before.prefix_marks + (len(end.actions),))
            graph.add_state(node, prefix_root=True)
            first = before.prefix_len + 1
            graph.add_transition(before.key, key, template=f"recorded:{first}-{len(end.actions)}",
                                 label=f"recorded steps {first} to {len(end.actions)} (the last of session {end.session})",
                                 status=end.results[-1].response.status if end.results[-1].response else None)
            if end.checkpoint is not None:
                position.keep(key, end.checkpoint, fingerprint=end.fingerprint)
            self.roots.append(node)
            before = node
        self.ends.clear()  # the unused checkpoints and answers are not needed any more
        return self.roots


def prefix_end(session: str, actions: Sequence[Action], path: Sequence[StepResult], values: Mapping[ValueKey, Any],
               position: Position, *, session_end: bool) -> PrefixEnd:
    """The state this prefix of the recorded replay reached now (its content, and the values bound
    live in this replay). Branching adapters checkpoint it now; the others reach it later by
    re-executing the prefix from the baseline."""
    seen = position.observe(checkpoint=position.branching)
    return PrefixEnd(str(session), tuple(actions), tuple(path), dict(values), seen.fingerprint, seen.checkpoint,
                     session_end)
