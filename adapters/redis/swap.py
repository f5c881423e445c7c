"""Redis ``swapdb`` mode: checkpoints live in spare logical databases, a restore is one SWAPDB.

checkpoint() brings a spare database to the present content by copying only the keys that differ
between the checkpoint it held and now (the first use of a spare copies everything). restore() runs,
in one MULTI/EXEC, ``SWAPDB live spare`` (the API sees the checkpoint at once) and the refill of the
spare, which now holds the content we left: only the keys that differ from the checkpoint are copied
back (DEL, then COPY from the live database), so the checkpoint stays usable at a cost that does not
grow with the keyspace.

A spare keeps the TTLs as absolute times (COPY): a key that expires in a spare is noted from its
``expired`` notification and treated as changed. Spare databases come from ``spare_dbs`` (default:
the highest-numbered ones below baseline_db); when they run out, the least recently used
checkpoint is evicted (never the baseline) and restoring to it raises CannotRestore.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable

import redis

from venom_replay.adapters.base import AdapterError, CannotRestore, Checkpoint
from venom_replay.adapters.redis.base import ATTEMPTS, RedisBase, chunks, now_ms
from venom_replay.adapters.redis.hash import MARKER
from venom_replay.adapters.redis.history import MISSING, Node, diff, resolve
from venom_replay.adapters.redis.watch import Events, KeyWatcher


class RedisSwapAdapter(RedisBase):
    label = "Redis swapdb mode"

    def __init__(self, url: str, *, spare_dbs: Iterable[int] | None = None, **options) -> None:
        super().__init__(url, **options)
        if spare_dbs is None:
            spare_dbs = [d for d in range(self.databases - 2, self.databases - 6, -1) if d > 0]
        self.spare_dbs = [int(d) for d in spare_dbs if int(d) not in (self.db, self.baseline_db)]
        if not self.spare_dbs:
            raise AdapterError("Redis swapdb mode needs at least one spare database (option spare_dbs)")
        self.watcher = KeyWatcher(self.client, [self.db, *self.spare_dbs])

    def _reset(self) -> None:
        super()._reset()
        self._slots: OrderedDict[int, Node] = OrderedDict()  # spare db -> node it holds; least recently used first
        # keys where a spare may differ from its node (expired there, or changed while it was filled);
        # None: unknown (notifications were lost)
        self._drift: dict[int, set[bytes] | None] = {}

    def _spare_losses(self, events: Events, skip: Iterable[int] = ()) -> None:
        for db in self._slots:
            lost = events.keys(db) | events.keys(db, "during")
            if db not in skip and lost and self._drift.get(db) is not None:
                self._drift[db] |= lost

    def _lost(self) -> None:
        super()._lost()
        self._drift = dict.fromkeys(self._slots)

    def _holder(self, node: Node) -> int | None:
        return next((db for db, held in self._slots.items() if held is node), None)

    def can_restore(self, token: Checkpoint) -> bool:
        return super().can_restore(token) and self._holder(self._tokens[token.value[0]][0]) is not None

    def install(self) -> None:
        for db in self.spare_dbs:
            self._claim(db)
        super().install()

    def uninstall(self) -> None:
        for db in self.spare_dbs:
            if self._other(db).exists(MARKER):
                self._other(db).flushdb()
        super().uninstall()

    # ---------------------------------------------------------------- checkpoint

    def _pick_spare(self) -> int:
        free = [d for d in self.spare_dbs if d not in self._slots]
        if free:
            return free[0]
        pinned = self._tokens[self.baseline.value[0]][0] if self.baseline is not None else None
        victim = next((db for db, node in self._slots.items() if node is not pinned), None)
        if victim is None:
            raise AdapterError("Redis swapdb mode needs at least two spare databases (option spare_dbs)")
        return victim

    def _queue_refill(self, pipe: redis.client.Pipeline, spare: int, keys: set[bytes]) -> None:
        """Make ``keys`` in the spare equal to the live database: DEL there, then COPY from live."""
        ordered = list(keys)
        pipe.execute_command("SELECT", spare)
        for chunk in chunks(ordered):
            pipe.delete(*chunk)
        pipe.execute_command("SELECT", self.db)
        for key in ordered:
            pipe.copy(key, key, destination_db=spare)

    def _queue_sync(self, pipe: redis.client.Pipeline, spare: int, probe: list[bytes], refill: set[bytes] | None,
                    *, mark: bool) -> None:
        """EXISTS of ``probe`` and DBSIZE of the live database; then the refill of the spare (if any), our
        marker there (if ``mark``) and the spare's DBSIZE, which is the second to last reply."""
        for key in probe:
            pipe.exists(key)
        pipe.dbsize()
        if refill is None and not mark:
            return
        if refill is not None:
            self._queue_refill(pipe, spare, refill)
        pipe.execute_command("SELECT", spare)
        if mark:
            pipe.set(MARKER, self._spare_marker)
        pipe.dbsize()
        pipe.execute_command("SELECT", self.db)

    @property
    def _spare_marker(self) -> str:
        return json.dumps({"db": self.db, "spare": True})

    def checkpoint(self) -> Checkpoint:
        self._barrier()
        taken_at = now_ms()
        for _ in range(ATTEMPTS):
            keys = list(self._cp_dirty | self._unsure)
            if not keys and self._holder(self._at) is not None:
                if self._fenced_reads([], lambda p, k: None, lambda k, r: None):  # only the DBSIZE check
                    return self._new_token(self._at, taken_at)
                continue
            spare = self._pick_spare()
            held, drift = self._slots.get(spare), self._drift.get(spare)
            refill = None if held is None or drift is None else diff(held, self._at) | set(keys) | drift

            replies, events = self.watcher.fenced(
                lambda pipe, spare=spare, keys=keys, refill=refill: self._queue_sync(pipe, spare, keys, refill,
                                                                                    mark=False))
            self._refused(replies, spare)
            read = set(keys)
            delta = {}
            for key, exists in zip(keys, replies):
                self._set_present(key, bool(exists))
                delta[key] = True if exists else None
                self._cp_dirty.discard(key)
            live_size = replies[len(keys)]
            stale = self._take(events, read, read)
            if not stale and not self._count_ok(live_size):
                self._forget(spare)  # refilled from a live database we misjudged
                continue  # unannounced changes: rescanned, read everything again
            node = Node(self._at, delta) if delta else self._at
            self._at = node
            self._slots.pop(spare, None)
            self._slots[spare] = node
            if refill is None or replies[-2] != live_size + 1:  # a new spare, or it did not add up
                self._fill(spare)
            else:
                # differs from the node: keys copied with a newer value than the node records, and
                # keys that expired there before the refill and were not refilled
                changed = events.keys(self.db) | events.keys(self.db, "during")
                self._drift[spare] = ((changed - read) & refill) | (events.keys(spare) - refill)
            self._compact()
            return self._new_token(node, taken_at)
        raise AdapterError(f"Redis database {self.db} kept changing while a checkpoint was taken")

    def _forget(self, spare: int) -> None:
        """The spare no longer holds a known checkpoint (its next use copies everything)."""
        self._slots.pop(spare, None)
        self._drift.pop(spare, None)

    def _refused(self, replies: list, spare: int) -> None:
        refused = next((r for r in replies if isinstance(r, Exception)), None)
        if refused is not None:
            self._forget(spare)
            raise AdapterError(f"Redis refused a command of the swapdb mode (SWAPDB, COPY, SELECT): {refused}")

    def _fill(self, spare: int) -> None:
        """Copy the whole live keyspace into the spare (its first use, or after a mismatch)."""
        self._copy_db(self.db, spare)
        self._other(spare).set(MARKER, self._spare_marker)
        events = self.watcher.barrier()  # keys changed while we copied may hold their newer value there
        self._drift[spare] = None if events.lost else set(events.keys(self.db))
        self._take(events)

    # ---------------------------------------------------------------- restore

    def restore(self, token: Checkpoint) -> None:
        node, _ = self._node_of(token)
        spare = self._holder(node)
        if spare is None:
            raise CannotRestore(f"checkpoint {token.value[0]} of {self.shown_url} was evicted (too few spare_dbs)")
        self._barrier()
        drift = self._drift.get(spare)
        refill = None if drift is None else self._cp_dirty | self._unsure | diff(self._at, node) | drift
        drifted = list(drift or ())

        def fill(pipe: redis.client.Pipeline) -> None:
            pipe.swapdb(self.db, spare)  # atomic: the API sees the checkpoint at once
            pipe.delete(MARKER)  # it came over with the spare's content
            self._queue_sync(pipe, spare, drifted, refill, mark=True)

        replies, events = self.watcher.fenced(fill)
        if self._swaps_expected is not None:
            self._swaps_expected += 1  # ours
        self._refused(replies, spare)
        self._slots.move_to_end(spare)
        self._at = node
        if refill is None:  # the spare's content is not known key by key: rescan live, copy all back
            self._cp_dirty = set()
            self._rescan()
            self._fill(spare)
            return
        self._swapped(node, spare, refill, drifted, replies, events)

    def _swapped(self, node: Node, spare: int, refill: set[bytes], drifted: list[bytes], replies: list,
                 events: Events) -> None:
        """The model after a swap: live holds the node (except where the spare drifted), the spare the same."""
        presence = resolve(node, refill.difference(drifted))
        for key, entry in presence.items():
            self._set_present(key, key in self._root_keys if entry is MISSING else entry is not None)
        for key, exists in zip(drifted, replies[2:]):
            self._set_present(key, bool(exists))
        self._cp_dirty = set(drifted)  # what expired in the spare differs from the node now
        if self._fp_dirty is not None:
            self._fp_dirty |= refill
        if events.lost:
            self._lost()
            return
        # before the swap, the live keys changed in what is now the spare; its own losses are now live
        self._drift[spare] = events.keys(self.db) - refill
        self._mark((events.keys(spare) - set(drifted)) | events.keys(self.db, "during"))
        self._spare_losses(events, skip=(spare,))
        live_size = replies[2 + len(drifted)]
        if not self._count_ok(live_size):
            self.notes.append(f"Redis spare database {spare} did not hold its checkpoint exactly; rescanned")
        if replies[-2] != live_size + 1:
            self._fill(spare)
        self._compact()
