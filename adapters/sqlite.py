"""SQLite rollback: generated triggers (default, for frequent restores) or the backup API (always correct).

Never copy the database file under a live connection: in WAL mode another process keeps reading
its old WAL frames and sees the wrong state. Both modes write through SQLite's own pager and locks.

``triggers`` mode: three triggers per table append ``rowid`` and the old values as ready-made SQL
literals (``quote()`` is exact for every storage class, BLOBs and REALs included) to
``venom_replay_journal``. restore() undoes newer entries newest first in one write transaction, on a
connection with foreign keys off, then deletes the entries (including the ones its own writes added)
and puts back sqlite_sequence. Rows are identified by rowid, so tables without a primary key work;
WITHOUT ROWID tables are refused (use ``backup`` mode). Undo only: no restore across branches.
User triggers DO fire during a restore (SQLite cannot switch them off); install() notes them.

``backup`` mode: checkpoint() copies the database into memory with the backup API; restore() copies
it back into the live database the same way. Slower on large files, but restores to any checkpoint.

Both modes export and import a recording's start state (sqlite_content) through ordinary writes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from venom_replay.adapters.base import Adapter, AdapterError, Checkpoint, ContentPart, ContentStats
from venom_replay.adapters.content_hash import MASK64, combine, volatile_for
from venom_replay.adapters.lineage import Lineage
from venom_replay.adapters.sqlite_content import (export_tables, import_tables, put_sequences, qi, read_sequences,
                                                  stored_columns, without_rowid)

__all__ = ["SQLiteBackupAdapter", "SQLiteTriggerAdapter"]

JOURNAL = "venom_replay_journal"
META = "venom_replay_meta"
OUR_TABLES = (JOURNAL, META)


def path_from_url(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise AdapterError(f"SQLite URL must look like sqlite:///path/to/app.db, got {url!r}")
    path = Path(url[len("sqlite:///"):])
    if not path.exists():
        raise AdapterError(f"SQLite database {path} does not exist")
    return path


def row_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def user_tables(conn: sqlite3.Connection) -> dict[str, str]:
    return {name: sql or "" for name, sql in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        if name not in OUR_TABLES}


def table_hash(conn: sqlite3.Connection, table: str, skip: Iterable[str]) -> int:
    """Order-independent hash of the table's rows (multiset: sum of row hashes mod 2^64)."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({qi(table)})") if r[1] not in set(skip)]
    if not columns:
        return 0
    expr = " || ',' || ".join(f"quote({qi(c)})" for c in columns)
    total = 0
    for (text,) in conn.execute(f"SELECT {expr} FROM {qi(table)}"):
        total += row_hash(text)
    return total & MASK64


@dataclass
class Table:
    name: str
    columns: list[str]  # stored columns, INTEGER PRIMARY KEY alias left out (rowid carries it)


class SQLiteBase(Adapter):
    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), busy_timeout: float = 30.0) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        self.path = path_from_url(url)
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lineage = Lineage(url)
        self.baseline: Checkpoint | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            # autocommit (isolation_level=None): we issue BEGIN IMMEDIATE ourselves
            self._conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = OFF")  # restores put rows back in any order
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def can_restore(self, token: Checkpoint) -> bool:
        return self._lineage.reachable(token)

    def _hash_tables(self, names: Iterable[str]) -> dict[str, int]:
        return {name: table_hash(self.conn, name, volatile_for(name, self.volatile_columns)) for name in names}

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        return export_tables(self.path, user_tables, write)

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        """Ordinary writes in one transaction: the journal (or the checkpoint's copy) covers them."""
        stats = import_tables(self.conn, user_tables(self.conn), parts, self.notes)
        return self.imported(stats)


def _conflict_conditions(conn: sqlite3.Connection, table: str) -> list[str]:
    """SQL conditions (on ``table``'s rows, against NEW) for each key an insert can conflict on: the
    rowid and every unique index on plain columns (NULLs never conflict, and ``=`` with NULL is false)."""
    conditions = ["rowid = NEW.rowid"]
    for _, name, unique, _origin, partial in conn.execute(f"PRAGMA index_list({qi(table)})").fetchall():
        if not unique or partial:
            continue
        columns = [r[2] for r in conn.execute(f"PRAGMA index_info({qi(name)})").fetchall()]
        if columns and all(columns):
            conditions.append(" AND ".join(f"{qi(c)} = NEW.{qi(c)}" for c in columns))
    return conditions


class SQLiteTriggerAdapter(SQLiteBase):
    restores_across_branches = False
    label = "SQLite triggers mode"

    def __init__(self, url: str, **options) -> None:
        super().__init__(url, **options)
        self.tables: dict[str, Table] = {}
        self._schema_version = -1
        self._hashes: dict[str, int] = {}
        self._dirty: set[str] | None = None
        self._fp_hwm = 0

    def _installed(self) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (META,)).fetchone() is not None

    def _load_tables(self) -> dict[str, Table]:
        tables = {}
        for name, ddl in user_tables(self.conn).items():
            if without_rowid(ddl):
                raise AdapterError(f"SQLite table {name} is WITHOUT ROWID, which the trigger journal cannot"
                                   " identify rows of; use mode=backup (sqlite:///...?mode=backup)")
            tables[name] = Table(name, stored_columns(self.conn, name))
        return tables

    def install(self) -> None:
        conn = self.conn
        self.recover_or_create(self._installed(), lambda: conn.executescript(
            f"BEGIN IMMEDIATE;"
            f"CREATE TABLE {JOURNAL} (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL,"
            f" rid INTEGER, new_rid INTEGER, vals TEXT);"
            f"CREATE TABLE {META} (baseline_hwm INTEGER NOT NULL, installed_at TEXT DEFAULT CURRENT_TIMESTAMP);"
            f"COMMIT;"))
        self._sync_triggers(report=False)
        triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                               " AND name NOT LIKE 'venom\\_replay\\_%' ESCAPE '\\'")]
        if triggers:
            self.notes.append(f"user triggers fire again while a restore writes rows back: {', '.join(triggers)};"
                              " if they change other tables, use mode=backup")
        hwm = self._hwm()
        conn.executescript(f"BEGIN IMMEDIATE; DELETE FROM {META}; INSERT INTO {META} (baseline_hwm) VALUES ({hwm});"
                           f" COMMIT;")
        self._lineage.reset()
        self._dirty = None
        self.baseline = self.checkpoint()

    def _sync_triggers(self, *, report: bool) -> None:
        conn = self.conn
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        self.tables = self._load_tables()
        new = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in self.tables.values():
                prefix = f"venom_replay_{table.name}"
                if f"{prefix}_i" in existing:
                    continue
                new.append(table.name)
                t, lit = qi(table.name), "'" + table.name.replace("'", "''") + "'"
                old_vals = " || ',' || ".join(f"quote(OLD.{qi(c)})" for c in table.columns) or "''"
                # INSERT OR REPLACE deletes the rows it conflicts with without firing delete triggers
                # (unless the API's connection set recursive_triggers): the rows it may replace are
                # journalled before ('P'), kept as deletes after the insert if they are gone or had its
                # rowid, else marked dead ('X'; ids are never reused, the fingerprint reads by id).
                conflicts = _conflict_conditions(conn, table.name)
                where = " OR ".join(f"({cond})" for cond in conflicts)  # one entry per row, however many keys match
                pre = (f" INSERT INTO {JOURNAL} (tbl, op, rid, vals) SELECT {lit}, 'P', rowid, {old_vals.replace('OLD.', '')}"
                       f" FROM {t} WHERE {where};")
                if conflicts:
                    conn.execute(f"CREATE TRIGGER {qi(prefix + '_p')} BEFORE INSERT ON {t} BEGIN"
                                 f" UPDATE {JOURNAL} SET op = 'X' WHERE op = 'P' AND tbl = {lit};{pre} END")
                settle = (f" UPDATE {JOURNAL} SET op = CASE WHEN rid = NEW.rowid OR NOT EXISTS (SELECT 1 FROM {t}"
                          f" WHERE rowid = {JOURNAL}.rid) THEN 'D' ELSE 'X' END WHERE op = 'P' AND tbl = {lit};"
                          if conflicts else "")
                conn.execute(f"CREATE TRIGGER {qi(prefix + '_i')} AFTER INSERT ON {t} BEGIN{settle} INSERT INTO {JOURNAL}"
                             f" (tbl, op, new_rid) VALUES ({lit}, 'I', NEW.rowid); END")
                conn.execute(f"CREATE TRIGGER {qi(prefix + '_u')} AFTER UPDATE ON {t} BEGIN INSERT INTO {JOURNAL}"
                             f" (tbl, op, rid, new_rid, vals) VALUES ({lit}, 'U', OLD.rowid, NEW.rowid, {old_vals}); END")
                conn.execute(f"CREATE TRIGGER {qi(prefix + '_d')} AFTER DELETE ON {t} BEGIN INSERT INTO {JOURNAL}"
                             f" (tbl, op, rid, vals) VALUES ({lit}, 'D', OLD.rowid, {old_vals}); END")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._schema_version = conn.execute("PRAGMA schema_version").fetchone()[0]
        if report and new:
            self.notes.append(f"tables created after install, journalled from now on: {', '.join(new)}"
                              " (their creation is not undone)")
            self._dirty = None

    def uninstall(self) -> None:
        conn = self.conn
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                            " AND name LIKE 'venom\\_replay\\_%' ESCAPE '\\'")]
        conn.execute("BEGIN IMMEDIATE")
        for name in names:
            conn.execute(f"DROP TRIGGER IF EXISTS {qi(name)}")
        conn.execute(f"DROP TABLE IF EXISTS {JOURNAL}")
        conn.execute(f"DROP TABLE IF EXISTS {META}")
        conn.execute("COMMIT")
        self._lineage.reset()
        self.baseline = None

    def pending_changes(self) -> int:
        if not self._installed():
            return 0
        return self.conn.execute(f"SELECT count(*) FROM {JOURNAL}, {META} WHERE id > baseline_hwm").fetchone()[0]

    def recover(self) -> int:
        if not self._installed():
            return 0
        row = self.conn.execute(f"SELECT baseline_hwm FROM {META}").fetchone()
        if row is None:
            return 0
        self.tables = self._load_tables()
        undone = self._undo(row[0], None)
        self._dirty = None
        return undone

    def _hwm(self) -> int:
        return self.conn.execute(f"SELECT coalesce(max(id), 0) FROM {JOURNAL}").fetchone()[0]

    def _sequences(self) -> tuple[tuple[str, int], ...]:
        return read_sequences(self.conn)

    def checkpoint(self) -> Checkpoint:
        if self.conn.execute("PRAGMA schema_version").fetchone()[0] != self._schema_version:
            self._sync_triggers(report=True)
        return Checkpoint(self.url, (self._lineage.new_id(), self._hwm(), self._sequences()))

    def restore(self, token: Checkpoint) -> None:
        self._lineage.check(token)
        _, hwm, sequences = token.value
        self._undo(hwm, sequences)
        self._lineage.rewind_to(token)

    def _undo(self, hwm: int, sequences: tuple[tuple[str, int], ...] | None) -> int:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            entries = conn.execute(f"SELECT tbl, op, rid, new_rid, vals FROM {JOURNAL} WHERE id > ? ORDER BY id DESC",
                                   (hwm,)).fetchall()
            touched = set()
            for tbl, op, rid, new_rid, vals in entries:
                if op in ("P", "X"):  # rows an insert might have replaced, settled by its after trigger
                    continue
                table = self.tables.get(tbl)
                if table is None:
                    raise AdapterError(f"journal names table {tbl!r}, which no longer exists; use mode=backup")
                t = qi(tbl)
                if op in ("I", "U"):
                    conn.execute(f"DELETE FROM {t} WHERE rowid = ?", (new_rid,))
                if op in ("U", "D"):
                    cols = ", ".join(["rowid", *map(qi, table.columns)])
                    # vals was built by quote() inside our trigger: exact SQL literals
                    conn.execute(f"INSERT INTO {t} ({cols}) VALUES (?{', ' + vals if table.columns else ''})", (rid,))
                touched.add(tbl)
            # What our own writes journalled goes too; user triggers that fired during the restore may
            # have written other tables: those must be hashed again, or a leak would look restored.
            touched |= {r[0] for r in conn.execute(f"SELECT DISTINCT tbl FROM {JOURNAL} WHERE id > ?", (hwm,))}
            conn.execute(f"DELETE FROM {JOURNAL} WHERE id > ?", (hwm,))
            if sequences is not None:
                put_sequences(conn, dict(sequences))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if self._dirty is not None:
            self._dirty |= touched
        # The journal's ids above hwm are free again and the next writes reuse them: the fingerprint
        # must read them as new, or a write after a restore would leave it unchanged.
        self._fp_hwm = min(self._fp_hwm, hwm)
        return len(entries)

    def fingerprint(self) -> str:
        hwm = self._hwm()
        if self._dirty is None:
            dirty = set(self.tables)
        else:
            dirty = self._dirty | {r[0] for r in self.conn.execute(
                f"SELECT DISTINCT tbl FROM {JOURNAL} WHERE id > ? AND id <= ?", (self._fp_hwm, hwm))}
        self._hashes.update(self._hash_tables(n for n in dirty if n in self.tables))
        for gone in [n for n in self._hashes if n not in self.tables]:
            del self._hashes[gone]
        self._dirty, self._fp_hwm = set(), hwm
        return combine(self._hashes)


class SQLiteBackupAdapter(SQLiteBase):
    """Snapshots through the backup API; the baseline also goes to ``<db>.venom-baseline`` for recovery."""

    restores_across_branches = True
    label = "SQLite backup mode"

    def __init__(self, url: str, **options) -> None:
        super().__init__(url, **options)
        self.baseline_file = self.path.with_name(self.path.name + ".venom-baseline")
        self._snapshots: dict[int, sqlite3.Connection] = {}

    def install(self) -> None:
        if self.baseline_file.exists():
            self.recover()
            self.notes.append(f"restored the baseline left by a killed run from {self.baseline_file}")
        with sqlite3.connect(self.baseline_file) as target:
            self.conn.backup(target)
        target.close()
        self._lineage.reset()
        self.baseline = self.checkpoint()

    def recover(self) -> int:
        if not self.baseline_file.exists():
            return 0
        source = sqlite3.connect(self.baseline_file)
        try:
            source.backup(self.conn)
        finally:
            source.close()
        return 1

    def pending_changes(self) -> int:
        return 1 if self.baseline_file.exists() else 0

    def checkpoint(self) -> Checkpoint:
        snapshot = sqlite3.connect(":memory:")
        self.conn.backup(snapshot)
        cp_id = self._lineage.new_id()
        self._snapshots[cp_id] = snapshot
        return Checkpoint(self.url, (cp_id,))

    def can_restore(self, token: Checkpoint) -> bool:
        return token.adapter == self.url and token.value[0] in self._snapshots

    def restore(self, token: Checkpoint) -> None:
        self.kept_for(token, self._snapshots).backup(self.conn)

    def release(self, token: Checkpoint) -> None:
        """Free the memory of a checkpoint the explorer will not come back to."""
        snapshot = self._snapshots.pop(token.value[0], None)
        if snapshot is not None:
            snapshot.close()

    def fingerprint(self) -> str:
        return combine(self._hash_tables(user_tables(self.conn)))

    def uninstall(self) -> None:
        for snapshot in self._snapshots.values():
            snapshot.close()
        self._snapshots.clear()
        self.baseline_file.unlink(missing_ok=True)
        self.baseline = None

    def close(self) -> None:
        for snapshot in self._snapshots.values():
            snapshot.close()
        self._snapshots.clear()
        super().close()
