"""Redis rollback that costs what changed: incremental DUMP/RESTORE (``dump``) or SWAPDB (``swapdb``).

Which keys changed is known from keyspace notifications (redis_watch): install() adds ``KA`` to
notify-keyspace-events and subscribes on its own connection; uninstall() and close() put the setting
back exactly. Keys the API changes on its own connections are seen that way; FLUSHDB and other
commands that publish nothing are caught by a DBSIZE check and answered with a rescan
(redis_base). Where CONFIG SET is refused, every operation reads the whole keyspace, as a full
DUMP/RESTORE would (a note says so).

``dump`` mode (this module): a checkpoint stores DUMP+PTTL (or "absent") only of the keys changed
since the previous checkpoint or restore; checkpoints form a tree of such deltas (redis_history).
restore(C) rewrites, in one MULTI/EXEC, the keys changed since then plus those on the tree path to C
(its branch or another one) with their value at C, found by walking C's deltas (at most 32 nodes)
and, for keys unchanged since install, read from the baseline copy. A key gets back the remaining
TTL it had when C was taken. Memory grows with the changed keys only (plus the DUMPs of baseline
keys that had a TTL).

``swapdb`` mode (redis_swap): each checkpoint lives in a spare logical database; restore is one
atomic SWAPDB, after which the spare is brought back to the checkpoint by copying only the keys that
differ.

Both modes restore to any checkpoint (across branches). For recovery after a killed run, install()
copies the baseline into ``baseline_db`` (default: the last database) with a marker key that also
holds the original notify-keyspace-events; the next install() or ``venom-replay db recover`` puts
both back. Spare databases must be empty or ours. fingerprint() sums per-key hashes and reads only
the keys changed since the previous call (redis_hash). Both modes export and import a recording's
start state (redis_content) through ordinary commands, which the notifications report.
"""

from __future__ import annotations

from collections.abc import Iterable

from venom_replay.adapters.base import AdapterError, Checkpoint
from venom_replay.adapters.redis.base import ATTEMPTS, RedisBase, chunks, now_ms
from venom_replay.adapters.redis.history import MISSING, Node, diff, resolve
from venom_replay.adapters.redis.swap import RedisSwapAdapter

__all__ = ["RedisBase", "RedisDumpAdapter", "RedisSwapAdapter"]

Entry = tuple[float | None, bytes] | None  # (expires at in ms of time.monotonic or None, DUMP payload); None: absent


class RedisDumpAdapter(RedisBase):
    label = "Redis dump mode"

    def _reset(self) -> None:
        super()._reset()
        self._root_ttl: dict[bytes, Entry] = {}  # baseline keys with a TTL (they would expire in baseline_db)
        self._root_cache: dict[bytes, bytes] = {}  # baseline DUMPs already read from baseline_db

    def _capture_root(self) -> None:
        baseline = self._other(self.baseline_db)
        expiring: list[bytes] = []
        for chunk in chunks(sorted(self._root_keys)):
            pipe = baseline.pipeline(transaction=False)
            for key in chunk:
                pipe.pttl(key)
            expiring += [k for k, ttl in zip(chunk, pipe.execute()) if ttl != -1]
        for chunk in chunks(expiring):
            started = now_ms()
            pipe = baseline.pipeline(transaction=False)
            for key in chunk:
                pipe.dump(key)
                pipe.pttl(key)
            replies = pipe.execute()
            for key, dumped, ttl in zip(chunk, replies[0::2], replies[1::2]):
                if dumped is None or ttl < 0:  # expired since the copy: the live key goes too
                    self._root_keys.discard(key)
                    self._mark({key})
                else:
                    self._root_ttl[key] = (started + ttl, dumped)

    def checkpoint(self) -> Checkpoint:
        self._barrier()
        taken_at = now_ms()
        delta: dict[bytes, Entry] = {}
        for _ in range(ATTEMPTS):
            started = now_ms()

            def got(key: bytes, replies: list, started: float = started) -> None:
                dumped, ttl = replies
                if isinstance(dumped, Exception):
                    raise AdapterError(f"Redis cannot DUMP key {key!r}: {dumped}")
                delta[key] = None if dumped is None else ((started + ttl) if ttl > 0 else None, dumped)
                self._set_present(key, dumped is not None)
                self._cp_dirty.discard(key)

            if self._fenced_reads(self._cp_dirty | self._unsure, lambda p, k: (p.dump(k), p.pttl(k)), got,
                                  per_key=2):
                break
        if delta:
            self._at = Node(self._at, delta)
        self._compact()
        return self._new_token(self._at, taken_at)

    def restore(self, token: Checkpoint) -> None:
        node, taken_at = self._node_of(token)
        self._barrier()
        for _ in range(ATTEMPTS):
            keys = self._cp_dirty | self._unsure | diff(self._at, node)
            plan = []
            for key, entry in self._values_at(node, keys).items():
                ttl = 0
                if entry is not None and entry[0] is not None:
                    ttl = int(entry[0] - taken_at)
                    entry = entry if ttl > 0 else None  # it had expired by the time of the checkpoint
                plan.append((key, entry, ttl))

            def fill(pipe, plan: list = plan) -> None:
                for key, entry, ttl in plan:
                    if entry is None:
                        pipe.delete(key)
                    else:
                        pipe.restore(key, ttl, entry[1], replace=True)
                pipe.dbsize()

            replies, events = self.watcher.fenced(fill)  # MULTI/EXEC: the API never sees half of it
            refused = next((r for r in replies if isinstance(r, Exception)), None)
            if refused is not None:
                raise AdapterError(f"Redis refused to restore a key: {refused}")
            self._at = node
            self._cp_dirty = {key for key, _, ttl in plan if ttl > 0}  # expiry moved: re-read at the next checkpoint
            for key, entry, _ in plan:
                self._set_present(key, entry is not None)
            if self._fp_dirty is not None:
                self._fp_dirty |= keys
            if self._take(events, keys, keys):
                continue  # a key changed just before our transaction: put it back too
            if self._count_ok(replies[-1]):
                break
        self._compact()

    def _values_at(self, node: Node, keys: Iterable[bytes]) -> dict[bytes, Entry]:
        """Each key's entry at ``node``; keys unchanged since install come from the baseline."""
        found = resolve(node, keys)
        fetch = []
        for key, entry in found.items():
            if entry is not MISSING:
                continue
            if key in self._root_ttl:
                found[key] = self._root_ttl[key]
            elif key not in self._root_keys:
                found[key] = None
            elif key in self._root_cache:
                found[key] = (None, self._root_cache[key])
            else:
                fetch.append(key)
        baseline = self._other(self.baseline_db)
        for chunk in chunks(fetch):
            pipe = baseline.pipeline(transaction=False)
            for key in chunk:
                pipe.dump(key)
            for key, dumped in zip(chunk, pipe.execute()):
                if dumped is None:
                    raise AdapterError(f"cannot restore Redis key {key!r}: the baseline copy in database"
                                       f" {self.baseline_db} no longer holds it (evicted by maxmemory?)")
                self._root_cache[key] = dumped
                found[key] = (None, dumped)
        return found
