"""Content hashes of Redis keys: one 64-bit hash per key, summed, so one changed key costs one re-read.

A key's hash covers its name, type and content with set and hash order normalised (TTLs are left
out). The fingerprint is the sum of the per-key hashes (mod 2**64), which does not depend on the
order keys are visited in, and can be updated by subtracting a key's old hash and adding its new one.
``full_fingerprint`` recomputes it from scratch, for comparison.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

import redis

from venom_replay.adapters.content_hash import MASK64, combine

BATCH = 2000  # keys per pipeline round trip
MARKER = b"venom_replay:marker"


def is_volatile(key: bytes, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(key.decode("utf-8", "replace"), p) for p in patterns)


def queue_read(pipe: redis.client.Pipeline, key: bytes, kind: bytes) -> None:
    """The command that reads a key of this type (DUMP for types without a plain reader)."""
    if kind == b"string":
        pipe.get(key)
    elif kind == b"hash":
        pipe.hgetall(key)
    elif kind == b"set":
        pipe.smembers(key)
    elif kind == b"list":
        pipe.lrange(key, 0, -1)
    elif kind == b"zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == b"stream":
        pipe.xrange(key)
    else:
        pipe.dump(key)


def key_hash(key: bytes, kind: bytes, value: object) -> int:
    if isinstance(value, dict):
        value = sorted(value.items())
    elif isinstance(value, set):
        value = sorted(value)
    digest = hashlib.blake2b(repr((key, kind, value)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def fingerprint_of(total: int) -> str:
    return combine({"keys": total & MASK64})


def read_hashes(client: redis.Redis, keys: Iterable[bytes]) -> dict[bytes, int | None]:
    """Hash of each key (None if it does not exist), two pipelined round trips per BATCH keys."""
    keys = list(keys)
    out: dict[bytes, int | None] = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start:start + BATCH]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.type(key)
        kinds = pipe.execute()
        pipe = client.pipeline(transaction=False)
        present = [(k, t) for k, t in zip(chunk, kinds) if t != b"none"]
        for key, kind in present:
            queue_read(pipe, key, kind)
        values = pipe.execute(raise_on_error=False)
        out.update(dict.fromkeys(chunk))
        for (key, kind), value in zip(present, values):
            out[key] = None if isinstance(value, redis.ResponseError) else key_hash(key, kind, value)
    return out


def full_fingerprint(client: redis.Redis, volatile_keys: Sequence[str] = ()) -> str:
    """The fingerprint recomputed from every key (what the incremental one must equal)."""
    keys = [k for k in client.scan_iter(count=1000) if k != MARKER and not is_volatile(k, volatile_keys)]
    return fingerprint_of(sum(h for h in read_hashes(client, keys).values() if h is not None))
