"""Checkers: what is verified after every explored step. ``base`` holds the interface every checker
implements; ``builtin`` the default set of sequence checkers that need no configuration (one module
each: ``server_error``, ``shape``, ``deletes``, ``repeated_success``, ``access_after_revoke``, on the
helpers of ``steps``); ``user_invariants`` the user's Python functions and SQL queries."""

from venom_replay.replay.checkers.base import BoundUse, Checker, StepContext, StepResult, Violation
from venom_replay.replay.checkers.builtin import builtin_checkers

__all__ = ["BoundUse", "Checker", "StepContext", "StepResult", "Violation", "builtin_checkers"]
