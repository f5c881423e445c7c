"""Evidence from the recording: which kinds of access the server was seen refusing, replayed in recorded order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from venom_replay.proxy.recording import Exchange
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals.callers import caller_names
from venom_replay.replay.checkers.principals.names import access_class, refused
from venom_replay.replay.checkers.principals.scopes import children_of, covers
from venom_replay.replay.checkers.principals.tracker import AccessTracker


def recorded_path(tset: Any, exchanges: Mapping[int, Exchange]) -> list[StepResult]:
    """The whole recording as one path, in its recorded order across sessions (a grant in the admin's
    session and a refusal in bob's belong to one story)."""
    steps = sorted((s for steps in tset.sessions.values() for s in steps), key=lambda s: s.seq)
    out = []
    for s in steps:
        tpl = tset.templates.get(s.template)
        ex = exchanges.get(s.seq)
        if tpl is not None and ex is not None and ex.response is not None:
            out.append(StepResult(template=tpl, request=ex.request, response=ex.response))
    return out


def refusal_evidence(path: Sequence[StepResult]) -> set[tuple[str, str]]:
    """``(scope kind, access class)`` pairs the recording shows the server checking per principal: a
    principal was refused a call (401/403) that an access change of that principal is about, while
    it did not hold that access (after its revocation, or before a grant that came later)."""
    tracker = AccessTracker()
    for step in path:
        tracker.add(step)
    changes, book = tracker.changes, tracker.book
    evidence: set[tuple[str, str]] = set()
    for i, step in enumerate(path):
        if not refused(step):
            continue
        names = caller_names(path, i)
        if not names:
            continue
        for change in changes:
            if not change.concerns(names):
                continue
            if not covers(change.scope, step, book, children_of(path, change.scope, len(path))):
                continue
            before = [c for c in changes if c.index < i and c.concerns(names) and c.scope.kind == change.scope.kind]
            lost = change.kind == "revoke" and change.index < i and (not before or before[-1].kind == "revoke")
            lacked = change.kind == "grant" and change.index > i
            if lost or lacked:
                evidence.add((change.scope.kind, access_class(step.template)))
    return evidence
