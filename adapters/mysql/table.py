"""MariaDB / MySQL tables as the journal sees them: connecting, row images, and the statements that
undo or redo one journal entry.

A row image is a JSON array in the table's column order fixed at install (generated columns left
out; binary columns as HEX, BIT as a number). Journal ops: I insert, U update, D delete (row
triggers); C a row a foreign-key cascade deleted, S a row a cascade set (cascade triggers).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
from pymysql.constants import CLIENT

from venom_replay.adapters.base import AdapterError
from venom_replay.proxy.redact import mask_url_password

JOURNAL = "venom_replay_journal"
META = "venom_replay_meta"
COPIES = "venom_replay_copies"
COPY_PREFIX = "venom_replay_copy_"
HEX_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point",
             "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}
LONG_TYPES = {"tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob"}
_HEX = re.compile(r"^[0-9A-Fa-f]*$")


def connect_args(url: str) -> dict[str, Any]:
    """pymysql.connect()'s host, port, user, password and database (None when the URL names none) for a
    ``mysql://`` or ``mariadb://`` URL; the one place that reads such a URL."""
    parts = urlsplit(url)
    return {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
            "user": unquote(parts.username or "root"), "password": unquote(parts.password or ""),
            "database": unquote(parts.path.lstrip("/")) or None}


PROGRAM_NAME = "venom-replay"
"""Our connections' program_name attribute (performance_schema.session_connect_attrs), so that a DBA
can tell them from the API's."""


def connect(url: str) -> pymysql.connections.Connection:
    args = connect_args(url)
    if args["database"] is None:
        raise AdapterError(f"no database name in {mask_url_password(url)} (expected mysql://user@host:port/dbname)")
    try:
        return pymysql.connect(**args, autocommit=True, charset="utf8mb4", client_flag=CLIENT.MULTI_STATEMENTS,
                               connect_timeout=10, program_name=PROGRAM_NAME)
    except pymysql.err.OperationalError as exc:
        raise AdapterError(f"cannot connect to {mask_url_password(url)}: {exc.args[-1]}") from exc


def is_ours(table: str) -> bool:
    """Our own tables (the self-test's scratch table also starts with venom_replay_: it is journalled)."""
    return table in (JOURNAL, META, COPIES) or (table.startswith(COPY_PREFIX) and table[len(COPY_PREFIX):].isdigit())


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def trigger_name(table: str, suffix: str) -> str:
    name = f"venom_replay_{table}_{suffix}"
    if len(name) > 64:  # MariaDB identifier limit: keep it unique with a checksum
        name = f"venom_replay_{table[:36]}_{zlib.crc32(table.encode()):08x}_{suffix}"
    return name


def image_kind(data_type: str) -> str:
    return ("hex" if data_type in HEX_TYPES else "bit" if data_type == "bit"
            else "text" if data_type == "longtext" else "plain")  # JSON columns are longtext


@dataclass
class Table:
    name: str
    columns: list[str]          # written columns (generated ones left out), image order
    image_kinds: list[str]      # per column: "hex", "bit", "text" or "plain"
    pk: list[str]
    long_columns: set[str] = field(default_factory=set)  # TEXT/BLOB: compared through MD5 when grouping
    auto_increment: bool = False
    innodb: bool = True
    encoded: str = ""           # the name as InnoDB's dictionary spells it (filename charset)

    def image_sql(self, row: str) -> str:
        return self.image_of([f"{row}.{ident(c)}" for c in self.columns])

    def image_of(self, refs: list[str]) -> str:
        """JSON_ARRAY of one SQL expression per column, each in its column's image form."""
        parts = [{"hex": f"HEX({ref})", "bit": f"CAST({ref} AS UNSIGNED)", "text": f"CONCAT({ref})"}.get(kind, ref)
                 for ref, kind in zip(refs, self.image_kinds)]
        return f"JSON_ARRAY({', '.join(parts)})"

    def literals(self, conn: pymysql.connections.Connection, image: list[Any]) -> list[str]:
        out = []
        for value, kind in zip(image, self.image_kinds):
            if value is None:
                out.append("NULL")
            elif kind == "hex":
                if not _HEX.match(value):
                    raise AdapterError(f"corrupt journal entry for table {self.name}: bad hex value")
                out.append(f"UNHEX('{value}')")
            elif isinstance(value, (int, Decimal)):
                out.append(str(value))
            else:
                out.append(conn.escape(value if isinstance(value, str) else json.dumps(value)))
        return out

    def where(self, conn, image: list[Any]) -> str:
        values = dict(zip(self.columns, self.literals(conn, image)))
        keys = self.pk or self.columns
        cond = " AND ".join(f"{ident(k)} <=> {values[k]}" for k in keys)
        return cond + ("" if self.pk else " LIMIT 1")

    # -- statements for one journal entry -----------------------------------------------------------

    def insert(self, conn, image: list[Any], *, ignore: bool = False) -> str:
        return (f"INSERT {'IGNORE ' if ignore else ''}INTO {ident(self.name)} ({', '.join(map(ident, self.columns))})"
                f" VALUES ({', '.join(self.literals(conn, image))})")

    def delete(self, conn, image: list[Any]) -> str:
        return f"DELETE FROM {ident(self.name)} WHERE {self.where(conn, image)}"

    def update(self, conn, match: list[Any], values: list[Any]) -> str:
        assignments = ", ".join(f"{ident(c)} = {v}" for c, v in zip(self.columns, self.literals(conn, values)))
        return f"UPDATE {ident(self.name)} SET {assignments} WHERE {self.where(conn, match)}"

    def undo(self, conn, op: str, old: list[Any] | None, new: list[Any] | None) -> str:
        """The statement that takes the entry back. A cascade's rows come back idempotently: a row
        can be journalled by two paths, or by a statement that IGNORE kept from deleting it."""
        if op == "I":
            return self.delete(conn, new)
        if op in ("D", "C"):
            return self.insert(conn, old, ignore=op == "C")
        return self.update(conn, new, old)  # U, S

    def redo(self, conn, op: str, old: list[Any] | None, new: list[Any] | None) -> str:
        """The statement that makes the entry's change again (rebuilding a truncated table)."""
        if op == "I":
            return self.insert(conn, new)
        if op in ("D", "C"):
            return self.delete(conn, old)
        return self.update(conn, old, new)


def load_tables(query: Callable[..., list[tuple]]) -> dict[str, Table]:
    """Every base table of the database but ours, from information_schema."""
    rows = query(
        "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.EXTRA, t.ENGINE,"
        " CAST(CONVERT(c.TABLE_NAME USING filename) AS BINARY) FROM information_schema.COLUMNS c"
        " JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME"
        " WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION")
    pks: dict[str, list[str]] = {}
    for table, column in query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
            " AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX"):
        pks.setdefault(table, []).append(column)
    tables: dict[str, Table] = {}
    for table, column, data_type, extra, engine, encoded in rows:
        if is_ours(table):
            continue
        entry = tables.setdefault(table, Table(table, [], [], pks.get(table, []), innodb=engine == "InnoDB",
                                               encoded=encoded.decode()))
        if "auto_increment" in (extra or "").lower():
            entry.auto_increment = True
        if "GENERATED" in (extra or "").upper():
            continue
        entry.columns.append(column)
        entry.image_kinds.append(image_kind(data_type))
        if data_type in LONG_TYPES:
            entry.long_columns.add(column)
    return tables


def parse_image(text: str | None) -> list[Any] | None:
    return json.loads(text, parse_float=Decimal) if text is not None else None
