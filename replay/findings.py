"""Findings: violations turned into reportable bugs, bucketed so one root cause is reported once.

The bucket key is the violation's ``signature`` (checker + template + what broke). Under breadth-first
search the first sequence that hits a bucket is already the shortest; a later, shorter hit (other
strategies) replaces it. Every further hit only counts up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from venom_replay.replay.checkers.base import StepResult, Violation


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the explorer can do: a template, instantiated with one recorded example's inputs."""

    template: str
    example: int = 0
    recorded_prefix: bool = field(default=False, compare=False)
    """A step of the recording replayed to reach a prefix root (not explored): reports mark it."""
    seq: int | None = None
    """The recorded exchange this step replays as it was recorded (its values translated to the live
    ones); None: the step is rendered from its template and the values bound on the path."""
    mutation: Any = None
    """A value mutation applied to the rendered request (replay/mutations' ``Mutation``); None: unchanged."""

    def __str__(self) -> str:
        name = self.template if self.example == 0 else f"{self.template}@{self.example}"
        return name if self.mutation is None else f"{name} [{self.mutation.describe()}]"


@dataclass(slots=True)
class Finding:
    checker: str
    message: str
    signature: str
    actions: list[Action]
    steps: list[StepResult]
    """The executed steps of the (minimal) sequence, the violating step last."""
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    minimized: bool = False
    original_length: int = 0
    notes: list[str] = field(default_factory=list)
    """What the user should know about this finding (e.g. not minimised: the time limit came first)."""


class FindingBook:
    """Buckets violations by signature, keeping the shortest sequence per bucket."""

    def __init__(self) -> None:
        self.by_signature: dict[str, Finding] = {}

    def __len__(self) -> int:
        return len(self.by_signature)

    def __iter__(self):
        return iter(self.by_signature.values())

    def add(self, violation: Violation, actions: list[Action], steps: list[StepResult]) -> bool:
        """Record one hit; True when it opened a new bucket."""
        known = self.by_signature.get(violation.signature)
        if known is None:
            self.by_signature[violation.signature] = Finding(
                checker=violation.checker,
                message=violation.message,
                signature=violation.signature,
                actions=list(actions),
                steps=list(steps),
                details=dict(violation.details),
                original_length=len(actions),
            )
            return True
        known.count += 1
        if len(actions) < len(known.actions):
            known.actions, known.steps, known.message = list(actions), list(steps), violation.message
            known.details = dict(violation.details)
            known.original_length = len(actions)
        return False

    def ordered(self) -> list[Finding]:
        """Findings in a stable order: by checker, then the shortest reproduction first."""
        return sorted(self.by_signature.values(), key=lambda f: (f.checker, len(f.actions), f.signature))
