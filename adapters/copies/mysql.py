"""MariaDB / MySQL copies: a new schema ``<name>__vr_<run>_<replica>`` with each table made by its own
``SHOW CREATE TABLE`` and filled by ``INSERT ... SELECT`` (foreign-key checks off, all tables read in one
consistent snapshot), AUTO_INCREMENT counters equal to the source's, then views and triggers (their
DEFINER left out: the copying user owns them). Triggers come after the rows, so copying fires none.

Our rollback journal (tables and triggers named ``venom_replay_*``) is left out: copied along, it would
make the copy's own adapter "recover" the source's baseline. Stored routines and events are not copied.
"""

from __future__ import annotations

import re
from typing import Any, Self

import pymysql

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies.locations import Location
from venom_replay.adapters.registry import open_adapter

NAME_LIMIT = 64  # characters: MariaDB's and MySQL's identifier limit
OURS = "venom_replay_"
DEFINER = re.compile(r"DEFINER\s*=\s*(?:`(?:[^`]|``)*`|'[^']*'|[^\s@]+)@(?:`(?:[^`]|``)*`|'[^']*'|\S+)\s+")


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class _Server:
    """A connection that names no user database (information_schema), so that it can create and drop
    any; the journal adapter's own connect() makes it."""

    def __init__(self, location: Location) -> None:
        self.adapter = open_adapter(location.with_database("information_schema"))
        self.conn: pymysql.connections.Connection = self.adapter.conn

    def rows(self, statement: str, args: Any = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def schema_exists(self, name: str) -> bool:
        return bool(self.rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.adapter.close()


def make_copy(source: Location, name: str) -> str:
    if len(name) > NAME_LIMIT:
        raise AdapterError(f"cannot copy {source.shown}: the copy's name {name!r} is longer than {NAME_LIMIT}"
                           " characters (use a shorter run id)")
    src = source.identity.name
    with _Server(source) as server:
        if not server.schema_exists(src):
            raise AdapterError(f"cannot copy {source.shown}: the database does not exist")
        if server.schema_exists(name):
            raise AdapterError(f"cannot copy {source.shown}: its copy {name} already exists (drop it first)")
        charset, collation = server.rows("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME"
                                         " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (src,))[0]
        server.rows(f"CREATE DATABASE {ident(name)} CHARACTER SET {charset} COLLATE {collation}")
        try:
            _SchemaCopy(server, src, name).run()
        except (pymysql.err.MySQLError, _CannotCopy) as exc:
            server.rows(f"DROP DATABASE IF EXISTS {ident(name)}")
            raise AdapterError(f"cannot copy {source.shown}: {exc.args[-1]}") from exc
        except BaseException:
            server.rows(f"DROP DATABASE IF EXISTS {ident(name)}")
            raise
    return source.with_database(name)


class _CannotCopy(Exception):
    """An object of the source that this copy cannot make (make_copy() names the database)."""


class _SchemaCopy:
    def __init__(self, server: _Server, source: str, target: str) -> None:
        self.server, self.source, self.target = server, source, target

    def run(self) -> None:
        server = self.server
        kinds = dict(server.rows("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES"
                                 " WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME", (self.source,)))
        tables = [t for t, kind in kinds.items() if kind not in ("VIEW", "SYSTEM VIEW") and not t.startswith(OURS)]
        unsupported = [t for t in tables if kinds[t] not in ("BASE TABLE", "SYSTEM VERSIONED")]
        if unsupported:
            raise _CannotCopy(f"{', '.join(unsupported)} is a {kinds[unsupported[0]]}, which copies do not support")
        mode = server.rows("SELECT @@SESSION.sql_mode")[0][0]
        server.conn.select_db(self.target)
        # Rows keep their ids (0 included) and go in in any order.
        server.rows("SET SESSION FOREIGN_KEY_CHECKS = 0, SESSION sql_mode = %s",
                    (",".join(filter(None, [mode, "NO_AUTO_VALUE_ON_ZERO"])),))
        try:
            for table in tables:
                server.rows(server.rows(f"SHOW CREATE TABLE {ident(self.source)}.{ident(table)}")[0][1])
            self._rows(tables)
            self._counters()
            self._views([t for t, kind in kinds.items() if kind == "VIEW"])
            self._triggers()
        finally:
            server.rows("SET SESSION FOREIGN_KEY_CHECKS = 1, SESSION sql_mode = %s", (mode,))
            server.conn.select_db("information_schema")

    def _rows(self, tables: list[str]) -> None:
        columns: dict[str, list[str]] = {}
        # Generated columns are computed again by the copy; naming them in an INSERT is an error.
        for table, column in self.server.rows(
                "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
                " AND COALESCE(GENERATION_EXPRESSION, '') = '' ORDER BY TABLE_NAME, ORDINAL_POSITION", (self.source,)):
            columns.setdefault(table, []).append(ident(column))
        self.server.rows("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        try:
            for table in tables:
                names = ", ".join(columns[table])
                self.server.rows(f"INSERT INTO {ident(self.target)}.{ident(table)} ({names})"
                                 f" SELECT {names} FROM {ident(self.source)}.{ident(table)}")
            self.server.rows("COMMIT")
        except BaseException:
            self.server.rows("ROLLBACK")
            raise

    def _counters(self) -> None:
        try:  # MySQL 8 caches information_schema.TABLES.AUTO_INCREMENT; MariaDB has no such setting
            self.server.rows("SET SESSION information_schema_stats_expiry = 0")
        except pymysql.err.MySQLError:
            pass
        query = ("SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES"
                 " WHERE TABLE_SCHEMA = %s AND AUTO_INCREMENT IS NOT NULL")
        copied = dict(self.server.rows(query, (self.target,)))
        for table, counter in self.server.rows(query, (self.source,)):
            if table in copied and copied[table] != counter:
                self.server.rows(f"ALTER TABLE {ident(self.target)}.{ident(table)} AUTO_INCREMENT = {int(counter)}")

    def _retarget(self, statement: str) -> str:
        """The statement with references to the source schema pointed at the copy, and no DEFINER."""
        return DEFINER.sub("", statement.replace(ident(self.source) + ".", ident(self.target) + "."), count=1)

    def _views(self, views: list[str]) -> None:
        pending = {v: self._retarget(self.server.rows(f"SHOW CREATE VIEW {ident(self.source)}.{ident(v)}")[0][1])
                   for v in views}
        while pending:  # a view over another view needs that one first
            failed: dict[str, str] = {}
            last: pymysql.err.MySQLError | None = None
            for view, statement in pending.items():
                try:
                    self.server.rows(statement)
                except pymysql.err.MySQLError as exc:
                    failed[view], last = statement, exc
            if len(failed) == len(pending):
                raise _CannotCopy(f"view {next(iter(failed))}: {last.args[-1]}")
            pending = failed

    def _triggers(self) -> None:
        for (trigger,) in self.server.rows(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"
                " ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER", (self.source,)):
            if trigger.startswith(OURS):
                continue
            _, mode, statement, *_ = self.server.rows(f"SHOW CREATE TRIGGER {ident(self.source)}.{ident(trigger)}")[0]
            self.server.rows("SET SESSION sql_mode = %s", (mode,))  # the mode the trigger was made in
            self.server.rows(self._retarget(statement))


def drop(copy: Location) -> None:
    with _Server(copy) as server:
        server.rows(f"DROP DATABASE IF EXISTS {ident(copy.identity.name)}")


def exists(copy: Location) -> bool:
    with _Server(copy) as server:
        return server.schema_exists(copy.identity.name)
