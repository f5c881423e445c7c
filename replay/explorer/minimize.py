"""Shrinking a failing sequence: drop every step the bug does not need.

Breadth-first search already yields a shortest path to the failing state, but a shortest path can
still carry steps the bug does not need (a GET that was on the way, another user's login). Each
candidate is checked by re-executing it from the restored start state: the same signature must still
fire on the last step. This is delta debugging with a one-step granularity at the end, which is
exact for the short sequences the explorer produces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def minimize(sequence: Sequence[T], reproduces: Callable[[list[T]], bool], *, max_runs: int = 200) -> list[T]:
    """The smallest sub-sequence found (order kept, last step kept) for which ``reproduces`` holds.

    ``reproduces`` is assumed true for ``sequence`` itself; it is called at most ``max_runs`` times.
    """
    current = list(sequence)
    runs = 0

    def attempt(candidate: list[T]) -> bool:
        nonlocal runs
        if runs >= max_runs:
            return False
        runs += 1
        return reproduces(candidate)

    # Large chunks first (halves, quarters, ...) of the prefix; the last step is the one that fails.
    chunk = max(1, (len(current) - 1) // 2)
    while len(current) > 1:
        changed = False
        start = 0
        while start < len(current) - 1:
            end = min(start + chunk, len(current) - 1)
            candidate = current[:start] + current[end:]
            if attempt(candidate):
                current = candidate  # retry the same position: the next chunk slid into it
                changed = True
            else:
                start += chunk
        if chunk > 1:
            chunk //= 2
        elif not changed or runs >= max_runs:
            break
        # A removal at one-step granularity can free an earlier step (it fed only the removed one):
        # repeat the single-step pass until nothing changes.
    return current
