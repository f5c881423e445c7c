"""Redis copies: an empty logical database on the same server, filled with COPY (Redis >= 6.2) or
DUMP/RESTORE, TTLs included. Nothing is written into the copy that the API would see: which index is
whose lives in the registry of copies (registry.py), which also decides the free indexes.

A copy's own rollback adapter needs databases of its own too (its baseline, and spares in swapdb
mode): two replicas may not share the server-wide defaults. So the copy's URL names them
(``?baseline_db=..&spare_dbs=..``), claimed with the copy and emptied when it is dropped.

An index is free when it holds no key, no client is connected to it, it is not 0 (every client's
default), no copy claims it, and the source's own adapter does not use it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import redis

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies import registry
from venom_replay.adapters.copies.locations import Location
from venom_replay.adapters.registry import DatabaseIdentity

MARKER = b"venom_replay:marker"  # the rollback adapter's own key: not content
BATCH = 500
SPARES_PER_COPY = 2  # swapdb mode: enough for the explorer's checkpoints to rotate
COPY_COMMAND = (6, 2)


def _client(location: Location) -> redis.Redis:
    try:
        client = redis.Redis.from_url(location.clean, socket_timeout=30)
        client.ping()
        return client
    except (redis.RedisError, ValueError) as exc:
        raise AdapterError(f"cannot connect to Redis at {location.shown}: {exc}") from exc


def _on(client: redis.Redis, db: int) -> redis.Redis:
    """A client of the same server on database ``db`` (a URL's path would win over a db argument)."""
    return redis.Redis(connection_pool=redis.ConnectionPool(**{**client.connection_pool.connection_kwargs, "db": db}))


def _database_count(client: redis.Redis) -> int:
    try:
        return int(client.config_get("databases").get("databases", 16))
    except redis.ResponseError:  # CONFIG not allowed: Redis' default
        return 16


def _source_adapter_dbs(source: Location, databases: int) -> set[int]:
    """The databases the source's own rollback adapter uses (adapters/redis defaults or the URL's)."""
    options = source.options
    used = {int(options.get("baseline_db", databases - 1))}
    if options.get("mode") == "swapdb":
        used |= {int(d) for d in options.get("spare_dbs") or range(databases - 2, databases - 6, -1)}
    return used


def _busy(client: redis.Redis) -> set[int]:
    """Indexes that hold keys or that a client other than us is connected to."""
    busy = {int(name[2:]) for name in client.info("keyspace") if name.startswith("db")}
    mine = client.client_id()
    try:
        busy |= {int(c["db"]) for c in client.client_list() if int(c["id"]) != mine}
    except redis.ResponseError:  # CLIENT LIST not allowed: keys are all we can go by
        pass
    return busy


def _claimed(address: str) -> set[int]:
    claimed: set[int] = set()
    for run in registry.runs():
        for entry in run.copies:
            if entry.copy.kind == "redis" and entry.copy.address == address:
                claimed |= {int(entry.copy.name), *entry.reserved}
    return claimed


def make_copy(source: Location, run_id: str, replica: int) -> str:
    identity = source.identity
    if registry.entry_for(identity) is not None:
        raise AdapterError(f"{source.shown} is already a copy made by venom-replay; copy the original database instead")
    client = _client(source)
    databases = _database_count(client)
    swapdb = source.options.get("mode") == "swapdb"
    with registry.locked() as folder:
        taken = {0, int(identity.name)} | _source_adapter_dbs(source, databases) | _busy(client) | _claimed(identity.address)
        free = [d for d in range(databases) if d not in taken]
        needed = 2 + (SPARES_PER_COPY if swapdb else 0)
        if len(free) < needed:
            raise AdapterError(
                f"cannot copy {source.shown}: no empty Redis database left for copy {replica} ({needed} needed,"
                f" {len(free)} free of {databases}): raise `databases` in the server's configuration")
        target, *reserved = free[:needed]
        entry = registry.CopyEntry(DatabaseIdentity("redis", str(target), identity.address), identity, tuple(reserved))
        registry.record_copies(run_id, [entry], folder=folder)
    try:
        _copy_keys(client, int(identity.name), target)
    except BaseException as exc:
        _on(client, target).flushdb()
        registry.forget_copy(entry.copy)
        if isinstance(exc, redis.RedisError):
            raise AdapterError(f"cannot copy {source.shown}: {exc}") from exc
        raise
    return source.with_database(str(target), copy_query(source, reserved))


def copy_query(source: Location, reserved: list[int]) -> str:
    """The source URL's query with the copy's own adapter databases: the baseline, then any spares."""
    kept = [(k, v) for k, v in parse_qsl(source.query, keep_blank_values=True) if k not in ("baseline_db", "spare_dbs")]
    kept.append(("baseline_db", str(reserved[0])))
    if reserved[1:]:
        kept.append(("spare_dbs", ",".join(map(str, reserved[1:]))))
    return "&".join(f"{k}={v}" for k, v in kept)


def _copy_keys(client: redis.Redis, source_db: int, target_db: int) -> None:
    version = tuple(int(p) for p in str(client.info("server")["redis_version"]).split(".")[:2])
    keys = [k for k in client.scan_iter(count=1000) if k != MARKER]
    if version >= COPY_COMMAND:
        for start in range(0, len(keys), BATCH):
            pipe = client.pipeline(transaction=False)
            for key in keys[start:start + BATCH]:
                pipe.copy(key, key, destination_db=target_db)
            pipe.execute()
        return
    target = _on(client, target_db)
    for start in range(0, len(keys), BATCH):
        chunk = keys[start:start + BATCH]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.dump(key)
            pipe.pttl(key)
        replies = pipe.execute()
        write = target.pipeline(transaction=False)
        for key, dumped, ttl in zip(chunk, replies[::2], replies[1::2]):
            if dumped is not None:  # expired meanwhile
                write.restore(key, max(int(ttl), 0), dumped)
        write.execute()


def drop(copy: Location) -> None:
    entry = registry.entry_for(copy.identity)
    if entry is None:
        return  # never ours, or dropped already: an index we did not claim is never emptied
    client = _client(copy)
    for db in (int(entry.copy.name), *entry.reserved):
        _on(client, db).flushdb()


def exists(copy: Location) -> bool:
    return registry.entry_for(copy.identity) is not None
