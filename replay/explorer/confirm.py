"""The confirmation phase: replay the recording itself, before the search.

Every recorded exchange of a replayable template is sent again in the recorded global order, as it
was recorded (method, path, query, headers, body), with its recorded values translated to the live
ones learned from earlier answers (translation.py). Not session by session: sessions depend on each
other (the admin's session creates the users the others log in as).

What the recording itself does is the API's normal behaviour: a built-in checker's violation seen
here is not reported later (a warning says so), and learned oracles drop the invariants that the
recording breaks. The share of steps that answer with the recorded status class is the replay
agreement, which every run reports: low agreement means the exploration runs against another API
than the recording shows. Below ``min_agreement`` (``--min-agreement``) the run says the target does
not behave like the recording and does not search it: a server answering 404 to everything, or not
answering at all, would otherwise pass as "no findings". The replay also stops after
``UNANSWERED_AFTER`` recorded steps in a row got no answer (each waited its timeout), so a target
that accepts connections and never answers ends the run in a few timeouts. On the way, states after
recorded writes are kept as candidate search roots (see prefix.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from venom_replay.proxy.infer.model import Step
from venom_replay.proxy.recording import Exchange
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.explorer.actions import closest_example
from venom_replay.replay.explorer.prefix import ends_prefix, prefix_end
from venom_replay.replay.explorer.state import ValueKey
from venom_replay.replay.explorer.steps import TIME_LIMIT, content_change
from venom_replay.replay.findings import Action
from venom_replay.replay.options import DEFAULTS

if TYPE_CHECKING:
    from venom_replay.replay.explorer.core import Explorer

FIRST_MISMATCHES = 20
"""Mismatches listed in the report (the count covers all)."""
UNANSWERED_AFTER = 3
"""Recorded steps in a row without any answer after which the replay gives up on the target."""


@dataclass(slots=True)
class ReplayAgreement:
    """How faithfully the recording replayed: steps sent, and how many got the recorded status class."""

    recorded: int = 0
    """Recorded steps of replayable templates."""
    steps: int = 0
    """Steps replayed (the rest were cut by ``--max-recorded-steps`` or the time limit)."""
    same_status_class: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    """The first ``FIRST_MISMATCHES``: seq, session, template, method, path, recorded and live status."""
    min_agreement: float = DEFAULTS.min_agreement
    """Below this share of replayed steps with the recorded status class, the target is not the recorded API."""
    unanswered: bool = False
    """The replay stopped because ``UNANSWERED_AFTER`` steps in a row got no answer."""

    @property
    def share(self) -> float | None:
        """Replayed steps that got the recorded status class, as a share (None: none replayed)."""
        return self.same_status_class / self.steps if self.steps else None

    @property
    def like_recording(self) -> bool:
        """Whether the target answered the replayed recording as recorded, often enough to explore it."""
        return self.share is None or self.share >= self.min_agreement

    def note(self, step: Step, session: str, recorded: Exchange | None, result: StepResult) -> None:
        self.steps += 1
        want = recorded.response.status if recorded is not None and recorded.response is not None else None
        got = result.response.status if result.response is not None else None
        if want is not None and got is not None and want // 100 == got // 100:
            self.same_status_class += 1
        elif len(self.mismatches) < FIRST_MISMATCHES:
            self.mismatches.append({"seq": step.seq, "session": session, "template": step.template,
                                    "method": result.request.method, "path": result.request.path,
                                    "recorded_status": want, "live_status": got,
                                    **({"error": result.error} if result.error else {})})

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "same_status_class": self.same_status_class, "recorded": self.recorded,
                "first_mismatches": list(self.mismatches), "min_agreement": self.min_agreement,
                "like_recording": self.like_recording, "unanswered": self.unanswered}


def recorded_order(ex: Explorer) -> list[tuple[str, Step]]:
    """Every recorded step of a replayable template, with its session, in the recorded global order."""
    steps = [(str(session), step) for session, steps in ex.tset.sessions.items() for step in steps
             if step.template in ex.tset.templates]
    return sorted(steps, key=lambda pair: pair[1].seq)


def confirm_recorded(ex: Explorer, exchanges: Mapping[int, Exchange], *, max_steps: int,
                     min_agreement: float = DEFAULTS.min_agreement) -> ReplayAgreement:
    """Replay the recording from the baseline (at most ``max_steps`` steps, within the time budget)."""
    runner, position = ex.steps, ex.position
    order = recorded_order(ex)
    last_of = {session: step.seq for session, step in order}
    agreement = ReplayAgreement(recorded=len(order), min_agreement=min_agreement)
    unanswered = 0
    position.goto_root()
    values: dict[ValueKey, Any] = {}
    path: list[StepResult] = []
    actions: list[Action] = []
    # Learned invariants the recording breaks are dropped by their checker; a leak stays a finding
    # even when the recorded traffic shows it. Every other violation seen here is normal behaviour.
    reported_anyway = {"learned"} | {c.name for c in runner.checkers if getattr(c, "reports_recorded", False)}
    for session, step in order:
        if agreement.steps >= max_steps or runner.target_down:
            break
        if ex.budget.recorded_over():
            ex.budget.cut.add("recorded")
            break
        recorded = exchanges.get(step.seq)
        tpl = runner.template(step.template)
        action = Action(step.template, closest_example(tpl, recorded), recorded_prefix=True,
                        seq=step.seq if recorded is not None else None)
        # A recorded refusal may write (an audit row): the fingerprint before it lets the checkers see that.
        refused = recorded is not None and recorded.response is not None and recorded.response.status >= 400
        fp_before = position.db.fingerprint() if refused and position.rollback else None
        res = runner.run(action, values)
        position.mark_changed()
        if res.error == TIME_LIMIT:
            ex.budget.cut.add("recorded")
            break
        agreement.note(step, session, recorded, res)
        if res.response is None:
            ex.warnings.add("transport", f"replaying the recording, step {step.seq} ({step.template}): {res.error}")
            unanswered += 1
            if unanswered >= UNANSWERED_AFTER and not runner.target_down:
                # Each of them waited the whole timeout: searching on would wait it at every step.
                agreement.unanswered = runner.target_down = True
                ex.warnings.add("unanswered", f"the target did not answer {unanswered} recorded steps in a row: "
                                "the run ended")
            continue
        unanswered = 0
        before = values
        values = runner.bind(values, res, action)
        path.append(res)
        actions.append(action)
        session_end = last_of[session] == step.seq
        if ex.prefixes.limit > 0 and ends_prefix(tpl.method, res, before, values, session_end=session_end):
            ex.prefixes.note(prefix_end(session, actions, path, values, position, session_end=session_end))
        for v in runner.check(res, path, values, recorded=True, changed=content_change(position, fp_before)):
            if v.checker not in reported_anyway and v.signature not in ex.suppressed:
                ex.suppressed[v.signature] = f"the recording itself shows it (step {step.seq}, session {session})"
                ex.warnings.add("suppressed", f"not reported: {v.message} — replaying the recording (session "
                                f"{session}) shows the same")
    ex.confirmed_steps = agreement.steps
    ex.emit("confirming")
    return agreement
