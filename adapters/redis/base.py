"""What both Redis modes share: knowing which keys changed, the crash-recovery baseline, fingerprints.

The adapter keeps a model of the live database: the keys present (``_present``), the keys that may
differ from the last checkpoint or restore (``_cp_dirty``), the keys whose fingerprint hash is stale
(``_fp_dirty``) and the keys whose presence is stale (``_unsure``). Keyspace notifications
(redis_watch) feed the three dirty sets; each operation first drains them up to a barrier.

Commands that publish nothing (FLUSHDB, FLUSHALL, SWAPDB by the API) and a dropped subscription are
caught by comparing DBSIZE with ``len(_present)`` inside our own transactions, and answered with a
rescan that marks every key dirty: slower, never wrong. Without keyspace notifications (CONFIG SET
refused) every operation rescans, which costs what a full DUMP/RESTORE costs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

import redis

from venom_replay.adapters.base import Adapter, AdapterError, Checkpoint, ContentPart, ContentStats
from venom_replay.adapters.lineage import Lineage
from venom_replay.adapters.redis.content import export_keys, import_keys
from venom_replay.adapters.redis.hash import BATCH, MARKER, fingerprint_of, is_volatile, key_hash, queue_read
from venom_replay.adapters.redis.history import Node
from venom_replay.adapters.redis.watch import Events, KeyWatcher, put_back
from venom_replay.proxy.redact import mask_url_password

ATTEMPTS = 4  # rounds of an operation while keys keep changing under it


def now_ms() -> float:
    return time.monotonic() * 1000


def _client(url: str) -> redis.Redis:
    try:
        client = redis.Redis.from_url(url, socket_timeout=30)
        client.ping()
        return client
    except (redis.RedisError, ValueError) as exc:
        raise AdapterError(f"cannot connect to Redis at {mask_url_password(url)}: {exc}") from exc


def chunks(items: Sequence, size: int = BATCH) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class RedisBase(Adapter):
    restores_across_branches = True

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), volatile_keys: Iterable[str] = (),
                 baseline_db: int | None = None) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        self.volatile_keys = tuple(volatile_keys)
        path = urlsplit(url).path.strip("/")
        try:
            self.db = int(path) if path else 0
        except ValueError as exc:
            raise AdapterError(f"Redis URL {self.shown_url!r}: the path must be a database number") from exc
        self.client = _client(url)
        self._clients: dict[int, redis.Redis] = {}
        try:
            self.databases = int(self.client.config_get("databases").get("databases", 16))
        except redis.ResponseError:  # CONFIG not allowed: Redis' default
            self.databases = 16
        self.baseline_db = self.databases - 1 if baseline_db is None else int(baseline_db)
        if self.baseline_db == self.db:
            raise AdapterError(f"Redis baseline_db {self.baseline_db} is the database under test; pick another")
        self._lineage = Lineage(url)
        self.baseline: Checkpoint | None = None
        self.watcher = KeyWatcher(self.client, self._watched_dbs())
        self._reset()

    def _watched_dbs(self) -> list[int]:
        return [self.db]

    def _reset(self) -> None:
        self._swaps_expected = self._swapdb_calls()
        self._at = Node(None, {})  # the root: the baseline's content
        self._tokens: dict[int, tuple[Node, float]] = {}  # checkpoint id -> (node, when taken, ms)
        self._root_keys: set[bytes] = set()
        self._present: set[bytes] = set()
        self._unsure: set[bytes] = set()
        self._cp_dirty: set[bytes] = set()
        self._fp_dirty: set[bytes] | None = None  # None: hash everything
        self._hashes: dict[bytes, int] = {}
        self._total = 0

    # ---------------------------------------------------------------- plumbing

    def _other(self, db: int) -> redis.Redis:
        """A client on another logical database of the same server (cached)."""
        if db == self.db:
            return self.client
        if db not in self._clients:
            kwargs = {**self.client.connection_pool.connection_kwargs, "db": db}
            self._clients[db] = redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))
        return self._clients[db]

    def _keys(self, client: redis.Redis | None = None) -> list[bytes]:
        return [k for k in (client or self.client).scan_iter(count=1000) if k != MARKER]

    def _copy_db(self, source_db: int, target_db: int) -> list[bytes]:
        """Copy the whole keyspace into an emptied other database (COPY, pipelined); the keys copied."""
        source, target = self._other(source_db), self._other(target_db)
        target.flushdb()
        copied: list[bytes] = []
        for chunk in chunks(self._keys(source)):
            pipe = source.pipeline(transaction=False)
            for key in chunk:
                pipe.copy(key, key, destination_db=target_db, replace=True)
            copied += [k for k, done in zip(chunk, pipe.execute()) if done]
        return copied

    def _claim(self, db: int) -> None:
        """Make sure a spare database is empty or ours (for this database) before we write into it."""
        other = self._other(db)
        if not other.dbsize():
            return
        if self._marker(db) is None:
            raw = other.get(MARKER)
            if raw is not None:
                raise AdapterError(f"Redis database {db} holds the rollback copies of another database ({raw!r});"
                                   " pick other spare databases (options baseline_db / spare_dbs)")
            raise AdapterError(f"Redis database {db} is not empty and not ours; pick free spare databases"
                               f" (options baseline_db / spare_dbs)")

    def _marker(self, db: int | None = None) -> dict | None:
        """Our marker in ``db`` (default: baseline_db), if it belongs to the database under test."""
        raw = self._other(self.baseline_db if db is None else db).get(MARKER)
        try:
            marker = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return marker if isinstance(marker, dict) and marker.get("db") == self.db else None

    # ---------------------------------------------------------------- the model of the live database

    def _mark(self, keys: set[bytes]) -> None:
        self._unsure |= keys
        self._cp_dirty |= keys
        if self._fp_dirty is not None:
            self._fp_dirty |= keys

    def _rescan(self) -> None:
        """Something changed without notifications (FLUSHDB, a lost subscription): every key is suspect."""
        keys = set(self._keys())
        self._cp_dirty |= keys | self._present | self._unsure
        self._present, self._unsure = keys, set()
        self._fp_dirty = None

    def _lost(self) -> None:
        self._rescan()

    def _take(self, events: Events, fresh_before: set[bytes] = frozenset(),
              fresh_during: set[bytes] = frozenset()) -> bool:
        """Apply notifications; ``fresh_*`` are keys our own transaction read or wrote after them.
        True when some key is now stale (the caller may go round again)."""
        if events.lost:
            self._lost()
            return True
        stale = (events.keys(self.db) - fresh_before) | (events.keys(self.db, "during") - fresh_during)
        stale.discard(MARKER)
        self._mark(stale)
        self._spare_losses(events)
        return bool(stale)

    def _spare_losses(self, events: Events, skip: Iterable[int] = ()) -> None:
        """Keys that expired or were evicted in spare databases (swapdb mode)."""

    def _barrier(self) -> None:
        if not self.watcher.tracking or self._swapped_by_others():
            self._rescan()
            return
        self._take(self.watcher.barrier())

    def _swapdb_calls(self) -> int | None:
        """How many SWAPDB the server ran since its statistics were reset (None: INFO refused)."""
        try:
            stats = self.client.info("commandstats")
        except redis.RedisError:
            return None
        return int(stats.get("cmdstat_swapdb", {}).get("calls", 0))

    def _swapped_by_others(self) -> bool:
        """A SWAPDB we did not run (it publishes no keyspace event, and DBSIZE misses a swap with a
        database of the same size): the server's command counter moved past our own swaps."""
        calls = self._swapdb_calls()
        if calls is None or self._swaps_expected is None or calls == self._swaps_expected:
            return False
        swapped = calls > self._swaps_expected  # fewer: CONFIG RESETSTAT ran; count from there
        self._swaps_expected = calls
        return swapped

    def _count_ok(self, dbsize: object) -> bool:
        """DBSIZE agrees with the model (else rescan). Not checkable while some presence is unknown."""
        if not isinstance(dbsize, int) or self._unsure or dbsize == len(self._present):
            return True
        self._rescan()
        return False

    def _fenced_reads(self, keys: Iterable[bytes], queue: Callable[[redis.client.Pipeline, bytes], None],
                      handle: Callable[[bytes, list], None], *, per_key: int = 1, fresh: bool = True,
                      count: bool = True) -> bool:
        """Read keys in fenced transactions of BATCH keys; ``handle`` gets each key's replies before the
        notifications of that round are applied. The last round also checks DBSIZE. True when clean:
        nothing changed under us and the count agreed."""
        keys = list(keys)
        rounds = list(chunks(keys)) or [[]]
        clean = True
        for n, chunk in enumerate(rounds):
            check = count and n == len(rounds) - 1

            def fill(pipe: redis.client.Pipeline, chunk=chunk, check=check) -> None:
                for key in chunk:
                    queue(pipe, key)
                if check:
                    pipe.dbsize()

            replies, events = self.watcher.fenced(fill)
            for i, key in enumerate(chunk):
                handle(key, replies[i * per_key:(i + 1) * per_key])
            own = set(chunk) if fresh else set()
            if self._take(events, own, own):
                clean = False
            if check and clean and not self._count_ok(replies[-1]):
                clean = False
        return clean

    def _compact(self) -> None:
        """Fresh empty sets: a set keeps the table of its largest size (a full rehash, a rescan), and
        copying it or taking a union walks that whole table."""
        for name in ("_cp_dirty", "_unsure", "_fp_dirty"):
            if getattr(self, name) == set():
                setattr(self, name, set())

    def _set_present(self, key: bytes, present: bool) -> None:
        if present:
            self._present.add(key)
        else:
            self._present.discard(key)
        self._unsure.discard(key)

    # ---------------------------------------------------------------- tokens

    def _new_token(self, node: Node, taken_at: float) -> Checkpoint:
        cp_id = self._lineage.new_id()
        self._tokens[cp_id] = (node, taken_at)
        return Checkpoint(self.url, (cp_id,))

    def _node_of(self, token: Checkpoint) -> tuple[Node, float]:
        return self.kept_for(token, self._tokens)

    def can_restore(self, token: Checkpoint) -> bool:
        return token.adapter == self.url and token.value[0] in self._tokens

    def release(self, token: Checkpoint) -> None:
        """Forget a checkpoint; its delta is freed once no later checkpoint builds on it."""
        self._tokens.pop(token.value[0], None)

    # ---------------------------------------------------------------- lifecycle

    def install(self) -> None:
        self._claim(self.baseline_db)
        if self.recover():
            self.notes.append(f"restored the baseline left by a killed run from Redis database {self.baseline_db}")
        self.watcher.stop()  # installed twice: start afresh
        self._reset()
        self._lineage.reset()
        problem = self.watcher.start()  # before the copy: a change during it is seen
        if problem:
            self.notes.append(problem)
        self._root_keys = set(self._copy_db(self.db, self.baseline_db))
        self._other(self.baseline_db).set(MARKER, json.dumps({"db": self.db, "notify": self.watcher.original}))
        self._present = set(self._root_keys)
        self._capture_root()
        self.baseline = self.checkpoint()

    def _capture_root(self) -> None:
        """Whatever the mode keeps of the baseline besides the copy in baseline_db."""

    def recover(self) -> int:
        marker = self._marker()
        if marker is None:
            return 0
        self._copy_db(self.baseline_db, self.db)
        self._put_back_setting(marker)
        return 1

    def _put_back_setting(self, marker: dict) -> None:
        """notify-keyspace-events as a killed run found it (kept in the marker)."""
        if marker.get("notify") is not None and not self.watcher.tracking:
            try:
                put_back(self.client, marker["notify"])
            except redis.ResponseError:
                pass

    def pending_changes(self) -> int:
        return 1 if self._marker() is not None else 0

    def uninstall(self) -> None:
        marker = self._marker()
        self.watcher.stop()
        if marker is not None:
            self._put_back_setting(marker)
        self._other(self.baseline_db).flushdb()
        self._lineage.reset()
        self._reset()
        self.baseline = None

    def close(self) -> None:
        self.watcher.stop()
        for client in self._clients.values():
            client.close()
        self.client.close()

    # ---------------------------------------------------------------- a recording's start state

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        return export_keys(self.client, self._keys(), write)

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        """Ordinary commands on our client: keyspace notifications mark every key they change, so the
        next checkpoint, restore and fingerprint see them like the API's writes."""
        stats = import_keys(self.client, set(self._keys()), parts)
        return self.imported(stats)

    # ---------------------------------------------------------------- fingerprint

    def fingerprint(self) -> str:
        """Sum of per-key content hashes (volatile keys left out); only keys changed since the last
        call are read again."""
        self._barrier()
        for _ in range(ATTEMPTS):
            if self._fp_dirty is None:
                self._hashes.clear()
                self._total = 0
                self._fp_dirty = set(self._present)
            kinds: dict[bytes, bytes] = {}

            def typed(key: bytes, replies: list, kinds: dict = kinds) -> None:
                kind = replies[0]
                self._set_present(key, kind != b"none")
                if kind == b"none" or is_volatile(key, self.volatile_keys):
                    self._rehash(key, None)
                else:
                    kinds[key] = kind

            if not self._fenced_reads(self._fp_dirty | self._unsure, lambda p, k: p.type(k), typed):
                continue

            def read(key: bytes, replies: list, kinds: dict = kinds) -> None:
                value = replies[0]
                self._rehash(key, None if isinstance(value, redis.ResponseError) else key_hash(key, kinds[key], value))

            # a key changed between its TYPE and its read is stale again (fresh=False) and read next round
            self._fenced_reads(kinds, lambda p, k, kinds=kinds: queue_read(p, k, kinds[k]), read, fresh=False,
                               count=False)
            if not self._fp_dirty:
                break
        self._compact()
        return fingerprint_of(self._total)

    def _rehash(self, key: bytes, new: int | None) -> None:
        self._total -= self._hashes.pop(key, 0)
        if new is not None:
            self._hashes[key] = new
            self._total += new
        if self._fp_dirty is not None:  # None: a rescan in between, everything is hashed again
            self._fp_dirty.discard(key)
