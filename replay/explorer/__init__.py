"""The explorer: runs orderings of recorded calls against the live API with the databases rolled
back between branches, checks every step, and shrinks what it finds (see core.py for how a run goes)."""

from venom_replay.replay.explorer.core import ExploreResult, Explorer, ExploreStats, Limits, explore

__all__ = ["ExploreResult", "ExploreStats", "Explorer", "Limits", "explore"]
