"""LearnedChecker: checks every explored step against the invariants learned for its template.

Confirming before trusting: on a step of a path the recording itself took
(``ctx.replays_recorded_path``), an invariant that breaks was never true. It is dropped (kept in
``dropped`` with the reason, for the report) and no finding is reported. Everything else that breaks
is a finding that names the invariant, its support, and the values that broke it. Everything one
step's answer breaks is one finding listing each broken invariant (``details["broken"]``), with a
signature per template and kind of the first one: a fresh object that breaks five facts is one event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.infer.model import TemplateSet

from venom_replay.replay.checkers.base import StepContext, StepResult, Violation
from venom_replay.replay.learned.collections import check_collection
from venom_replay.replay.learned.config import ignore_entries, learned_section
from venom_replay.replay.learned.domains import check_domain
from venom_replay.replay.learned.model import (
    COLLECTION_KINDS,
    DOMAIN_KINDS,
    KIND_ORDER,
    LearnedInvariant,
    jsonable,
    masked_examples,
    masked_observation,
    request_json,
    short,
)
from venom_replay.replay.learned.observe import load_recording, recorded_paths, response_body
from venom_replay.replay.learned.paths import Profile, origin_profile
from venom_replay.replay.learned.relations import check_echo, check_relation
from venom_replay.replay.learned.status import check_status

MAX_SHOWN = 5


@dataclass(slots=True)
class DroppedInvariant:
    invariant: LearnedInvariant
    reason: str
    observed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.invariant.to_dict(), "reason": self.reason, "observed": jsonable(self.observed)}


def evaluate(inv: LearnedInvariant, step: StepResult, path: Sequence[StepResult]) -> list[dict[str, Any]]:
    """The observations on this step that break ``inv`` (empty when it holds or does not apply)."""
    if inv.kind in COLLECTION_KINDS:
        return check_collection(inv, path)
    if inv.kind == "status":
        return check_status(inv, path)
    body = response_body(step)
    if body is None:
        return []
    if inv.kind in DOMAIN_KINDS:
        return check_domain(inv, body)
    if inv.kind == "echo":
        return check_echo(inv, request_json(step.request), body)
    return check_relation(inv, body)


class LearnedChecker:
    """Checker ``learned``: ``LearnedChecker(learn_invariants(tset, recording), config)``.

    ``config``: the project configuration (an object with ``.raw``, a mapping holding a ``learned``
    section, the section itself, or a path to a TOML file); None reads venom.toml / pyproject.toml.
    """

    name = "learned"

    def __init__(self, invariants: Iterable[LearnedInvariant], config: Any = None) -> None:
        section = learned_section(config)
        silenced = ignore_entries(section)
        self.invariants: list[LearnedInvariant] = []
        self.ignored: list[LearnedInvariant] = []
        for inv in invariants:
            named = {inv.key, f"{inv.label} :: {inv.expr}"}
            (self.ignored if named & silenced else self.invariants).append(inv)
        self.dropped: list[DroppedInvariant] = []
        """Invariants a replay of a recorded path broke: never true, never reported."""
        self.unconfirmed: list[DroppedInvariant] = []
        """Invariants that broke on a replay of recorded calls which touched other objects than the
        recording did (ids bound from a list, say): kept, since that replay was not the recorded path."""
        self._dropped_keys: set[str] = set()
        self._recorded_profiles: dict[int, set[Profile] | None] = {}
        self._lock = threading.Lock()
        self._reported: dict[str, set[str]] = {}
        """Keys of the invariants reported under each finding signature."""
        self._by_trigger: dict[str, list[LearnedInvariant]] = {}
        for inv in self.invariants:
            for trigger in inv.params.get("triggers", [inv.template]):
                self._by_trigger.setdefault(trigger, []).append(inv)

    @property
    def active(self) -> list[LearnedInvariant]:
        return [inv for inv in self.invariants if inv.key not in self._dropped_keys]

    def is_dropped(self, signature: str) -> bool:
        """Whether a finding with this signature came only from invariants dropped since (the explorer
        may have reported it before the confirmation phase reached the recorded path)."""
        keys = self._reported.get(signature)
        if keys:
            return keys <= self._dropped_keys
        return any(signature == signature_of(d.invariant) for d in self.dropped)

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        path = list(ctx.path)
        if not path or path[-1] is not step:
            path.append(step)
        broken: list[tuple[LearnedInvariant, list[dict[str, Any]]]] = []
        for inv in self._by_trigger.get(step.template.id, ()):
            if inv.key in self._dropped_keys:
                continue
            try:
                failures = evaluate(inv, step, path)
            except Exception as exc:  # one odd response must not stop the exploration
                failures, error = [], exc
                self._drop(inv, f"could not be evaluated: {type(error).__name__}: {error}", [])
            if not failures:
                continue
            if ctx.replays_recorded_path:
                where = " -> ".join(s.template.label for s in path)
                if not self._follows_recording(path, ctx.templates):
                    # Same calls, other objects: this says nothing about the recording's own path.
                    self._note_unconfirmed(inv, f"broke on a replay of recorded calls that addressed other objects than the recording ({where})")
                    continue
                shown = [masked_observation(f) for f in failures]
                self._drop(inv, f"broke on a recorded path ({where}): {_observed_text(shown)}", shown)
                continue
            broken.append((inv, failures))
        if not broken:
            return []
        return [self._violation(step, sorted(broken, key=lambda b: (KIND_ORDER.get(b[0].kind, 99), b[0].expr)))]

    def _follows_recording(self, path: Sequence[StepResult], tset: TemplateSet) -> bool:
        """Whether this replayed path touches objects the way some recorded session did at the same
        point; True when the recording cannot be read (then every break counts, as specified)."""
        key = id(tset)
        if key not in self._recorded_profiles:
            try:
                paths = recorded_paths(tset, load_recording(None, tset))
            except VenomError:  # no recording at hand (none named, or unreadable): trust the replay
                paths = None
            self._recorded_profiles[key] = None if paths is None else {
                origin_profile(steps[:n]) for steps in paths.values() for n in range(1, len(steps) + 1)
            }
        profiles = self._recorded_profiles[key]
        return profiles is None or origin_profile(path) in profiles

    def _note_unconfirmed(self, inv: LearnedInvariant, reason: str) -> None:
        with self._lock:
            if all(u.invariant.key != inv.key for u in self.unconfirmed):
                self.unconfirmed.append(DroppedInvariant(inv, reason))

    def _drop(self, inv: LearnedInvariant, reason: str, failures: list[dict[str, Any]]) -> None:
        with self._lock:
            if inv.key not in self._dropped_keys:
                self._dropped_keys.add(inv.key)
                self.dropped.append(DroppedInvariant(inv, reason, failures[:MAX_SHOWN]))

    def _violation(self, step: StepResult, broken: list[tuple[LearnedInvariant, list[dict[str, Any]]]]) -> Violation:
        """One finding for everything the step's answer broke, named after its template and the kind of
        the first broken invariant (one event, one finding; a different kind of break is another)."""
        items = [_broken_details(inv, [masked_observation(f) for f in failures]) for inv, failures in broken]
        first = items[0]
        texts = [f"`{d['invariant']}` (held in {d['support']} recorded observations, {d['distinct']} distinct, "
                 f"confidence {d['confidence']:.2f}): {_observed_text(d['observed'], d['violations'])}" for d in items[:MAX_SHOWN]]
        more = f" (and {len(items) - MAX_SHOWN} more invariants)" if len(items) > MAX_SHOWN else ""
        noun = "learned invariant" if len(items) == 1 else f"{len(items)} learned invariants"
        message = f"{step.template.label}: {noun} broke: " + "; ".join(texts) + more
        details = {
            **first,
            "invariant": "; ".join(d["invariant"] for d in items),
            "broken": items,
        }
        signature = f"learned:{step.template.label} :: {broken[0][0].kind}"
        with self._lock:
            self._reported.setdefault(signature, set()).update(inv.key for inv, _ in broken)
        return Violation(checker=self.name, message=message, signature=signature, details=details)

    def summary(self) -> dict[str, Any]:
        """For reports: how many invariants were checked, which were dropped (and why) or silenced."""
        return {
            "checked": len(self.active),
            "dropped": [d.to_dict() for d in self.dropped],
            "ignored": [inv.key for inv in self.ignored],
            "unconfirmed": [u.to_dict() for u in self.unconfirmed],
        }


def signature_of(inv: LearnedInvariant) -> str:
    """The signature of a finding about this invariant alone (on a step of its own template)."""
    return f"learned:{inv.label or inv.template} :: {inv.kind}"


def _broken_details(inv: LearnedInvariant, failures: list[dict[str, Any]]) -> dict[str, Any]:
    """What a finding says about one broken invariant: the fact, its evidence, what broke it."""
    label = inv.label or inv.template
    return {
        "invariant": inv.expr,
        "kind": inv.kind,
        "template": inv.template,
        "label": label,
        "support": inv.support,
        "distinct": inv.distinct,
        "confidence": round(inv.confidence, 4),
        "observed": jsonable(failures[:MAX_SHOWN]),
        "violations": len(failures),
        "recorded_examples": jsonable(masked_examples(inv)),
        "silence_with": f'[learned] ignore = ["{label} :: {inv.expr}"]',
    }


def _observed_text(failures: list[dict[str, Any]], total: int | None = None) -> str:
    first = ", ".join(f"{k}={short(v)}" for k, v in failures[0].items())
    total = len(failures) if total is None else total
    more = f" (and {total - 1} more)" if total > 1 else ""
    return first + more
