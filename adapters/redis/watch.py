"""Which Redis keys changed, and when: keyspace notifications read on a dedicated pub/sub connection.

Redis publishes a keyspace notification for every command that modifies a key, whichever client
ran it, so the API's own writes are seen. Two markers order that stream against our work:

- a PING on the subscribed connection is a barrier: Redis queues the notifications of every
  earlier command before the pong (``barrier()``);
- a PUBLISH to our own fence channel at the start and at the end of one of our MULTI/EXEC
  blocks tells the notifications that came before it from those its own commands caused
  (``fenced()``).

Not everything publishes: FLUSHDB, FLUSHALL and SWAPDB say nothing, and a subscriber that falls too
far behind is disconnected (client-output-buffer-limit pubsub). ``Events.lost`` reports the latter;
callers compare DBSIZE with their own key count for the former.

notify-keyspace-events is one server-wide setting: start() adds ``KA`` (keyspace channel, every event
class including expired and evicted) to what is set, and the last watcher to stop puts back the value
found before the first one started. The watchers on one server find each other by client name, which
also carries that original value.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis

NEEDED = "KA"
NAME_PREFIX = "venom-replay-watch"
SETTING = "notify-keyspace-events"
LOSS_EVENTS = frozenset((b"expired", b"evicted"))  # changes nobody asked for: they count even during our own work
WAIT_SECONDS = 30.0


@dataclass
class Events:
    """Keys named by notifications, per logical database."""

    before: dict[int, set[bytes]] = field(default_factory=dict)  # before the fence (or barrier)
    during: dict[int, set[bytes]] = field(default_factory=dict)  # expired/evicted inside our transaction
    lost: bool = False  # the subscription dropped: some notifications are gone

    def keys(self, db: int, phase: str = "before") -> set[bytes]:
        return getattr(self, phase).get(db, set())


class _PubSub(redis.client.PubSub):
    """Counts reconnects: redis-py re-subscribes silently, but the notifications in between are gone."""

    connects = 0

    def on_connect(self, connection) -> None:
        self.connects += 1
        super().on_connect(connection)


def merged_flags(current: str, needed: str = NEEDED) -> str:
    return "".join(sorted(set(current) | set(needed)))


def watchers(client: redis.Redis) -> list[str]:
    """Client names of the watchers connected to this server (empty if CLIENT LIST is not allowed)."""
    try:
        return [c.get("name", "") for c in client.client_list(_type="pubsub")
                if c.get("name", "").startswith(NAME_PREFIX + ".")]
    except redis.RedisError:
        return []


def put_back(client: redis.Redis, original: str) -> None:
    """Restore notify-keyspace-events unless another watcher still needs it."""
    if not watchers(client):
        client.config_set(SETTING, original)


class KeyWatcher:
    def __init__(self, client: redis.Redis, dbs: Iterable[int]) -> None:
        """``dbs``: the database under test first, then the spare databases whose losses count."""
        self.client = client
        self.dbs = list(dbs)
        self.tracking = False
        self.original: str | None = None  # notify-keyspace-events before any watcher started
        self._nonce = secrets.token_hex(6)
        self._fence_channel = f"venom_replay:fence:{self._nonce}".encode()
        self._patterns = {f"__keyspace@{db}__:*".encode(): db for db in self.dbs}
        self._pubsub: _PubSub | None = None
        self._tokens = (f"{n}".encode() for n in range(1, 1 << 62))

    def start(self) -> str | None:
        """Enable and subscribe. Returns None, or why tracking is off (the caller then rescans)."""
        try:
            current = self.client.config_get(SETTING).get(SETTING, "")
            others = [n.split(".", 2) for n in watchers(self.client)]
            original = next((parts[2] for parts in others if len(parts) == 3), current)
            wanted = merged_flags(current)
            if set(wanted) != set(current):
                self.client.config_set(SETTING, wanted)
        except redis.ResponseError as exc:
            return (f"Redis keyspace notifications unavailable ({exc}): every checkpoint, restore and"
                    " fingerprint reads the whole keyspace")
        self.original = original
        pool = redis.ConnectionPool(**{**self.client.connection_pool.connection_kwargs,
                                       "client_name": f"{NAME_PREFIX}.{self._nonce}.{original}"},
                                    connection_class=self.client.connection_pool.connection_class)
        self._pubsub = _PubSub(pool, ignore_subscribe_messages=True)
        self._pubsub.psubscribe(*self._patterns)
        self._pubsub.subscribe(self._fence_channel)
        self.tracking = True
        self.barrier()  # the subscriptions are in place before start() returns
        return None

    def stop(self) -> None:
        """Unsubscribe and put notify-keyspace-events back (unless another watcher still runs)."""
        if self._pubsub is not None:
            pool = self._pubsub.connection_pool
            self._pubsub.close()
            pool.disconnect()
            self._pubsub = None
        if self.tracking and self.original is not None:
            self.tracking = False
            others = [n for n in watchers(self.client) if n.split(".")[1:2] != [self._nonce]]
            if not others:
                self.client.config_set(SETTING, self.original)

    def barrier(self) -> Events:
        """Every notification of commands that ran before now."""
        if not self.tracking:
            return Events(lost=True)
        token = next(self._tokens)
        try:
            self._pubsub.ping(token)
        except redis.ConnectionError:
            return self._reconnected()
        return self._read(lambda kind, data: kind == "pong" and data == token)

    def fenced(self, queue: Callable[[redis.client.Pipeline], None]) -> tuple[list, Events]:
        """Run what ``queue`` adds to a MULTI/EXEC between two fence messages; its replies, and the
        notifications before it and (only expired/evicted) during it."""
        pipe = self.client.pipeline(transaction=True)
        token = next(self._tokens)
        if self.tracking:
            pipe.publish(self._fence_channel, b"b" + token)
        queue(pipe)
        if self.tracking:
            pipe.publish(self._fence_channel, b"e" + token)
        replies = pipe.execute(raise_on_error=False)
        if not self.tracking:
            return replies, Events()
        begin = b"b" + token
        events = self._read(lambda kind, data: kind == "message" and data == b"e" + token,
                            switch=lambda kind, data: kind == "message" and data == begin)
        return replies[1:-1], events

    def _reconnected(self) -> Events:
        """After a dropped subscription: redis-py reconnects and re-subscribes on the next command;
        a second failure propagates (the server is gone)."""
        token = next(self._tokens)
        self._pubsub.ping(token)
        events = self._read(lambda kind, data: kind == "pong" and data == token)
        events.lost = True
        return events

    def _read(self, stop: Callable[[str, bytes], bool],
              switch: Callable[[str, bytes], bool] = lambda kind, data: False) -> Events:
        events, phase = Events(), "before"
        connects = self._pubsub.connects
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                msg = self._pubsub.get_message(timeout=1.0)
            except redis.ConnectionError:
                return self._reconnected()  # the awaited pong or fence is gone with the connection
            if msg is None:
                if time.monotonic() > deadline:
                    raise redis.TimeoutError("no answer on the Redis keyspace notification connection")
                continue
            kind, data = msg["type"], msg["data"]
            if kind == "pmessage":
                db = self._patterns.get(msg["pattern"])
                # the live database: every change before the fence, only losses during our own work;
                # spare databases hold our copies: only losses (their other events are ours)
                if db is not None and ((phase == "before" and db == self.dbs[0]) or data in LOSS_EVENTS):
                    key = msg["channel"][len(msg["pattern"]) - 1:]
                    getattr(events, phase).setdefault(db, set()).add(key)
            elif stop(kind, data):
                break
            elif switch(kind, data):
                phase = "during"
        events.lost = self._pubsub.connects != connects
        return events
