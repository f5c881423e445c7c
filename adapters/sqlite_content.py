"""A SQLite database's user content out (a recording's start state) and back in.

Export: one read transaction on a connection of its own; every user table's rows with their rowid
(values as SQLite stores them: int, float, str, bytes or NULL, which msgpack keeps exactly), in parts
of about 1000 rows, and sqlite_sequence. Generated columns are left out (they follow from the rest);
an INTEGER PRIMARY KEY is the rowid. WITHOUT ROWID tables are refused: rows are matched by rowid.

Import: one write transaction on the adapter's connection (foreign keys off): per table, rows whose
rowid is missing or whose values differ (compared with their storage class) are deleted and the start
rows written back with their rowid; equal rows are not touched. These are ordinary writes, so the
trigger journal records them (``triggers`` mode) or the checkpoint copy covers them (``backup`` mode),
and a later restore undoes the import. User triggers fire, as during a restore.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from venom_replay.adapters.base import AdapterError, ContentPart, ContentStats

__all__ = ["export_tables", "import_tables", "put_sequences", "qi", "read_sequences", "stored_columns", "without_rowid"]

ROWS_PER_PART = 1000
Row = tuple[Any, ...]


def qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def without_rowid(ddl: str) -> bool:
    return re.search(r"\bWITHOUT\s+ROWID\b", ddl, re.IGNORECASE) is not None


def stored_columns(conn: sqlite3.Connection, name: str) -> list[str]:
    """The columns a row image needs: generated ones left out, an INTEGER PRIMARY KEY too (the rowid
    carries it)."""
    info = list(conn.execute(f"PRAGMA table_info({qi(name)})"))
    pk = [r for r in info if r[5]]
    alias = pk[0][1] if len(pk) == 1 and (pk[0][2] or "").upper() == "INTEGER" else None
    return [r[1] for r in info if r[1] != alias]


def read_sequences(conn: sqlite3.Connection) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(sorted(conn.execute("SELECT name, seq FROM sqlite_sequence")))
    except sqlite3.OperationalError:  # no AUTOINCREMENT table: no sqlite_sequence
        return ()


def put_sequences(conn: sqlite3.Connection, saved: dict[str, int]) -> int:
    """Make sqlite_sequence hold ``saved``; how many entries changed."""
    current = dict(read_sequences(conn))
    changed = 0
    for name, value in current.items():
        if name not in saved:
            conn.execute("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
            changed += 1
        elif saved[name] != value:
            conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (saved[name], name))
            changed += 1
    for name, value in saved.items():
        if name not in current:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, value))
            changed += 1
    return changed


def _rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[Row]:
    yield from conn.execute(f"SELECT {', '.join(['rowid', *map(qi, columns)])} FROM {qi(table)}")


# ---------------------------------------------------------------- export


def export_tables(path: Path, tables: Callable[[sqlite3.Connection], dict[str, str]],
                  write: Callable[[ContentPart], None]) -> ContentStats:
    """Every table ``tables`` names ({name: CREATE statement}) and sqlite_sequence, read in one transaction."""
    stats = ContentStats()
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as conn:
        conn.execute("BEGIN")  # one read snapshot for every table
        try:
            for name, ddl in tables(conn).items():
                if without_rowid(ddl):
                    raise AdapterError(f"SQLite table {name} is WITHOUT ROWID: a start state matches rows by rowid;"
                                       " record without --db for this database")
                columns = stored_columns(conn, name)
                write({"t": "table", "name": name, "columns": columns})
                stats.tables += 1
                batch: list[Row] = []
                for row in _rows(conn, name, columns):
                    batch.append(row)
                    if len(batch) >= ROWS_PER_PART:
                        write({"t": "rows", "rows": batch})
                        stats.rows += len(batch)
                        batch = []
                if batch:
                    write({"t": "rows", "rows": batch})
                    stats.rows += len(batch)
            sequences = [list(s) for s in read_sequences(conn)]
        finally:
            conn.execute("COMMIT")
    write({"t": "sequences", "values": sequences})
    stats.sequences = len(sequences)
    return stats


# ---------------------------------------------------------------- import


def _typed(row: Row) -> tuple[tuple[str, Any], ...]:
    """Values with their storage class: 1, 1.0 and '1' are different content."""
    return tuple((type(v).__name__, v) for v in row)


def _sections(parts: Iterable[ContentPart]) -> Iterator[tuple[ContentPart, dict[int, Row]]]:
    """Each table part with its rows by rowid; the sequences part with no rows."""
    current: ContentPart | None = None
    rows: dict[int, Row] = {}
    for part in parts:
        kind = part.get("t")
        if kind == "rows" and current is not None:
            rows.update((r[0], tuple(r[1:])) for r in part["rows"])
            continue
        if current is not None:
            yield current, rows
            current, rows = None, {}
        if kind == "table":
            current = part
        elif kind == "sequences":
            yield part, {}
        else:
            raise AdapterError(f"the start state is damaged: unexpected part {kind!r} for SQLite")
    if current is not None:
        yield current, rows


def import_tables(conn: sqlite3.Connection, tables: dict[str, str], parts: Iterable[ContentPart],
                  notes: list[str]) -> ContentStats:
    """Make the live tables equal to ``parts`` in one write transaction (foreign keys must be off)."""
    stats = ContentStats()
    seen: set[str] = set()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for part, wanted in _sections(parts):
            if part["t"] == "sequences":
                stats.sequences += put_sequences(conn, {name: seq for name, seq in part["values"]})
                continue
            seen.add(part["name"])
            stats += _import_table(conn, tables, part, wanted)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    extra = sorted(set(tables) - seen)
    if extra:
        notes.append(f"tables not in the recording's start state (created after it?) were left as they are: {', '.join(extra)}")
    return stats


def _import_table(conn: sqlite3.Connection, tables: dict[str, str], part: ContentPart,
                  wanted: dict[int, Row]) -> ContentStats:
    name, columns = part["name"], list(part["columns"])
    if name not in tables:
        raise AdapterError(f"table {name} of the recording's start state does not exist any more (the schema changed"
                           " since the recording; record again)")
    now = stored_columns(conn, name)
    if now != columns:
        raise AdapterError(f"table {name} has the columns ({', '.join(now)}) but the recording's start state has"
                           f" ({', '.join(columns)}): the schema changed since the recording; record again")
    have = {r[0]: r[1:] for r in _rows(conn, name, columns)}
    gone = [rid for rid, row in have.items() if rid not in wanted or _typed(wanted[rid]) != _typed(row)]
    back = [(rid, *row) for rid, row in wanted.items() if rid not in have or _typed(have[rid]) != _typed(row)]
    conn.executemany(f"DELETE FROM {qi(name)} WHERE rowid = ?", [(rid,) for rid in gone])
    marks = ", ".join("?" * (len(columns) + 1))
    conn.executemany(f"INSERT INTO {qi(name)} ({', '.join(['rowid', *map(qi, columns)])}) VALUES ({marks})", back)
    return ContentStats(tables=1, rows=len(wanted), removed=len(gone), added=len(back))
