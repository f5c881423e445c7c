"""Running one step: the request rendered from its template and the values bound so far, sent over
HTTP, the values its answer produces bound, and the checkers run on it.

The explorer's search, its minimisation and the ``reproduce`` command all run steps this one way,
so a finding replayed later is instantiated exactly as it was found. ``replay_sequence`` runs a
whole sequence from the restored baseline, the way minimisation and reproduction need it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.infer.instantiate import apply_transform, extract_values, missing_values, render_request
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.replay.checkers.base import BoundUse, Checker, StepContext, StepResult, Violation
from venom_replay.replay.explorer.guards import FinishRequest
from venom_replay.replay.explorer.position import Position
from venom_replay.replay.explorer.state import ValueKey
from venom_replay.replay.explorer.warning_log import WarningLog
from venom_replay.replay.findings import Action
from venom_replay.replay.http_client import HttpClient

UNREACHABLE_AFTER = 3
"""Consecutive "unreachable" transport errors after which the target counts as down."""


class StepRunner:
    """Runs steps of ``tset``'s templates against one API and checks them with ``checkers``."""

    def __init__(self, tset: TemplateSet, client: HttpClient, checkers: Sequence[Checker], *,
                 databases: Mapping[str, Any] | None = None, warnings: WarningLog | None = None) -> None:
        self.tset = tset
        self.client = client
        self.checkers = list(checkers)
        self.databases = dict(databases or {})
        self.warnings = warnings if warnings is not None else WarningLog()
        self.var_of: dict[ValueKey, str] = {(t.id, p.source): p.var for t in tset.templates.values() for p in t.produces}
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

    def enabled(self, action: Action, values: Mapping[ValueKey, Any]) -> bool:
        tpl = self.template(action.template)
        return not missing_values(tpl, self.effective_values(tpl, values))

    def runnable(self, action: Action, values: Mapping[ValueKey, Any]) -> bool:
        """A step of a recorded prefix runs as it was recorded: a value it took from another session
        (the product the admin created) is the recorded one, as when the prefix was first replayed."""
        return action.recorded_prefix or self.enabled(action, values)

    def run(self, action: Action, values: Mapping[ValueKey, Any]) -> StepResult:
        """Send ``action``'s request with ``values`` bound; the answer and the values it produced."""
        tpl = self.template(action.template)
        values = self.effective_values(tpl, values)
        request = render_request(tpl, values, example=action.example, base_url=self.client.target.base_url)
        with FinishRequest():
            result = self.client.execute(tpl, request)
        for c in tpl.consumes:
            if (c.producer, c.source) in values:
                try:
                    used = apply_transform(c.transform, values[(c.producer, c.source)])
                except VenomError:
                    used = values[(c.producer, c.source)]
                result.consumed[c.location] = BoundUse(c.producer, c.source, used)
        if result.response is not None:
            try:
                result.produced = extract_values(tpl, result.response)
            except Exception as exc:  # a malformed reply must not stop the run
                self.warnings.add("extract", f"{tpl.label}: could not read produced values ({exc})")
            self.consecutive_errors = 0
        else:
            self.consecutive_errors += 1
            if self.consecutive_errors >= UNREACHABLE_AFTER and "unreachable" in (result.error or ""):
                self.target_down = True
        return result

    @staticmethod
    def bind(values: Mapping[ValueKey, Any], result: StepResult) -> dict[ValueKey, Any]:
        """``values`` with what ``result`` produced bound (the newest binding last)."""
        new = dict(values)
        for source, value in result.produced.items():
            new.pop((result.template.id, source), None)  # re-insert: the newest binding comes last
            new[(result.template.id, source)] = value
        return new

    def check(self, result: StepResult, path: Sequence[StepResult], values: Mapping[ValueKey, Any], *,
              recorded: bool = False) -> list[Violation]:
        """Every checker's violations for ``result``, the last step of ``path``."""
        ctx = StepContext(step=result, path=path, values=values, templates=self.tset,
                          databases=self.databases, replays_recorded_path=recorded)
        found: list[Violation] = []
        for checker in self.checkers:
            try:
                found.extend(checker.check(ctx) or [])
            except Exception as exc:  # a broken user invariant is reported, and the run goes on
                name = getattr(checker, "name", type(checker).__name__)
                if name not in self.checker_failures:
                    self.checker_failures.add(name)
                    self.warnings.add("checker", f"checker {name} failed on {result.template.label}: {type(exc).__name__}: {exc}")
        return found


@dataclass(slots=True)
class SequenceRun:
    """One execution of a sequence from the baseline."""

    steps: list[StepResult] = field(default_factory=list)
    """The steps sent, a step whose request failed included (last)."""
    violations: list[Violation] = field(default_factory=list)
    """The violations of the last step checked."""
    broke_off: str | None = None
    """Why the sequence did not run to its end (None: it did)."""

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
        if not runner.runnable(action, values):
            position.mark_changed()
            run.broke_off = f"step {i} ({action.template}) has unbound values: an earlier step did not produce them"
            break
        res = runner.run(action, values)
        position.mark_changed()
        run.steps.append(res)
        if on_step is not None:
            on_step(i, res)
        if res.response is None:
            run.broke_off = f"step {i}: {res.error}"
            break
        values = runner.bind(values, res)
        if check_every_step or i == len(actions):
            run.violations = runner.check(res, run.steps, values)
    return run
