"""Running one step: the request rendered from its template and the values bound so far (or, for a
step of the recording, the recorded request with its values translated to the live ones), sent
over HTTP, the values its answer produces bound, and the checkers run on it.

The explorer's search, its minimisation and the ``reproduce`` command all run steps this one way,
so a finding replayed later is instantiated exactly as it was found. ``replay_sequence`` runs a
whole sequence from the restored baseline, the way minimisation and reproduction need it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.infer.instantiate import (
    apply_transform,
    extract_values,
    missing_values,
    render_request,
)
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Exchange, Request, read_recording
from venom_replay.replay.checkers.base import (
    BoundUse,
    Checker,
    StepContext,
    StepResult,
    Violation,
)
from venom_replay.replay.explorer.budget import Budget
from venom_replay.replay.explorer.guards import FinishRequest
from venom_replay.replay.explorer.position import Position
from venom_replay.replay.explorer.resources import ScopedSources, latest_for, remember
from venom_replay.replay.explorer.state import ValueKey, public_values
from venom_replay.replay.explorer.translation import (
    TRANSLATION,
    sent_value,
    translation_of,
)
from venom_replay.replay.explorer.warning_log import WarningLog
from venom_replay.replay.findings import Action
from venom_replay.replay.http_client import HttpClient

UNREACHABLE_AFTER = 3
"""Consecutive "unreachable" transport errors after which the target counts as down."""
TIME_LIMIT = "not sent: the time limit was reached"
"""The error of a step the runner refused to send because the run's time limit had passed."""


class StepRunner:
    """Runs steps of ``tset``'s templates against one API and checks them with ``checkers``."""

    def __init__(self, tset: TemplateSet, client: HttpClient, checkers: Sequence[Checker], *,
                 databases: Mapping[str, Any] | None = None, warnings: WarningLog | None = None,
                 recorded: Mapping[int, Exchange] | None = None, budget: Budget | None = None) -> None:
        self.tset = tset
        self.client = client
        self.checkers = list(checkers)
        self.databases = dict(databases or {})
        self.warnings = warnings if warnings is not None else WarningLog()
        self.var_of: dict[ValueKey, str] = {(t.id, p.source): p.var for t in tset.templates.values() for p in t.produces}
        self.scoped = ScopedSources.of(tset)
        self._recorded = recorded
        self.budget = budget
        """The run's time limit: no step is sent after it (None: no limit)."""
        self.checker_failures: set[str] = set()
        self.consecutive_errors = 0
        self.target_down = False

    def template(self, tid: str) -> ActionTemplate:
        return self.tset.templates[tid]

    def effective_values(self, tpl: ActionTemplate, values: Mapping[ValueKey, Any]) -> Mapping[ValueKey, Any]:
        """``values`` plus stand-ins for missing bindings: a value of the same variable that another
        producer yielded on this path (the order id from ``POST /orders`` where the recording bound it
        from ``POST /orders/{id}/cancel``). Without them many orderings would never be enabled."""
        missing = missing_values(tpl, values)
        if not missing:
            return values
        out = dict(values)
        for c in missing:
            names = {c.var, re.split(r"[:.\[\]$]+", c.location)[-1] or c.var}
            for key in reversed(list(values)):  # the newest binding wins
                if self.var_of.get(key) in names:
                    out[(c.producer, c.source)] = values[key]
                    break
        return out

    def render_values(self, tpl: ActionTemplate, action: Action, values: Mapping[ValueKey, Any]) -> Mapping[ValueKey, Any]:
        """The values ``action``'s request is rendered with: ``effective_values``, and for a binding
        to the same resource the value from the latest answer about the resource this request is
        about (left unbound when there is none on the path; see resources.py)."""
        values = self.effective_values(tpl, values)
        scoped = [c for c in tpl.consumes if c.same_resource and (c.producer, c.source) in values]
        if not scoped:
            return values
        request = render_request(tpl, values, example=action.example, base_url=self.client.target.base_url)
        keys = self.scoped.request_keys(request.path, self._uses(tpl, values))
        out = dict(values)
        for c in scoped:
            found, value = latest_for(values, (c.producer, c.source), keys)
            if found:
                out[(c.producer, c.source)] = value
            else:
                del out[(c.producer, c.source)]
        return out

    def enabled(self, action: Action, values: Mapping[ValueKey, Any]) -> bool:
        tpl = self.template(action.template)
        return not missing_values(tpl, self.render_values(tpl, action, values), example=action.example)

    def runnable(self, action: Action, values: Mapping[ValueKey, Any]) -> bool:
        """A step of a recorded prefix runs as it was recorded: a value it took from another session
        (the product the admin created) is the recorded one, as when the prefix was first replayed."""
        return action.recorded_prefix or self.enabled(action, values)

    def recorded_exchanges(self) -> Mapping[int, Exchange]:
        """The recorded exchanges by sequence number (read from the recording when none were given)."""
        if self._recorded is None:
            try:
                self._recorded = {ex.seq: ex for ex in read_recording(self.tset.source).exchanges} if self.tset.source else {}
            except VenomError:
                self._recorded = {}
        return self._recorded

    def recorded_exchange(self, seq: int) -> Exchange | None:
        return self.recorded_exchanges().get(seq)

    def expired(self) -> bool:
        return self.budget is not None and self.budget.expired()

    def _uses(self, tpl: ActionTemplate, values: Mapping[ValueKey, Any]) -> dict[str, BoundUse]:
        """Which bound value each bound location of a rendered request carries."""
        used: dict[str, BoundUse] = {}
        for c in tpl.consumes:
            if (c.producer, c.source) in values:
                try:
                    value = apply_transform(c.transform, values[(c.producer, c.source)])
                except VenomError:
                    value = values[(c.producer, c.source)]
                used[c.location] = BoundUse(c.producer, c.source, value)
        return used

    def _recorded_request(self, tpl: ActionTemplate, exchange: Exchange,
                          values: Mapping[ValueKey, Any]) -> tuple[Request, dict[str, BoundUse]]:
        """The recorded request with its values translated to this path's live ones, sent to the
        target; and the bound values it carries (from producers that ran on this path)."""
        request = translation_of(values).request(tpl, exchange.request)
        used: dict[str, BoundUse] = {}
        for c in tpl.consumes:
            if (c.producer, c.source) in values:
                try:
                    used[c.location] = BoundUse(c.producer, c.source, sent_value(tpl, request, c.location))
                except KeyError:
                    continue
        target = self.client.target
        request = replace(request, scheme=target.scheme, host=target.host, port=target.port,
                          path=target.prefix + request.path, query=list(request.query), headers=list(request.headers))
        request.body_size = len(request.body)
        return request, used

    def run(self, action: Action, values: Mapping[ValueKey, Any]) -> StepResult:
        """Send ``action``'s request with ``values`` bound; the answer and the values it produced.
        A step of the recording (``action.seq``) is its recorded request, translated."""
        tpl = self.template(action.template)
        exchange = self.recorded_exchange(action.seq) if action.seq is not None else None
        if exchange is not None:
            request, used = self._recorded_request(tpl, exchange, values)
        else:
            values = self.render_values(tpl, action, values)
            request = render_request(tpl, values, example=action.example, base_url=self.client.target.base_url)
            used = self._uses(tpl, values)
            if action.mutation is not None:
                from venom_replay.replay.mutations.apply import (
                    NotApplicable,
                    apply_mutation,
                )

                try:
                    request = apply_mutation(request, tpl.path, action.mutation)
                except NotApplicable as exc:
                    return StepResult(tpl, request, None, error=f"mutation not applicable: {exc}", mutation=action.mutation)
        if self.expired():
            return StepResult(tpl, request, None, error=TIME_LIMIT)
        started = time.monotonic()
        with FinishRequest():
            result = self.client.execute(tpl, request)
        result.consumed.update(used)
        result.mutation = action.mutation
        if result.response is not None:
            try:
                result.produced = extract_values(tpl, result.response, request)
            except Exception as exc:  # a malformed reply must not stop the run
                self.warnings.add("extract", f"{tpl.label}: could not read produced values ({exc})")
            self.consecutive_errors = 0
        else:
            self.consecutive_errors += 1
            if self.consecutive_errors >= UNREACHABLE_AFTER and "unreachable" in (result.error or ""):
                self.target_down = True
        if self.budget is not None:
            self.budget.note_step(time.monotonic() - started)
        return result

    def bind(self, values: Mapping[ValueKey, Any], result: StepResult, action: Action | None = None) -> dict[ValueKey, Any]:
        """``values`` with what ``result`` produced bound (the newest binding last); per-resource
        values remembered with their resource; for a step of the recording (``action.seq``), what
        its live answer taught about recorded -> live values."""
        new = dict(values)
        for source, value in result.produced.items():
            new.pop((result.template.id, source), None)  # re-insert: the newest binding comes last
            new[(result.template.id, source)] = value
        remember(new, self.scoped, result)
        exchange = self.recorded_exchange(action.seq) if action is not None and action.seq is not None else None
        # Only an answer of the recorded kind teaches anything: a 409 has no id to compare with the 201's.
        if (exchange is not None and exchange.response is not None and result.response is not None
                and exchange.response.status // 100 == result.response.status // 100):
            new[TRANSLATION] = translation_of(values).learned(result.template, exchange.response, result.response)
        return new

    def check(self, result: StepResult, path: Sequence[StepResult], values: Mapping[ValueKey, Any], *,
              recorded: bool = False, changed: Callable[[], bool | None] | None = None) -> list[Violation]:
        """Every checker's violations for ``result``, the last step of ``path``; ``changed`` tells
        whether the step changed the databases (``content_change``). A mutated step is judged by the
        checkers that judge changed values, in buckets of their own (replay/mutations/judge.py)."""
        ctx = StepContext(step=result, path=path, values=public_values(values), templates=self.tset,
                          databases=self.databases, replays_recorded_path=recorded, content_changed=changed)
        checkers = self.checkers
        if result.mutation is not None:
            from venom_replay.replay.mutations.judge import (
                judges_mutated,
                mutated_violations,
            )

            checkers = [c for c in checkers if judges_mutated(c)]
        found: list[Violation] = []
        for checker in checkers:
            try:
                found.extend(checker.check(ctx) or [])
            except Exception as exc:  # a broken user invariant is reported, and the run goes on
                name = getattr(checker, "name", type(checker).__name__)
                if name not in self.checker_failures:
                    self.checker_failures.add(name)
                    self.warnings.add("checker", f"checker {name} failed on {result.template.label}: {type(exc).__name__}: {exc}")
        return found if result.mutation is None else mutated_violations(result, found)


def content_change(position: Position, before: str | None) -> Callable[[], bool | None]:
    """Whether the step just run changed the databases' content, compared with ``before`` (their
    fingerprint before the step); the fingerprint is taken once, when a checker first asks."""
    answer: list[bool | None] = []

    def changed() -> bool | None:
        if not answer:
            answer.append(None if before is None or not position.rollback else position.db.fingerprint() != before)
        return answer[0]

    return changed


@dataclass(slots=True)
class StepOutcome:
    """What one step from a state gave: everything the search needs to count it, book its violations and
    merge the state it led to. Plain data: it travels from a worker process to the coordinator."""

    action: Action
    result: StepResult | None
    """None: not sent (the time limit came first)."""
    values: dict[ValueKey, Any] | None = None
    """The values bound after the step (None when it got no answer)."""
    key: str | None = None
    """The state it led to."""
    fingerprint: str = ""
    violations: list[Violation] = field(default_factory=list)


@dataclass(slots=True)
class SequenceRun:
    """One execution of a sequence from the baseline."""

    steps: list[StepResult] = field(default_factory=list)
    """The steps sent, a step whose request failed included (last)."""
    violations: list[Violation] = field(default_factory=list)
    """The violations of the last step checked."""
    broke_off: str | None = None
    """Why the sequence did not run to its end (None: it did)."""
    unanswered: str | None = None
    """The transport error of a step the target did not answer (it went away, or hung)."""

    def match(self, signature: str) -> Violation | None:
        """The violation with ``signature``, if the sequence ran to its end and showed it."""
        if self.broke_off is not None:
            return None
        return next((v for v in self.violations if v.signature == signature), None)


def replay_sequence(runner: StepRunner, position: Position, actions: Sequence[Action], *,
                    check_every_step: bool = False,
                    on_step: Callable[[int, StepResult], None] | None = None) -> SequenceRun:
    """Run ``actions`` from the restored baseline, checking the last step (or, with
    ``check_every_step``, each one: user invariants then see the databases after every step)."""
    position.goto_root()
    run = SequenceRun()
    values: dict[ValueKey, Any] = {}
    for i, action in enumerate(actions, 1):
        if runner.expired():
            run.broke_off = f"the time limit came before step {i}"
            break
        if not runner.runnable(action, values):
            position.mark_changed()
            run.broke_off = f"step {i} ({action.template}) has unbound values: an earlier step did not produce them"
            break
        checked = check_every_step or i == len(actions)
        before = position.db.fingerprint() if checked and position.rollback else None
        res = runner.run(action, values)
        position.mark_changed()
        run.steps.append(res)
        if on_step is not None:
            on_step(i, res)
        if res.response is None:
            run.broke_off = f"step {i}: {res.error}"
            if res.error != TIME_LIMIT:
                run.unanswered = res.error
            break
        values = runner.bind(values, res, action)
        if checked:
            run.violations = runner.check(res, run.steps, values, changed=content_change(position, before))
    return run
