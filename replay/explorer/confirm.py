"""The confirmation phase: replay each recorded session as recorded, from the baseline, before the
search.

What the recording itself does is the API's normal behaviour: a built-in checker's violation seen
here is not reported later (a warning says so), and learned oracles drop the invariants that the
recording breaks. On the way, the states where session prefixes end are kept as candidate search
roots (see prefix.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from venom_replay.proxy.recording import Exchange
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.explorer.actions import closest_example
from venom_replay.replay.explorer.prefix import ends_prefix, prefix_end
from venom_replay.replay.explorer.state import ValueKey
from venom_replay.replay.findings import Action

if TYPE_CHECKING:
    from venom_replay.replay.explorer.core import Explorer

MAX_CONFIRM_STEPS_PER_SESSION = 60
MAX_CONFIRM_STEPS = 400


def confirm_recorded(ex: Explorer, recording_exchanges: Mapping[int, Exchange]) -> None:
    """Replay each recorded session as recorded, from the baseline (at most ``MAX_CONFIRM_STEPS``)."""
    runner, position = ex.steps, ex.position
    budget = MAX_CONFIRM_STEPS
    for session, steps in ex.tset.sessions.items():
        if budget <= 0 or runner.target_down:
            break
        steps = [s for s in steps if s.template in ex.tset.templates][:MAX_CONFIRM_STEPS_PER_SESSION]
        if not steps:
            continue
        position.goto_root()
        values: dict[ValueKey, Any] = {}
        path: list[StepResult] = []
        actions: list[Action] = []
        for n, step in enumerate(steps, 1):
            budget -= 1
            recorded = recording_exchanges.get(step.seq)
            tpl = runner.template(step.template)
            action = Action(step.template, closest_example(tpl, recorded), recorded_prefix=True)
            res = runner.run(action, values)
            ex.confirmed_steps += 1
            position.mark_changed()
            if res.response is None:
                ex.warnings.add("transport", f"replaying recorded session {session}: {res.error}")
                break
            before = values
            values = runner.bind(values, res)
            path.append(res)
            actions.append(action)
            if ex.prefixes.limit > 0 and ends_prefix(tpl.method, res, before, values, session_end=n == len(steps)):
                ex.prefixes.note(prefix_end(session, actions, path, values, position, session_end=n == len(steps)))
            if recorded is not None and recorded.response is not None and recorded.response.status // 100 != res.response.status // 100:
                ex.confirm_mismatches += 1
            for v in runner.check(res, path, values, recorded=True):
                if v.checker != "learned" and v.signature not in ex.suppressed:
                    ex.suppressed[v.signature] = f"the recording itself shows it (session {session})"
                    ex.warnings.add("suppressed", f"not reported: {v.message} — replaying recorded session {session} shows the same")
    if ex.confirm_mismatches:
        # Expected in part: the baseline already holds what the recording created (409 on a second
        # sign-up). Many of them mean the templates or the API changed.
        ex.warnings.add("recorded-status", f"{ex.confirm_mismatches} of {ex.confirmed_steps} recorded steps answered "
                        "with another status class on replay than in the recording (the database already holds "
                        "what the recording created, values bound across sessions, or the API changed)")
    ex.emit("confirming")
