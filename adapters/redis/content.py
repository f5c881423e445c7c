"""A Redis database's keys out (a recording's start state) and back in.

Export: every key's DUMP payload and remaining TTL (PTTL), read in pipelined batches. Redis has no
read snapshot across commands: a key the API changes during the export is caught in whichever
state the batch saw (``record --db`` exports before the proxy takes its first request).

Import: keys whose DUMP differs from the start state's, or that had a TTL then, are RESTOREd with
that payload and TTL (REPLACE); keys the start state lacks are deleted; equal keys are not touched.
These are ordinary commands on the adapter's client, so keyspace notifications report them like any
API write and a later restore undoes the import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import redis

from venom_replay.adapters.base import AdapterError, ContentPart, ContentStats

__all__ = ["export_keys", "import_keys"]

KEYS_PER_PART = 500


def _chunks(items: list[bytes], size: int) -> Iterable[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def export_keys(client: redis.Redis, keys: list[bytes], write: Callable[[ContentPart], None]) -> ContentStats:
    """``keys`` (every key but ours) as parts of [key, DUMP payload, PTTL]."""
    stats = ContentStats(unit="keys")
    for chunk in _chunks(keys, KEYS_PER_PART):
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.dump(key)
            pipe.pttl(key)
        replies = pipe.execute()
        batch = [[key, dumped, ttl] for key, dumped, ttl in zip(chunk, replies[0::2], replies[1::2])
                 if dumped is not None]  # gone since the scan (expired)
        if batch:
            write({"t": "keys", "keys": batch})
            stats.rows += len(batch)
    return stats


def import_keys(client: redis.Redis, live: set[bytes], parts: Iterable[ContentPart]) -> ContentStats:
    """Make the database hold exactly the keys of ``parts``; ``live`` is every key there now (but ours)."""
    stats = ContentStats(unit="keys")
    wanted: set[bytes] = set()
    for part in parts:
        if part.get("t") != "keys":
            raise AdapterError(f"the start state is damaged: unexpected part {part.get('t')!r} for Redis")
        entries = [(bytes(k), bytes(d), int(ttl)) for k, d, ttl in part["keys"]]
        wanted.update(key for key, _, _ in entries)
        stats.rows += len(entries)
        stats.added += _restore_changed(client, entries)
    gone = sorted(live - wanted)
    for chunk in _chunks(gone, KEYS_PER_PART):
        client.delete(*chunk)
    stats.removed = len(gone)
    return stats


def _restore_changed(client: redis.Redis, entries: list[tuple[bytes, bytes, int]]) -> int:
    """RESTORE the entries whose live payload differs or that carry a TTL; how many were written."""
    pipe = client.pipeline(transaction=False)
    for key, _, _ in entries:
        pipe.dump(key)
    current = pipe.execute()
    pipe = client.pipeline(transaction=True)
    written = 0
    for (key, payload, ttl), now in zip(entries, current):
        if now == payload and ttl < 0:
            continue
        pipe.restore(key, max(ttl, 0), payload, replace=True)
        written += 1
    if written:
        try:
            pipe.execute()
        except redis.ResponseError as exc:
            raise AdapterError(f"Redis refused to import the start state: {exc}") from exc
    return written
