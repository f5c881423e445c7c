"""Controls for failed-write findings: is the write the call's own, or the server's bookkeeping?

Some servers write on any request about a resource: Kinto creates a collection's timestamp row on
the first request about its records (a refused PUT of a record, or a GET of the list), whatever the
answer; others log each access. A refused call that changes the databases is only a finding when
- a plain read of the same URL, and of the collection it belongs to, from the same state, writes
  nothing (``read_also_writes``), and
- the same refused call, sent once more, writes again (``repeat_writes_nothing``): a one-time
  initialisation happens once, a row a refused create keeps is kept every time. (An update that a
  refused call keeps and that a second call would only set again is missed: precision first.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from venom_replay.replay.explorer.position import Position
from venom_replay.replay.explorer.steps import SequenceRun, StepRunner
from venom_replay.replay.findings import Finding

# Headers that make no sense on a GET, or would make it conditional.
_DROPPED_HEADERS = frozenset({"content-type", "content-length", "if-match", "if-none-match", "transfer-encoding"})


def read_also_writes(finding: Finding, steps: StepRunner, position: Position,
                     replay: Callable[[Sequence], SequenceRun]) -> bool:
    """For the URL of ``finding``'s last step and for its parent (one segment up): replay the steps
    before the last from the baseline, send a GET of it (same query and credentials, no body) and
    tell whether any such read changed the databases."""
    if not position.rollback or not finding.steps:
        return False
    last = finding.steps[-1]
    headers = [(k, v) for k, v in last.request.headers if k.lower() not in _DROPPED_HEADERS]
    parent = last.request.path.rstrip("/").rsplit("/", 1)[0]
    for path in dict.fromkeys(p for p in (last.request.path, parent) if p):
        prefix = replay(finding.actions[:-1])
        if prefix.broke_off is not None:
            return False
        before = position.db.fingerprint()
        read = replace(last.request, method="GET", path=path, body=b"", headers=headers, body_size=0,
                       body_truncated=False)
        answer = steps.client.execute(last.template, read)
        position.mark_changed()
        if answer.response is not None and position.db.fingerprint() != before:
            return True
    return False


def repeat_writes_nothing(finding: Finding, steps: StepRunner, position: Position,
                          replay: Callable[[Sequence], SequenceRun]) -> bool:
    """Replay ``finding``'s steps from the baseline, send its last request once more and tell whether
    that second, identical call left the databases as the first one did."""
    if not position.rollback or not finding.steps:
        return False
    run = replay(finding.actions)
    if run.broke_off is not None or not run.steps:
        return False
    before = position.db.fingerprint()
    last = run.steps[-1]
    again = steps.client.execute(last.template, last.request)
    position.mark_changed()
    refused_again = again.response is not None and again.response.status >= 400
    return refused_again and position.db.fingerprint() == before
