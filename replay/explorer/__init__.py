"""The explorer: runs orderings of recorded calls against the live API with the databases rolled
back between branches, checks every step, and shrinks what it finds.

``explore()`` (run.py) is the whole job; ``Explorer`` (core.py) the search; ``Position``
(position.py) where the databases are; ``StepRunner`` (steps.py) how one step is sent and checked.
"""

from venom_replay.replay.explorer.core import Explorer
from venom_replay.replay.explorer.results import ExploreResult, ExploreStats, Limits, StopReason
from venom_replay.replay.explorer.run import explore

__all__ = ["ExploreResult", "ExploreStats", "Explorer", "Limits", "StopReason", "explore"]
