"""Checking the user's invariants before the run, and collecting why any could not run during it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from venom_replay.replay.checkers.user_invariants.python import PythonInvariants
from venom_replay.replay.checkers.user_invariants.sql import SqlInvariants


def prepare_invariants(checkers: Iterable[Any], handles: Mapping[str, Any]) -> None:
    """Check the user's invariants against the opened databases before anything runs (see ``prepare``)."""
    for checker in checkers:
        if isinstance(checker, PythonInvariants | SqlInvariants):
            checker.prepare(handles)


def invariant_errors(checkers: Iterable[Any]) -> list[str]:
    """Why user invariants could not run during an exploration, one line each."""
    return [line for c in checkers if isinstance(c, PythonInvariants | SqlInvariants) for line in c.errors.values()]
