"""A MariaDB / MySQL database's user content out (a recording's start state) and back in, journalled.

Export: one ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY``, so every table is read at the
same moment; each row as its journal image (mysql_table: a JSON array in column order, binary as
HEX, BIT as a number), in parts of about 1 MB; then every AUTO_INCREMENT counter. It reads only.

Import: per table the live rows' images are counted against the start state's, so rows equal on
both sides are not touched and a table without a primary key gets the right number of duplicates.
The rows that differ are deleted and inserted with the statements a restore uses, inside one
transaction with FOREIGN_KEY_CHECKS=0 (any table order; InnoDB cascades nothing, and our cascade
triggers, which check that setting, journal nothing). Our row triggers journal every one of these
writes, so a later restore undoes the import like an API write. User triggers do fire (MariaDB
cannot switch them off, as during a restore). Counters are set with ALTER TABLE afterwards (the
checkpoint before the import holds the old ones; restore puts them back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pymysql

from venom_replay.adapters.base import AdapterError, ContentPart, ContentStats
from venom_replay.adapters.mysql.table import Table, ident, is_ours, load_tables, parse_image

__all__ = ["export_tables", "import_tables"]

CHUNK = 1 << 20
BATCH = 1 << 22  # bytes of SQL per round trip (max_allowed_packet is 16 MB by default)
COUNTERS = ("SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
            " AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL")

Query = Callable[..., list[tuple]]


def _images(conn: pymysql.connections.Connection, table: Table) -> Iterator[str]:
    """Every row's image, streamed (an unbuffered cursor: a large table is not held in memory)."""
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(f"SELECT {table.image_sql(ident(table.name))} FROM {ident(table.name)}")
        while rows := cur.fetchmany(1000):
            yield from (r[0] for r in rows)


# ---------------------------------------------------------------- export


def export_tables(conn: pymysql.connections.Connection, query: Query, write: Callable[[ContentPart], None]) -> ContentStats:
    stats = ContentStats()
    tables = load_tables(query)
    query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    try:
        for table in tables.values():
            write({"t": "table", "name": table.name, "columns": table.columns})
            stats.tables += 1
            batch: list[str] = []
            size = 0
            for image in _images(conn, table):
                batch.append(image)
                size += len(image)
                if size >= CHUNK:
                    write({"t": "rows", "rows": batch})
                    stats.rows += len(batch)
                    batch, size = [], 0
            if batch:
                write({"t": "rows", "rows": batch})
                stats.rows += len(batch)
        counters = [[name, int(value)] for name, value in query(COUNTERS) if not is_ours(name)]
    finally:
        query("COMMIT")
    write({"t": "counters", "values": counters})
    stats.sequences = len(counters)
    return stats


# ---------------------------------------------------------------- import


def _table_sections(parts: Iterable[ContentPart]) -> Iterator[tuple[ContentPart, Counter[str]]]:
    """Each table part with its rows' images counted; the counters part as a table named ''."""
    current: ContentPart | None = None
    rows: Counter[str] = Counter()
    for part in parts:
        kind = part.get("t")
        if kind == "rows" and current is not None:
            rows.update(part["rows"])
            continue
        if current is not None:
            yield current, rows
            current, rows = None, Counter()
        if kind == "table":
            current = part
        elif kind == "counters":
            yield {"t": "counters", "name": "", "values": part["values"]}, Counter()
        else:
            raise AdapterError(f"the start state is damaged: unexpected part {kind!r} for MariaDB/MySQL")
    if current is not None:
        yield current, rows


def _diff(conn: pymysql.connections.Connection, table: Table, wanted: Counter[str]) -> tuple[list[str], list[str]]:
    """The deletes and inserts that turn the live rows into ``wanted`` (images with their counts)."""
    have = Counter(_images(conn, table))
    deletes = [table.delete(conn, parse_image(image)) for image, n in (have - wanted).items() for _ in range(n)]
    inserts = [table.insert(conn, parse_image(image)) for image, n in (wanted - have).items() for _ in range(n)]
    return deletes, inserts


def import_tables(conn: pymysql.connections.Connection, query: Query, parts: Iterable[ContentPart],
                  notes: list[str]) -> ContentStats:
    """Make the live tables equal to ``parts``; every write goes through our row triggers."""
    tables = load_tables(query)
    stats = ContentStats()
    statements: list[str] = []
    counters: list[list[Any]] = []
    seen: set[str] = set()
    for part, wanted in _table_sections(parts):
        if part["t"] == "counters":
            counters = part["values"]
            continue
        name = part["name"]
        table = tables.get(name)
        if table is None:
            raise AdapterError(f"table {name} of the recording's start state does not exist any more (the schema"
                               " changed since the recording; record again)")
        if table.columns != list(part["columns"]):
            raise AdapterError(f"table {name} has the columns ({', '.join(table.columns)}) but the recording's start"
                               f" state has ({', '.join(part['columns'])}): the schema changed since the recording;"
                               " record again")
        seen.add(name)
        deletes, inserts = _diff(conn, table, wanted)
        statements += deletes + inserts
        stats += ContentStats(tables=1, rows=sum(wanted.values()), removed=len(deletes), added=len(inserts))
    _run_in_one_transaction(conn, statements)
    stats.sequences = _set_counters(query, tables, counters)
    extra = sorted(set(tables) - seen)
    if extra:
        notes.append(f"tables not in the recording's start state (created after it?) were left as they are: {', '.join(extra)}")
    return stats


def _run_in_one_transaction(conn: pymysql.connections.Connection, statements: list[str]) -> None:
    """The statements in batched round trips of one transaction, foreign-key checks off."""
    with conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            cur.execute("START TRANSACTION")
            batch: list[str] = []
            size = 0
            for statement in [*statements, None]:
                if statement is not None:
                    batch.append(statement)
                    size += len(statement)
                if batch and (statement is None or size >= BATCH):
                    cur.execute(";\n".join(batch))
                    while cur.nextset():
                        pass
                    batch, size = [], 0
            cur.execute("COMMIT")
        except pymysql.err.MySQLError as exc:
            conn.rollback()
            raise AdapterError(f"importing the start state failed: {exc.args[-1]}") from exc
        finally:
            cur.execute("SET FOREIGN_KEY_CHECKS = 1")


def _set_counters(query: Query, tables: dict[str, Table], counters: list[list[Any]]) -> int:
    now = {name: int(value) for name, value in query(COUNTERS)}
    changed = 0
    for name, value in counters:
        if name in tables and now.get(name) != int(value):
            query(f"ALTER TABLE {ident(name)} AUTO_INCREMENT = {int(value)}")
            changed += 1
    return changed
