"""A PostgreSQL database's user content out (a recording's start state) and back in, journalled.

Export: one REPEATABLE READ, READ ONLY transaction, so every table is read at the same moment. Per
user table (the ones fingerprint() covers) a COPY of its writable columns in text format (exact for
every type; generated columns follow from the others), cut into parts of about 1 MB; then the
position of every sequence we may read. It reads only: nothing is installed.

Import: one transaction on the journal adapter's own connection with
``session_replication_role = replica``, as a restore: user triggers and foreign-key checks are off,
so the start content is written as it was, in any table order. Our journal triggers do not fire
under ``replica`` either (an ENABLEd trigger fires in ``origin`` and ``local`` mode only; checked on
PostgreSQL 15), so every statement journals the rows it changes itself, in a data-modifying CTE
that writes the row image our trigger would have written: a later restore undoes the import exactly
like an API write. Per table the start rows are COPYed into a table in our schema; live rows that
have no equal start row are deleted, start rows that have no equal live row are inserted; equal rows
are not touched. Rows are compared exactly (``json`` text, numeric scale and float bits included):
by primary key and binary image, or, without a key, by their text form, numbering identical rows
on both sides so that the number of duplicates comes out right. Sequences are set with setval: a
checkpoint taken before the import holds their old positions, and restore puts those back.
Both directions fix the text formats that server settings could change (floats, dates, intervals).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from venom_replay.adapters.base import AdapterError, ContentPart, ContentStats
from venom_replay.adapters.postgres.sql import PRIMARY_KEY, TABLE_COLUMNS, USER_TABLES

__all__ = ["export_tables", "import_tables"]

CHUNK = 1 << 20
# Text formats that do not depend on the server's or the role's settings: floats exact on any version.
STABLE_TEXT = ("SET LOCAL extra_float_digits = 3; SET LOCAL DateStyle = 'ISO, YMD';"
               " SET LOCAL IntervalStyle = 'postgres'; SET LOCAL bytea_output = 'hex'")
STAGE = sql.Identifier("venom_replay", "start_rows")
"""Where one table's start rows are COPYed: a table in our own schema, dropped after each table (and
with the schema at uninstall). Not a TEMP table: PostgreSQL keeps the pg_temp_N schema it creates
for the first one in the catalog for good."""

SEQUENCES = r"""
SELECT format('%I.%I', n.nspname, c.relname), pg_catalog.pg_sequence_last_value(q.seqrelid)
  FROM pg_catalog.pg_sequence q JOIN pg_catalog.pg_class c ON c.oid = q.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('venom_replay', 'pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
   AND has_sequence_privilege(q.seqrelid, 'SELECT,USAGE')
 ORDER BY 1
"""

# With a primary key: a live row stays when the start row of its key has the same binary image
# (``*=``, the operator REFRESH MATERIALIZED VIEW CONCURRENTLY uses: exact for every type, and a
# hash join on the key instead of hashing whole rows). {k} the key columns of the live table, {sk} the stage's.
REMOVE_KEYED = """
WITH gone AS (
    DELETE FROM {t} AS x
     WHERE NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE ({sk}) = ({k}) AND ROW({s})::record *= ROW({x})::record)
    RETURNING x.*)
INSERT INTO venom_replay.journal (relid, op, old) SELECT %s, 'D', to_jsonb(gone.*) FROM gone
"""
# After that delete every live row has an identical start row: a start row is missing when its key is.
ADD_KEYED = """
WITH added AS (
    INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE
    SELECT {s} FROM {stage} AS s WHERE NOT EXISTS (SELECT 1 FROM {t} AS x WHERE ({k}) = ({sk}))
    RETURNING *)
INSERT INTO venom_replay.journal (relid, op, new) SELECT %s, 'I', to_jsonb(added.*) FROM added
"""
# Without a primary key: rows compared by their text form (exact for every type, and hashable);
# the n-th copy of a row stays when the start state has at least n copies.
REMOVE_MULTISET = """
WITH live AS (SELECT x.ctid AS venom_id, ROW({x})::text AS venom_k,
                     row_number() OVER (PARTITION BY ROW({x})::text) AS venom_n FROM {t} AS x),
     wanted AS (SELECT ROW({s})::text AS venom_k, count(*) AS venom_n FROM {stage} AS s GROUP BY 1),
     extra AS (SELECT live.venom_id FROM live LEFT JOIN wanted USING (venom_k)
                WHERE live.venom_n > coalesce(wanted.venom_n, 0)),
     gone AS (DELETE FROM {t} AS x WHERE x.ctid IN (SELECT venom_id FROM extra) RETURNING x.*)
INSERT INTO venom_replay.journal (relid, op, old) SELECT %s, 'D', to_jsonb(gone.*) FROM gone
"""
ADD_MULTISET = """
WITH have AS (SELECT ROW({x})::text AS venom_k, count(*) AS venom_n FROM {t} AS x GROUP BY 1),
     wanted AS (SELECT {s}, ROW({s})::text AS venom_k,
                       row_number() OVER (PARTITION BY ROW({s})::text) AS venom_n FROM {stage} AS s),
     added AS (INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE
               SELECT {w} FROM wanted AS w LEFT JOIN have USING (venom_k) WHERE w.venom_n > coalesce(have.venom_n, 0)
               RETURNING *)
INSERT INTO venom_replay.journal (relid, op, new) SELECT %s, 'I', to_jsonb(added.*) FROM added
"""


def writable_columns(conn: psycopg.Connection, relid: int) -> list[str]:
    return [name for name, generated in conn.execute(TABLE_COLUMNS, (relid,)).fetchall() if not generated]


def _column_list(columns: list[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns)


# ---------------------------------------------------------------- export


def export_tables(conn: psycopg.Connection, write: Callable[[ContentPart], None]) -> ContentStats:
    """Every user table's rows and every sequence's position, read at one moment, as parts."""
    stats = ContentStats()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(STABLE_TEXT)
        for relid, name, schema, table in conn.execute(USER_TABLES).fetchall():
            columns = writable_columns(conn, relid)
            write({"t": "table", "name": name, "columns": columns})
            stats.tables += 1
            stats.rows += _copy_out(conn, sql.Identifier(schema, table), columns, write)
        values = [[name, value] for name, value in conn.execute(SEQUENCES).fetchall()]
    write({"t": "sequences", "values": values})
    stats.sequences = len(values)
    return stats


def _copy_out(conn: psycopg.Connection, table: sql.Identifier, columns: list[str],
              write: Callable[[ContentPart], None]) -> int:
    """COPY one table out in parts of about CHUNK bytes; the number of rows."""
    if not columns:  # nothing to write back (COPY refuses an empty column list)
        return 0
    rows, buf = 0, bytearray()
    query = sql.SQL("COPY {} ({}) TO STDOUT").format(table, _column_list(columns))
    with conn.cursor() as cur, cur.copy(query) as copy:
        for data in copy:
            buf += data
            if len(buf) >= CHUNK:
                rows += buf.count(b"\n")
                write({"t": "copy", "data": bytes(buf)})
                buf.clear()
    if buf:
        rows += buf.count(b"\n")
        write({"t": "copy", "data": bytes(buf)})
    return rows


# ---------------------------------------------------------------- import


class _Parts:
    """The parts in order, with one part of look-ahead: a table's COPY data ends at the next other part."""

    def __init__(self, parts: Iterable[ContentPart]) -> None:
        self._it = iter(parts)
        self._held: ContentPart | None = None

    def __iter__(self) -> Iterator[ContentPart]:
        return self

    def __next__(self) -> ContentPart:
        if self._held is not None:
            part, self._held = self._held, None
            return part
        return next(self._it)

    def copies(self) -> Iterator[bytes]:
        for part in self:
            if part.get("t") != "copy":
                self._held = part
                return
            yield part["data"]


def import_tables(conn: psycopg.Connection, parts: Iterable[ContentPart], notes: list[str]) -> ContentStats:
    """Make the live tables and sequences equal to ``parts``, journalling every row it changes. The
    caller's connection must have session_replication_role = replica set."""
    live = {name: (relid, schema, table) for relid, name, schema, table in conn.execute(USER_TABLES).fetchall()}
    stats = ContentStats()
    seen: set[str] = set()
    stream = _Parts(parts)
    with conn.transaction():
        conn.execute(STABLE_TEXT)
        for part in stream:
            kind = part.get("t")
            if kind == "table":
                seen.add(part["name"])
                stats += _import_table(conn, part, stream, live)
            elif kind == "sequences":
                stats.sequences += _set_sequences(conn, part["values"], notes)
            else:
                raise AdapterError(f"the start state is damaged: unexpected part {kind!r} for PostgreSQL")
    extra = sorted(set(live) - seen)
    if extra:
        notes.append(f"tables not in the recording's start state (created after it?) were left as they are: {', '.join(extra)}")
    return stats


def _import_table(conn: psycopg.Connection, part: ContentPart, stream: _Parts,
                  live: dict[str, tuple[int, str, str]]) -> ContentStats:
    name, columns = part["name"], list(part["columns"])
    if name not in live:
        raise AdapterError(f"table {name} of the recording's start state does not exist any more (the schema changed"
                           " since the recording; record again)")
    relid, schema, table = live[name]
    now = writable_columns(conn, relid)
    if now != columns:
        raise AdapterError(f"table {name} has the columns ({', '.join(now)}) but the recording's start state has"
                           f" ({', '.join(columns)}): the schema changed since the recording; record again")
    if not columns:
        return ContentStats(tables=1)
    names = {"t": sql.Identifier(schema, table), "stage": STAGE, "c": _column_list(columns),
             "x": _column_list(columns, "x"), "s": _column_list(columns, "s"), "w": _column_list(columns, "w")}
    conn.execute(sql.SQL("CREATE UNLOGGED TABLE {stage} AS SELECT {c} FROM {t} WITH NO DATA").format(**names))
    rows = 0
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {stage} ({c}) FROM STDIN").format(**names)) as copy:
        for data in stream.copies():
            copy.write(data)
            rows += data.count(b"\n")
    conn.execute(sql.SQL("ANALYZE {stage}").format(**names))  # its size, for the join plans below
    key = [r[0] for r in conn.execute(PRIMARY_KEY, (relid,)).fetchall()]
    keyed = bool(key) and set(key) <= set(columns)
    names.update(k=_column_list(key, "x"), sk=_column_list(key, "s"))
    remove, add = (REMOVE_KEYED, ADD_KEYED) if keyed else (REMOVE_MULTISET, ADD_MULTISET)
    removed = conn.execute(sql.SQL(remove).format(**names), (relid,)).rowcount
    added = conn.execute(sql.SQL(add).format(**names), (relid,)).rowcount
    conn.execute(sql.SQL("DROP TABLE {stage}").format(**names))
    return ContentStats(tables=1, rows=rows, removed=removed, added=added)


def _set_sequences(conn: psycopg.Connection, values: list[list[Any]], notes: list[str]) -> int:
    """setval() the sequences whose position differs; how many were set."""
    changed, missing = 0, []
    for name, value in values:
        oid = conn.execute("SELECT to_regclass(%s)::oid", (name,)).fetchone()[0]
        if oid is None:
            missing.append(name)
            continue
        now = conn.execute("SELECT pg_catalog.pg_sequence_last_value(%s::oid::regclass)", (oid,)).fetchone()[0]
        if now == value:
            continue
        if value is None:  # never used at the start: back to "the next value is the start value"
            conn.execute("SELECT pg_catalog.setval(%s::oid::regclass, seqstart, false) FROM pg_catalog.pg_sequence"
                         " WHERE seqrelid = %s::oid", (oid, oid))
        else:
            conn.execute("SELECT pg_catalog.setval(%s::oid::regclass, %s, true)", (oid, value))
        changed += 1
    if missing:
        notes.append(f"sequences of the recording's start state that no longer exist were skipped: {', '.join(missing)}")
    return changed
