"""PostgreSQL copies: ``CREATE DATABASE <name>__vr_<run>_<replica> TEMPLATE <name>``, through the
template mode's own copy and drop (adapters/postgres/template.py), without its cut-off: PostgreSQL
copies a database only while no one else is connected to it, and a copy must never terminate the
user's sessions. So a source with other sessions is refused, with one line that says so.

The copy leaves out our rollback journal if the source had one installed: a journal copied along would
make the copy's own adapter "recover" the source's baseline and undo what the source holds now.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies.locations import Location
from venom_replay.adapters.registry import open_adapter

NAME_LIMIT = 63  # bytes: PostgreSQL cuts longer names (NAMEDATALEN - 1)
JOURNAL_SCHEMA = "venom_replay"


def _cloner(url: str) -> Any:
    """The template-mode adapter of ``url``: its admin connection on the maintenance database runs the
    CREATE DATABASE ... TEMPLATE and DROP DATABASE statements."""
    return open_adapter(url, mode="template")


def _exists(admin: psycopg.Connection, name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _refuse_other_sessions(admin: psycopg.Connection, source: Location) -> None:
    count, who = admin.execute(
        "SELECT count(*), string_agg(DISTINCT coalesce(nullif(application_name, ''), usename::text, '?'), ', ')"
        " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'",  # PostgreSQL itself stops autovacuum workers for a copy
        (source.identity.name,)).fetchone()
    if count:
        raise AdapterError(
            f"cannot copy {source.shown}: {count} other session(s) are connected to it ({who}); PostgreSQL"
            " copies a database only when no one else is connected: stop the API and other clients first")


def make_copy(source: Location, name: str) -> str:
    if len(name.encode()) > NAME_LIMIT:
        raise AdapterError(f"cannot copy {source.shown}: the copy's name {name!r} is longer than PostgreSQL's"
                           f" {NAME_LIMIT} bytes (use a shorter run id)")
    copy_url = source.with_database(name)
    with _cloner(source.url) as cloner:
        admin = cloner.admin
        if not _exists(admin, source.identity.name):
            raise AdapterError(f"cannot copy {source.shown}: the database does not exist")
        if _exists(admin, name):
            raise AdapterError(f"cannot copy {source.shown}: its copy {name} already exists (drop it first)")
        _refuse_other_sessions(admin, source)
        cloner._copy(source.identity.name, name, cut_off=False)
        try:
            _keep_owner(admin, source.identity.name, name)
            _leave_out_journal(Location.of(copy_url).clean)
        except BaseException:
            cloner._drop(name)
            raise
    return copy_url


def _keep_owner(admin: psycopg.Connection, source: str, copy: str) -> None:
    owner = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (source,)).fetchone()[0]
    if owner == admin.info.user:
        return
    try:
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(copy), sql.Identifier(owner)))
    except psycopg.Error:
        pass  # not a member of the owner's role: the copy stays ours; its tables keep their owners anyway


def _leave_out_journal(copy_clean_url: str) -> None:
    with psycopg.connect(copy_clean_url, autocommit=True, connect_timeout=10) as conn:
        installed = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (JOURNAL_SCHEMA,)).fetchone()
    if installed:
        with open_adapter(copy_clean_url, mode="journal") as journal:
            journal.uninstall()


def drop(copy: Location) -> None:
    with _cloner(copy.url) as cloner:
        cloner._drop(copy.identity.name)  # WITH (FORCE): a replica's own sessions are cut off


def exists(copy: Location) -> bool:
    with _cloner(copy.url) as cloner:
        return _exists(cloner.admin, copy.identity.name)
