"""Search strategies: which state to expand next, and in which order to try its actions.

- ``bfs`` (default): states in order of depth, so the first sequence that hits a bug is a shortest one.
- ``dfs``: deepest state first; reaches long sequences quickly with a small frontier.
- ``coverage``: prefers what the recording never showed: template pairs (A then B) not observed in
  any recorded session, states reached by such pairs, and status codes not seen for a template yet.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable

from venom_replay.replay.findings import Action
from venom_replay.replay.explorer.state import StateNode

from venom_replay.replay.options import STRATEGIES


class Frontier:
    """States waiting to be expanded."""

    name = "bfs"

    def __init__(self) -> None:
        self._queue: deque[StateNode] = deque()

    def push(self, node: StateNode, novelty: int = 0) -> None:
        self._queue.append(node)

    def pop(self) -> StateNode:
        return self._queue.popleft()

    def __len__(self) -> int:
        return len(self._queue)

    def order_actions(self, node: StateNode, actions: list[Action]) -> list[Action]:
        return actions

    def peek(self, expandable: Callable[[StateNode], bool]) -> StateNode | None:
        """The state that will be expanded next (whatever is pushed meanwhile), if that is known."""
        for node in self._queue:  # states at their depth limit are popped and skipped
            if expandable(node):
                return node
        return None


class DepthFirst(Frontier):
    name = "dfs"

    def peek(self, expandable: Callable[[StateNode], bool]) -> StateNode | None:
        return None  # the children of the state being expanded come first

    def push(self, node: StateNode, novelty: int = 0) -> None:
        self._queue.append(node)

    def pop(self) -> StateNode:
        return self._queue.pop()


class CoverageGuided(Frontier):
    """A priority queue: more novelty first, then shallower, then older."""

    name = "coverage"

    def __init__(self, observed_pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.observed = set(observed_pairs)
        self.tried_pairs: set[tuple[str, str]] = set()
        self._heap: list[tuple[int, int, int, StateNode]] = []
        self._tie = itertools.count()

    def push(self, node: StateNode, novelty: int = 0) -> None:
        heapq.heappush(self._heap, (-novelty, node.depth, next(self._tie), node))

    def pop(self) -> StateNode:
        return heapq.heappop(self._heap)[3]

    def peek(self, expandable: Callable[[StateNode], bool]) -> StateNode | None:
        return None  # a new state may take the lead

    def __len__(self) -> int:
        return len(self._heap)

    def pair_is_new(self, prev: str | None, template: str) -> bool:
        return prev is not None and (prev, template) not in self.observed and (prev, template) not in self.tried_pairs

    def order_actions(self, node: StateNode, actions: list[Action]) -> list[Action]:
        prev = node.path[-1].template if node.path else None
        # Unseen pairs first; the sort is stable, so the template order breaks ties.
        return sorted(actions, key=lambda a: 0 if self.pair_is_new(prev, a.template) else 1)

    def note(self, prev: str | None, template: str) -> None:
        if prev is not None:
            self.tried_pairs.add((prev, template))


def make_frontier(strategy: str, observed_pairs: Iterable[tuple[str, str]] = ()) -> Frontier:
    if strategy == "bfs":
        return Frontier()
    if strategy == "dfs":
        return DepthFirst()
    if strategy == "coverage":
        return CoverageGuided(observed_pairs)
    raise ValueError(f"unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
