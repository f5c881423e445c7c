"""Checkers: what is verified after every explored step. ``base`` holds the interface every checker
implements; ``builtin`` the sequence checkers that need no configuration; ``user_invariants`` the
user's Python functions and SQL queries."""

from venom_replay.replay.checkers.base import BoundUse, Checker, StepContext, StepResult, Violation
from venom_replay.replay.checkers.builtin import builtin_checkers

__all__ = ["BoundUse", "Checker", "StepContext", "StepResult", "Violation", "builtin_checkers"]
