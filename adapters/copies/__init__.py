"""Copies of the databases under test, one set per replica of the API (``explore --workers N``).

    url = copy_database("postgresql://app@db/shop", 1, "k3x9")   # postgresql://app@db/shop__vr_k3x9_1
    drop_copy(url)
    leftover_copies("postgresql://app@db/shop")                  # copies a killed run left behind
    leftover_processes("postgresql://app@db/shop")               # and the API processes it started on them

One module per kind (postgres, mysql, sqlite, redis, files); every copy is recorded in the registry
of copies (registry.py) before it is made, with the pid of the run that made it, so that
``db recover`` finds the copies of a killed run and never a live run's.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies import files, mysql, postgres, redis, registry, sqlite
from venom_replay.adapters.copies.locations import Location
from venom_replay.adapters.copies.naming import (check_request, copy_name, refuse_copy_of_copy,
                                                 refuse_drop_of_original)
from venom_replay.adapters.registry import DatabaseIdentity, open_adapter

__all__ = ["copy_database", "drop_copy", "leftover_copies", "leftover_processes"]

KINDS: dict[str, ModuleType] = {"postgresql": postgres, "mysql": mysql, "sqlite": sqlite, "redis": redis,
                                "dir": files}


def _marked_name(location: Location) -> str:
    """The part of a database's name that a copy's mark is added to: a server's database name, a
    SQLite file's stem, a folder's name."""
    kind = location.identity.kind
    if kind == "sqlite":
        return Path(location.identity.name).stem
    return location.identity.name


def _copy_identity(source: Location, name: str) -> DatabaseIdentity:
    kind = source.identity.kind
    if kind == "sqlite":
        name += Path(source.identity.name).suffix
    if kind in ("sqlite", "dir"):
        path = os.path.join(os.path.dirname(source.identity.address), name)
        return DatabaseIdentity(kind, name, path)
    return DatabaseIdentity(kind, name, source.identity.address)


def copy_database(url: str, replica: int, run_id: str) -> str:
    """A new database holding exactly what the database at ``url`` holds now; its URL, in the form of
    ``url`` (same scheme, user, password, host, query options such as ?mode=), for replica number
    ``replica`` of run ``run_id`` (a short [a-z0-9] string). One-line AdapterError naming the
    database (password masked) when it cannot."""
    check_request(run_id, replica)
    source = Location.of(url)
    kind = source.identity.kind
    if kind == "redis":
        return redis.make_copy(source, run_id, replica)
    refuse_copy_of_copy(_marked_name(source), source.shown)
    name = copy_name(_marked_name(source), run_id, replica)
    identity = _copy_identity(source, name)
    registry.record_copies(run_id, [registry.CopyEntry(identity, source.identity)])
    try:
        return KINDS[kind].make_copy(source, identity.name)
    except BaseException:
        registry.forget_copy(identity)
        raise


def drop_copy(copy_url: str) -> None:
    """Remove a copy made by copy_database (idempotent). Refuses a URL that does not name a copy."""
    copy = Location.of(copy_url)
    kind = copy.identity.kind
    if kind != "redis":  # a Redis copy is known by the registry alone (its reserved databases are emptied)
        refuse_drop_of_original(_marked_name(copy), copy.shown)
        if KINDS[kind].exists(copy):
            _remove_adapter_leftovers(copy_url)
    KINDS[kind].drop(copy)
    registry.forget_copy(copy.identity)


def _remove_adapter_leftovers(copy_url: str) -> None:
    """What a replica's rollback adapter keeps outside the copy (a file tree's store beside it, a SQLite
    baseline file, PostgreSQL template-mode snapshots) outlives the copy when a worker is killed: the
    adapter's own uninstall knows where it is."""
    try:
        with open_adapter(copy_url) as adapter:
            adapter.uninstall()
    except AdapterError:
        pass  # the copy goes anyway; at worst a leftover of its adapter stays


def leftover_copies(url: str) -> list[str]:
    """URLs of copies of ``url``'s database that runs left behind (a killed run): for `db recover`.
    Copies of a live run are never listed; a dead run's entries whose copy is gone are forgotten."""
    source = Location.of(url)
    found: list[str] = []
    for run in registry.runs():
        if run.alive():
            continue
        for entry in run.copies:
            if entry.source != source.identity:
                continue
            copy_url = _url_of(source, entry)
            if KINDS[entry.copy.kind].exists(Location.of(copy_url)):
                found.append(copy_url)
            else:
                registry.forget_copy(entry.copy)
    return found


def leftover_processes(url: str) -> list[tuple[int, int | None]]:
    """(pid, start time) of the API process groups that killed runs started on copies of ``url``'s
    database: they still hold the copies open and must stop before the copies go (`db recover`)."""
    source = Location.of(url).identity
    return [process for run in registry.runs() if not run.alive()
            if any(entry.source == source for entry in run.copies) for process in run.processes]


def _url_of(source: Location, entry: registry.CopyEntry) -> str:
    """The copy's URL in the form of the URL the user gave (their credentials and options)."""
    if entry.copy.kind == "redis":
        return source.with_database(entry.copy.name, redis.copy_query(source, list(entry.reserved)))
    if entry.copy.kind in ("sqlite", "dir"):
        return source.with_database(entry.copy.address)
    return source.with_database(entry.copy.name)

