"""Learned oracles: likely invariants learned from the recording alone (field domains, relations,
collection and status facts), checked after every explored step once a replay of the recording has
dropped the ones it breaks."""

from venom_replay.replay.learned.learn import LearnConfig, LearnedChecker, LearnedInvariant, learn_invariants

__all__ = ["LearnConfig", "LearnedChecker", "LearnedInvariant", "learn_invariants"]
