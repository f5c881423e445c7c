"""MySQL / MariaDB rollback through generated triggers and an undo journal.

MariaDB has no generic row triggers, so install() reads information_schema and generates three
triggers per table (``venom_replay_<table>_i/_u/_d``) that append the row images as a JSON array
(see mysql_table) to ``venom_replay_journal``. Our own restore writes set ``@venom_replay_off`` so
the triggers skip them.

- Foreign-key cascades fire no trigger: tables referenced by a cascading key also get BEFORE
  DELETE / BEFORE UPDATE triggers that journal every row the cascade is about to delete or set,
  through whole chains, trees and cycles (mysql_cascade).
- TRUNCATE TABLE fires no trigger: we see it as a new InnoDB TABLE_ID (needs the PROCESS
  privilege) and rebuild the table from a copy plus its journal entries (mysql_truncate). Copies:
  every table at install (its cost is reported in ``notes``), and a truncated table's content when
  a checkpoint sees the truncate. ``?truncate=refuse`` makes no copies and raises AdapterError
  when a table was truncated instead.
- checkpoint() = journal high-water mark + every AUTO_INCREMENT counter + each table's identity
  (one cheap round trip, mysql_state) + which copy each table builds on.
- restore() = read the newer entries, send every undo statement (and the rebuild of truncated
  tables) in ONE multi-statement round trip inside a transaction with FOREIGN_KEY_CHECKS=0 (which
  also keeps InnoDB from cascading our own writes), delete the entries, then put back the
  AUTO_INCREMENT counters that moved. (A stored procedure would need dynamic SQL per row through
  PREPARE/EXECUTE, which measured slower than one batched round trip.)
- Undo only: restoring to a checkpoint that is not an ancestor raises CannotRestore.
- Tables without a primary key: rows are matched by full content (``<=>`` on every column, LIMIT 1).
- Not reached: a truncate of a table that is not InnoDB (noted at install), cascades from or into
  another database (noted), and schema changes (columns are fixed at install).
- export_content() / import_content(): a recording's start state (mysql_content), imported through
  ordinary writes that the row triggers journal.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pymysql

from venom_replay.adapters.base import Adapter, AdapterError, Checkpoint, ConnectionLost, ContentPart, ContentStats
from venom_replay.adapters.content_hash import MASK64, combine, volatile_for
from venom_replay.adapters.lineage import Lineage
from venom_replay.adapters.mysql.cascade import CascadeTriggers, load_foreign_keys
from venom_replay.adapters.mysql.content import export_tables, import_tables
from venom_replay.adapters.mysql.state import State, StateReader
from venom_replay.adapters.mysql.table import (
    JOURNAL,
    META,
    Table,
    connect,
    ident,
    load_tables,
    parse_image,
    trigger_name,
)
from venom_replay.adapters.mysql.truncate import TableCopies

__all__ = ["MySQLJournalAdapter", "connect"]

NEEDED_PRIVILEGES = ("TRIGGER", "CREATE", "DROP", "ALTER", "SELECT", "INSERT", "UPDATE", "DELETE")
TRUNCATE_MODES = ("restore", "refuse")
CASCADE_SUFFIX = {"DELETE": "cd", "UPDATE": "cu"}
ER_SPECIFIC_ACCESS_DENIED = 1227


def _truncate_option(url: str) -> tuple[str, str | None]:
    """The URL without ``truncate=...`` in its query, and that value (registry leaves it there)."""
    base, _, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    value = next((v for k, v in pairs if k == "truncate"), None)
    rest = "&".join(f"{k}={v}" for k, v in pairs if k != "truncate")
    return base + ("?" + rest if rest else ""), value


class MySQLJournalAdapter(Adapter):
    restores_across_branches = False
    label = "MariaDB/MySQL journal mode"

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), lock_wait_timeout: int = 10,
                 reset_auto_increment: bool = True, truncate: str | None = None) -> None:
        url, from_url = _truncate_option(url)
        truncate = (truncate or from_url or "restore").lower()
        if truncate not in TRUNCATE_MODES:
            raise AdapterError(f"unknown truncate option {truncate!r} for MariaDB/MySQL: choose restore (default,"
                               " keeps copies so TRUNCATE TABLE is undone) or refuse (no copies; error on a truncate)")
        super().__init__(url, volatile_columns=volatile_columns)
        self.truncate = truncate
        self.lock_wait_timeout = lock_wait_timeout
        # ALTER TABLE ... AUTO_INCREMENT is most of a restore's cost on InnoDB; without it a replayed
        # branch gets different ids than the first time (content is still restored exactly).
        self.reset_auto_increment = reset_auto_increment
        self._conn: pymysql.connections.Connection | None = None
        self._lineage = Lineage(url)
        self.tables: dict[str, Table] = {}
        self.baseline: Checkpoint | None = None
        self.copies = TableCopies(self._query)
        self.reader = StateReader(self._query)
        self._ident: dict[str, str] = {}     # each table's identity when we last looked
        self._hashes: dict[str, int] = {}
        self._dirty: set[str] | None = None  # None: every table must be hashed
        self._fp_hwm = 0
        self._fp_ident: dict[str, str] = {}

    @property
    def conn(self) -> pymysql.connections.Connection:
        if self._conn is None or not self._conn.open:
            self._conn = connect(self.url)
            self._query(f"SET SESSION lock_wait_timeout = {int(self.lock_wait_timeout)}")
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._conn.open:
            self._conn.close()
        self._conn = None

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """A call whose connection went away: the server rolled back what it had not committed (a
        restore is one transaction with its journal deletion, so the journal still tells the truth),
        but our bookkeeping may lag behind what it did commit: every table is hashed again at the next
        fingerprint, and the error is ConnectionLost (the next access of ``conn`` opens a new one)."""
        try:
            yield
        except Exception as exc:
            if isinstance(exc, ConnectionLost) or self._conn is None or self._conn.open:
                raise
            self._dirty = None
            cause = exc if isinstance(exc, pymysql.err.MySQLError) else exc.__cause__ or exc
            reason = str(cause.args[-1]) if cause.args else type(cause).__name__
            raise ConnectionLost(self.shown_url, reason) from exc

    def _query(self, sql: str, args: Any = None) -> list[tuple]:
        return self._query_sets(sql, args)[0]

    def _query_sets(self, sql: str, args: Any = None) -> list[list[tuple]]:
        """The rows of each statement in ``sql`` (several go in one round trip)."""
        out = []
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                while True:
                    out.append(list(cur.fetchall()) if cur.description else [])
                    if not cur.nextset():
                        return out
        except pymysql.err.OperationalError as exc:
            if exc.args[0] == ER_SPECIFIC_ACCESS_DENIED:  # InnoDB's dictionary tables need PROCESS
                raise AdapterError(f"MariaDB/MySQL: {exc.args[-1]} (PROCESS lets venom-replay see TRUNCATE TABLE"
                                   " through InnoDB's table ids): GRANT PROCESS ON *.* TO <user>") from exc
            raise

    def _installed(self) -> bool:
        return bool(self._query("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                                " AND TABLE_NAME = %s", (META,)))

    # -- permissions --------------------------------------------------------------------------------

    def check_permissions(self) -> None:
        user = self._query("SELECT CURRENT_USER()")[0][0]
        name, _, host = user.rpartition("@")
        grantee = f"'{name}'@'{host}'"
        have = {r[0] for r in self._query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s UNION "
            "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s"
            " AND TABLE_SCHEMA = DATABASE()", (grantee, grantee))}
        global_have = {r[0] for r in self._query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s", (grantee,))}
        database = self.conn.db.decode() if isinstance(self.conn.db, bytes) else self.conn.db
        for privilege in NEEDED_PRIVILEGES:
            if privilege not in have:
                raise AdapterError(
                    f"MariaDB/MySQL user {user} lacks the {privilege} privilege on database {database!r}"
                    f" (needed to install and replay the undo journal): GRANT {privilege} ON `{database}`.* TO {grantee}")
        if "PROCESS" not in global_have:
            raise AdapterError(
                f"MariaDB/MySQL user {user} lacks the PROCESS privilege (needed to see TRUNCATE TABLE through"
                f" InnoDB's table ids, which TRUNCATE changes without firing a trigger): GRANT PROCESS ON *.* TO {grantee}")

    # -- install / uninstall ------------------------------------------------------------------------

    def _load_tables(self) -> dict[str, Table]:
        tables = load_tables(self._query)
        self.reader.load_names(tables)
        return tables

    def _create_journal(self) -> None:
        self._query(f"CREATE TABLE {JOURNAL} (id BIGINT AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(64) NOT NULL,"
                    " op CHAR(1) NOT NULL, old LONGTEXT, new LONGTEXT) ENGINE=InnoDB")
        self._query(f"CREATE TABLE {META} (baseline_hwm BIGINT NOT NULL, baseline_counters LONGTEXT NOT NULL,"
                    " baseline_idents LONGTEXT NOT NULL,"
                    " installed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB")

    def install(self) -> None:
        self.check_permissions()
        self.recover_or_create(self._installed(), self._create_journal)
        self.copies.create_meta()
        self.copies.load()
        self._sync_triggers(report=False)
        for table in self.tables.values():
            if not table.innodb:
                self.notes.append(f"table {table.name} is not InnoDB: a TRUNCATE TABLE of it is not seen, and"
                                  " restores of it are not atomic")
        state = self.reader.read()
        self._base_copies(state)
        self._ident = dict(state.idents)
        self._query(f"DELETE FROM {META}")
        self._query(f"INSERT INTO {META} (baseline_hwm, baseline_counters, baseline_idents) VALUES (%s, %s, %s)",
                    (state.hwm, json.dumps(state.counters), json.dumps(state.idents)))
        self._lineage.reset()
        self._dirty = None
        self.baseline = self.checkpoint()

    def _base_copies(self, state: State) -> None:
        """A copy of every table that lacks one, so that a truncate can be undone (restore mode)."""
        if self.truncate == "refuse":
            self.copies.drop_except(set())
            return
        base = self.copies.base()
        missing = [t for name, t in self.tables.items() if name not in base and t.innodb]
        if not missing:
            return
        started = time.perf_counter()
        rows = sum(self.copies.make(t, state.hwm, 0)[1] for t in missing)
        self.notes.append(f"copied {len(missing)} table(s) ({rows} rows) in {time.perf_counter() - started:.2f} s,"
                          " so that TRUNCATE TABLE can be undone (?truncate=refuse skips the copies)")

    def _existing_triggers(self) -> set[str]:
        return {r[0] for r in self._query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                                          " WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'venom\\_replay\\_%'")}

    def _sync_triggers(self, *, report: bool) -> None:
        """Generate the three row triggers for every table that lacks them; on install and when
        tables came or went, the cascade triggers again (the foreign keys may have changed)."""
        existing = self._existing_triggers()
        before = set(self.tables)
        self.tables = self._load_tables()
        new = []
        for table in self.tables.values():
            if trigger_name(table.name, "i") in existing:
                continue
            new.append(table.name)
            guard = f"IF @venom_replay_off IS NULL THEN INSERT INTO {JOURNAL} (tbl, op, old, new) VALUES"
            t = ident(table.name)
            for suffix, event, values in (
                    ("i", "INSERT", f"({self.conn.escape(table.name)}, 'I', NULL, {table.image_sql('NEW')})"),
                    ("u", "UPDATE", f"({self.conn.escape(table.name)}, 'U', {table.image_sql('OLD')}, {table.image_sql('NEW')})"),
                    ("d", "DELETE", f"({self.conn.escape(table.name)}, 'D', {table.image_sql('OLD')}, NULL)")):
                self._query(f"CREATE TRIGGER {ident(trigger_name(table.name, suffix))} AFTER {event} ON {t}"
                            f" FOR EACH ROW {guard} {values}; END IF")
        if new or not report or before != set(self.tables):
            self._sync_cascade_triggers(existing, report=report)
        if report and new:
            self.notes.append(f"tables created after install, journalled from now on: {', '.join(new)}"
                              " (their creation is not undone)")
            self._dirty = None

    def _sync_cascade_triggers(self, existing: set[str], *, report: bool) -> None:
        fks, notes = load_foreign_keys(self._query)
        if not report:
            self.notes += notes
        for name in existing:  # row triggers end in _i/_u/_d, cascade ones in _cd/_cu
            if name.endswith(tuple(f"_{suffix}" for suffix in CASCADE_SUFFIX.values())):
                self._query(f"DROP TRIGGER IF EXISTS {ident(name)}")
        cascades = CascadeTriggers(self.tables, fks, JOURNAL, self.conn.escape)
        for (table, event), body in cascades.bodies().items():
            try:
                self._query(cascades.trigger_sql(trigger_name(table, CASCADE_SUFFIX[event]), table, event, body))
            except pymysql.err.MySQLError as exc:
                raise AdapterError(f"cannot create the trigger that journals foreign-key cascades from table"
                                   f" {table!r}: {exc.args[-1]} (venom-replay db uninstall removes what was installed)") from exc

    def uninstall(self) -> None:
        for name in self._existing_triggers():
            self._query(f"DROP TRIGGER IF EXISTS {ident(name)}")
        self._query(f"DROP TABLE IF EXISTS {JOURNAL}, {META}")
        self.copies.drop_all()
        self._lineage.reset()
        self.baseline = None

    def pending_changes(self) -> int:
        if not self._installed():
            return 0
        entries = self._query(f"SELECT COUNT(*) FROM {JOURNAL} j, {META} m WHERE j.id > m.baseline_hwm")[0][0]
        meta = self._meta()
        if meta is None:
            return entries
        self.tables = self._load_tables()
        idents = self.reader.read().idents
        return entries + sum(idents.get(t, "") != i for t, i in meta["idents"].items() if t in self.tables)

    def _meta(self) -> dict[str, Any] | None:
        with self.conn.cursor(pymysql.cursors.DictCursor) as cur:  # by name: older installs lack columns
            cur.execute(f"SELECT * FROM {META}")
            row = cur.fetchone()
        if row is None:
            return None
        return {"hwm": int(row["baseline_hwm"]), "counters": json.loads(row["baseline_counters"]),
                "idents": json.loads(row.get("baseline_idents") or "{}")}

    def recover(self) -> int:
        if not self._installed():
            return 0
        meta = self._meta()
        if meta is None:
            return 0
        self.tables = self._load_tables()
        self.copies.create_meta()
        self.copies.load()
        # the baseline is each table's install copy plus nothing; a table whose identity is not the
        # one at install was truncated (and maybe rebuilt since, which keeps the new identity)
        base = self.copies.base()
        self.copies.current = dict(base)
        self._ident = {t: i for t, i in meta["idents"].items() if t in self.tables}
        undone = self._undo(meta["hwm"], meta["counters"], base)
        self._query(f"UPDATE {META} SET baseline_idents = %s",
                    (json.dumps({t: self._ident.get(t, "") for t in meta["idents"]}),))
        self.copies.drop_after(0)
        self._dirty = None
        return undone

    # -- checkpoint / restore -----------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        with self._guard():
            return self._checkpoint()

    def _checkpoint(self) -> Checkpoint:
        state = self.reader.read()
        cp = self._lineage.new_id()
        if state.new_tables or state.idents != self._ident:
            state = self._notice_changes(state, cp)
        gens = tuple(sorted(self.copies.current.items()))
        return Checkpoint(self.url, (cp, state.hwm, tuple(sorted(state.counters.items())), gens))

    def _notice_changes(self, state: State, cp: int) -> State:
        """Tables created, dropped, truncated (or rebuilt by OPTIMIZE) since we last looked."""
        vanished = self._ident.keys() - state.idents.keys()
        if state.new_tables or vanished or any(state.idents[t] != i for t, i in self._ident.items() if t in state.idents):
            self._sync_triggers(report=True)  # a table dropped and created again lost its triggers
            state = self.reader.read()
        for name in vanished:
            del self._ident[name]
        for name, now in state.idents.items():
            if self._ident.get(name) == now:
                continue
            if name in self._ident:
                self._refuse_truncate(name)
                if self._dirty is not None:
                    self._dirty.add(name)
            if self.truncate == "restore":  # also a table's first copy
                self.copies.make(self.tables[name], state.hwm, cp)
            self._ident[name] = now
        return state

    def _refuse_truncate(self, table: str) -> None:
        if self.truncate == "refuse":
            raise AdapterError(f"table {table!r} was truncated (TRUNCATE TABLE) during the run; with"
                               " ?truncate=refuse there is no copy to restore it from (drop the option to keep copies)")

    def can_restore(self, token: Checkpoint) -> bool:
        return self._lineage.reachable(token)

    def restore(self, token: Checkpoint) -> None:
        self._lineage.check(token)
        cp, hwm, counters, gens = token.value
        with self._guard():
            self._undo(hwm, dict(counters), dict(gens))
        self._lineage.rewind_to(token)
        for orphan in self.copies.drop_after(cp):
            self._ident.pop(orphan, None)  # first copied after this checkpoint: copy again at the next

    def _undo(self, hwm: int, counters: dict[str, int], gens: dict[str, int]) -> int:
        conn = self.conn
        # two result sets in one round trip (a UNION would sort the images)
        entries, stats = self._query_sets(f"SELECT tbl, op, old, new FROM {JOURNAL} WHERE id > %s ORDER BY id DESC;"
                                          f" {StateReader.STATS_SQL}", (hwm, self.reader.like))
        self._check_cascades_journalled(entries)
        state = self.reader.from_stats(stats) or self.reader.slow()
        rebuild = self._to_rebuild(state.idents, gens)
        statements = []
        for table, gen in rebuild.items():
            statements += self.copies.rebuild_sql(self.tables[table], gen)
            statements += self._redo_sql(table, self.copies.by_gen[gen].hwm, hwm)
        for tbl, op, old, new in entries:
            table = self.tables.get(tbl)
            if table is None:
                raise AdapterError(f"journal names table {tbl!r}, which no longer exists; use a full reset")
            if tbl not in rebuild:
                statements.append(table.undo(conn, op, parse_image(old), parse_image(new)))
        batch = ["SET @venom_replay_off = 1, FOREIGN_KEY_CHECKS = 0", "START TRANSACTION", *statements,
                 f"DELETE FROM {JOURNAL} WHERE id > {int(hwm)}", "COMMIT",
                 "SET @venom_replay_off = NULL, FOREIGN_KEY_CHECKS = 1"]
        try:
            with conn.cursor() as cur:
                cur.execute(";\n".join(batch))
                while cur.nextset():
                    pass
        except pymysql.err.MySQLError as exc:
            if conn.open:  # a lost connection's transaction was rolled back by the server
                conn.rollback()
                self._query("SET @venom_replay_off = NULL, FOREIGN_KEY_CHECKS = 1")
            raise AdapterError(f"restore failed: {exc.args[-1]}") from exc
        self.copies.current.update(gens)
        self._ident.update(state.idents)  # a rebuild keeps the table's new identity
        if rebuild:
            self._sync_triggers(report=True)  # in case one was dropped and created again
        if self.reset_auto_increment:
            self._reset_counters(counters, state.counters, rebuild.keys())
        if self._dirty is not None:
            self._dirty |= {e[0] for e in entries} | rebuild.keys()
        return len(entries) + len(rebuild)

    @staticmethod
    def _check_cascades_journalled(entries: Iterable[tuple]) -> None:
        failed = sorted({e[0] for e in entries if e[1] == "!"})
        if failed:
            raise AdapterError(f"the journal of foreign-key cascades from table(s) {', '.join(failed)} failed during"
                               " the run (a venom-replay bug, please report it): restoring would not be exact")

    def _to_rebuild(self, idents: dict[str, str], gens: dict[str, int]) -> dict[str, int]:
        """{table: copy to rebuild it from} for the tables truncated after the target checkpoint."""
        out = {}
        for table in self.tables:
            truncated = table in self._ident and idents.get(table) != self._ident[table]
            if truncated:
                self._refuse_truncate(table)
            gen = gens.get(table)
            if gen is not None and (truncated or gen != self.copies.current.get(table)):
                out[table] = gen
        return out

    def _redo_sql(self, table: str, after: int, upto: int) -> list[str]:
        """The entries (after, upto] of ``table``, made again in order on top of its copy."""
        t = self.tables[table]
        rows = self._query(f"SELECT op, old, new FROM {JOURNAL} WHERE tbl = %s AND id > %s AND id <= %s ORDER BY id",
                           (table, after, upto))
        self._check_cascades_journalled((table, op) for op, _, _ in rows)
        return [t.redo(self.conn, op, parse_image(old), parse_image(new)) for op, old, new in rows]

    def _reset_counters(self, counters: dict[str, int], before: dict[str, int], rebuilt: Iterable[str]) -> None:
        """Put back the counters that moved, as read before the undo: undo only puts back ids that
        existed earlier, all below the counter, so it cannot move one; a rebuilt table's it can."""
        for table, value in counters.items():
            if before.get(table, value) != value or table in rebuilt:
                self._query(f"ALTER TABLE {ident(table)} AUTO_INCREMENT = {int(value)}")

    # -- a recording's start state -------------------------------------------------------------------

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        """Read on a connection of its own (a consistent snapshot), then closed."""
        conn = connect(self.url)
        try:
            def query(sql: str, args: Any = None) -> list[tuple]:
                with conn.cursor() as cur:
                    cur.execute(sql, args)
                    return list(cur.fetchall()) if cur.description else []

            return export_tables(conn, query, write)
        finally:
            conn.close()

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        """Ordinary writes on our connection (@venom_replay_off unset): our row triggers journal them."""
        with self._guard():
            stats = import_tables(self.conn, self._query, parts, self.notes)
        return self.imported(stats)

    # -- fingerprint ---------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        with self._guard():
            return self._fingerprint()

    def _fingerprint(self) -> str:
        state = self.reader.read()
        hwm, idents = state.hwm, state.idents
        if self._dirty is None:
            dirty = set(self.tables)
        else:
            truncated = set() if idents == self._fp_ident else {
                t for t in self.tables if idents.get(t) != self._fp_ident.get(t)}
            dirty = self._dirty | truncated | {r[0] for r in self._query(
                f"SELECT DISTINCT tbl FROM {JOURNAL} WHERE id > %s AND id <= %s", (self._fp_hwm, hwm))}
        for name in dirty:
            table = self.tables.get(name)
            if table is None:
                self._hashes.pop(name, None)
                continue
            kept = [(c, k) for c, k in zip(table.columns, table.image_kinds)
                    if c not in volatile_for(name, self.volatile_columns)]
            image = Table(name, [c for c, _ in kept], [k for _, k in kept], []).image_sql(ident(name))
            total = self._query(f"SELECT COALESCE(SUM(CAST(CONV(LEFT(MD5({image}), 16), 16, 10) AS UNSIGNED)), 0)"
                                f" FROM {ident(name)}")[0][0]
            self._hashes[name] = int(total) & MASK64
        self._dirty, self._fp_hwm, self._fp_ident = set(), hwm, idents
        return combine(self._hashes)
