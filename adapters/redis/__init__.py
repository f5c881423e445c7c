"""Redis rollback: keyspace notifications tell which keys changed; ``dump`` mode keeps DUMP+PTTL
deltas per checkpoint, ``swapdb`` mode restores with SWAPDB from a spare database."""

from venom_replay.adapters.redis.adapter import RedisDumpAdapter
from venom_replay.adapters.redis.swap import RedisSwapAdapter

__all__ = ["RedisDumpAdapter", "RedisSwapAdapter"]
