"""MySQL / MariaDB rollback through generated triggers and an undo journal.

MariaDB has no generic row triggers, so install() reads information_schema and generates three
triggers per table (``venom_replay_<table>_i/_u/_d``) that append the row images as a JSON array
(column order fixed at install; binary columns as HEX, BIT as a number) to
``venom_replay_journal``. Our own restore writes set ``@venom_replay_off`` so the triggers skip them.

- checkpoint() = journal high-water mark + every AUTO_INCREMENT counter (one round trip).
- restore() = read the newer entries, send every undo statement in ONE multi-statement round trip
  inside a transaction with FOREIGN_KEY_CHECKS=0, delete the entries, then put back the
  AUTO_INCREMENT counters that moved. (A stored procedure would need dynamic SQL per row through
  PREPARE/EXECUTE, which measured slower than one batched round trip.)
- Undo only: restoring to a checkpoint that is not an ancestor raises CannotRestore.
- Tables without a primary key: rows are matched by full content (``<=>`` on every column, LIMIT 1).
- Known gaps, reported in ``notes`` at install: TRUNCATE TABLE and cascading foreign-key actions
  do not fire triggers in MariaDB/MySQL, so their effects are not journalled.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
from pymysql.constants import CLIENT

from .base import Adapter, AdapterError, Checkpoint
from .content_hash import MASK64, combine, volatile_for
from .lineage import Lineage
from .postgres import redact_url

JOURNAL = "venom_replay_journal"
META = "venom_replay_meta"
OUR_TABLES = (JOURNAL, META)
HEX_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point",
             "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}
NEEDED_PRIVILEGES = ("TRIGGER", "CREATE", "DROP", "ALTER", "SELECT", "INSERT", "UPDATE", "DELETE")
_HEX = re.compile(r"^[0-9A-Fa-f]*$")


def connect(url: str) -> pymysql.connections.Connection:
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if not database:
        raise AdapterError(f"no database name in {redact_url(url)} (expected mysql://user@host:port/dbname)")
    try:
        return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                               user=unquote(parts.username or "root"), password=unquote(parts.password or ""),
                               database=unquote(database), autocommit=True, charset="utf8mb4",
                               client_flag=CLIENT.MULTI_STATEMENTS, connect_timeout=10)
    except pymysql.err.OperationalError as exc:
        raise AdapterError(f"cannot connect to {redact_url(url)}: {exc.args[-1]}") from exc


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def trigger_name(table: str, suffix: str) -> str:
    name = f"venom_replay_{table}_{suffix}"
    if len(name) > 64:  # MariaDB identifier limit: keep it unique with a checksum
        name = f"venom_replay_{table[:36]}_{zlib.crc32(table.encode()):08x}_{suffix}"
    return name


@dataclass
class Table:
    name: str
    columns: list[str]          # written columns (generated ones left out), image order
    image_kinds: list[str]      # per column: "hex", "bit", "text" or "plain"
    pk: list[str]

    def image_sql(self, row: str) -> str:
        parts = []
        for column, kind in zip(self.columns, self.image_kinds):
            ref = f"{row}.{ident(column)}"
            parts.append({"hex": f"HEX({ref})", "bit": f"CAST({ref} AS UNSIGNED)",
                          "text": f"CONCAT({ref})"}.get(kind, ref))
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


class MySQLJournalAdapter(Adapter):
    restores_across_branches = False

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), lock_wait_timeout: int = 10,
                 reset_auto_increment: bool = True) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        self.lock_wait_timeout = lock_wait_timeout
        # ALTER TABLE ... AUTO_INCREMENT is most of a restore's cost on InnoDB; without it a replayed
        # branch gets different ids than the first time (content is still restored exactly).
        self.reset_auto_increment = reset_auto_increment
        self._conn: pymysql.connections.Connection | None = None
        self._lineage = Lineage(url)
        self.tables: dict[str, Table] = {}
        self.baseline: Checkpoint | None = None
        self._hashes: dict[str, int] = {}
        self._dirty: set[str] | None = None  # None: every table must be hashed
        self._fp_hwm = 0

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

    def _query(self, sql: str, args: Any = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

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
        database = self.conn.db.decode() if isinstance(self.conn.db, bytes) else self.conn.db
        for privilege in NEEDED_PRIVILEGES:
            if privilege not in have:
                raise AdapterError(
                    f"MariaDB/MySQL user {user} lacks the {privilege} privilege on database {database!r}"
                    f" (needed to install and replay the undo journal): GRANT {privilege} ON `{database}`.* TO {grantee}")

    # -- install / uninstall ------------------------------------------------------------------------

    def _load_tables(self) -> dict[str, Table]:
        rows = self._query(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.EXTRA FROM information_schema.COLUMNS c"
            " JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME"
            " WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'"
            " ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION")
        pks: dict[str, list[str]] = {}
        for table, column in self._query(
                "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
                " AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX"):
            pks.setdefault(table, []).append(column)
        tables: dict[str, Table] = {}
        for table, column, data_type, extra in rows:
            if table in OUR_TABLES:
                continue
            entry = tables.setdefault(table, Table(table, [], [], pks.get(table, [])))
            if "GENERATED" in (extra or "").upper():
                continue
            kind = ("hex" if data_type in HEX_TYPES else "bit" if data_type == "bit"
                    else "text" if data_type == "longtext" else "plain")  # JSON columns are longtext
            entry.columns.append(column)
            entry.image_kinds.append(kind)
        return tables

    def install(self) -> None:
        self.check_permissions()
        if self._installed():
            undone = self.recover()
            if undone:
                self.notes.append(f"restored the baseline left by a killed run ({undone} changes undone)")
        else:
            self._query(f"CREATE TABLE {JOURNAL} (id BIGINT AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(64) NOT NULL,"
                        " op CHAR(1) NOT NULL, old LONGTEXT, new LONGTEXT) ENGINE=InnoDB")
            self._query(f"CREATE TABLE {META} (baseline_hwm BIGINT NOT NULL, baseline_counters LONGTEXT NOT NULL,"
                        " installed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB")
        self._sync_triggers(report=False)
        self._report_gaps()
        hwm, counters, _ = self._state()
        self._query(f"DELETE FROM {META}")
        self._query(f"INSERT INTO {META} (baseline_hwm, baseline_counters) VALUES (%s, %s)",
                    (hwm, json.dumps(counters)))
        self._lineage.reset()
        self._dirty = None
        self.baseline = self.checkpoint()

    def _existing_triggers(self) -> set[str]:
        return {r[0] for r in self._query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                                          " WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'venom\\_replay\\_%'")}

    def _sync_triggers(self, *, report: bool) -> None:
        """Generate the three triggers for every table that lacks them."""
        existing = self._existing_triggers()
        self.tables = self._load_tables()
        new = []
        for table in self.tables.values():
            if trigger_name(table.name, "i") in existing:
                continue
            new.append(table.name)
            guard = "IF @venom_replay_off IS NULL THEN INSERT INTO venom_replay_journal (tbl, op, old, new) VALUES"
            t = ident(table.name)
            for suffix, event, values in (
                    ("i", "INSERT", f"({self.conn.escape(table.name)}, 'I', NULL, {table.image_sql('NEW')})"),
                    ("u", "UPDATE", f"({self.conn.escape(table.name)}, 'U', {table.image_sql('OLD')}, {table.image_sql('NEW')})"),
                    ("d", "DELETE", f"({self.conn.escape(table.name)}, 'D', {table.image_sql('OLD')}, NULL)")):
                self._query(f"CREATE TRIGGER {ident(trigger_name(table.name, suffix))} AFTER {event} ON {t}"
                            f" FOR EACH ROW {guard} {values}; END IF")
        if report and new:
            self.notes.append(f"tables created after install, journalled from now on: {', '.join(new)}"
                              " (their creation is not undone)")
            self._dirty = None

    def _report_gaps(self) -> None:
        cascades = self._query(
            "SELECT TABLE_NAME, REFERENCED_TABLE_NAME, DELETE_RULE, UPDATE_RULE FROM"
            " information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
            " AND (DELETE_RULE <> 'RESTRICT' AND DELETE_RULE <> 'NO ACTION'"
            "      OR UPDATE_RULE <> 'RESTRICT' AND UPDATE_RULE <> 'NO ACTION')")
        for child, parent, on_delete, on_update in cascades:
            self.notes.append(f"foreign key {child} -> {parent} (ON DELETE {on_delete}, ON UPDATE {on_update}):"
                              " MariaDB/MySQL do not fire triggers for cascaded changes, so rows changed by"
                              " the cascade are not restored")

    def uninstall(self) -> None:
        for name in self._existing_triggers():
            self._query(f"DROP TRIGGER IF EXISTS {ident(name)}")
        self._query(f"DROP TABLE IF EXISTS {JOURNAL}, {META}")
        self._lineage.reset()
        self.baseline = None

    def pending_changes(self) -> int:
        if not self._installed():
            return 0
        return self._query(f"SELECT COUNT(*) FROM {JOURNAL} j, {META} m WHERE j.id > m.baseline_hwm")[0][0]

    def recover(self) -> int:
        if not self._installed():
            return 0
        rows = self._query(f"SELECT baseline_hwm, baseline_counters FROM {META}")
        if not rows:
            return 0
        self.tables = self._load_tables()
        undone = self._undo(rows[0][0], json.loads(rows[0][1]))
        self._dirty = None
        return undone

    # -- checkpoint / restore -----------------------------------------------------------------------

    def _state(self) -> tuple[int, dict[str, int], set[str]]:
        rows = self._query(
            f"SELECT '', (SELECT COALESCE(MAX(id), 0) FROM {JOURNAL}) UNION ALL"
            " SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'")
        hwm = next(int(v) for name, v in rows if name == "")
        counters = {name: int(v) for name, v in rows if name and v is not None and name not in OUR_TABLES}
        names = {name for name, _ in rows if name and name not in OUR_TABLES}
        return hwm, counters, names

    def checkpoint(self) -> Checkpoint:
        hwm, counters, names = self._state()
        if names - self.tables.keys():
            self._sync_triggers(report=True)
        return Checkpoint(self.url, (self._lineage.new_id(), hwm, tuple(sorted(counters.items()))))

    def can_restore(self, token: Checkpoint) -> bool:
        return self._lineage.reachable(token)

    def restore(self, token: Checkpoint) -> None:
        self._lineage.check(token)
        _, hwm, counters = token.value
        self._undo(hwm, dict(counters))
        self._lineage.rewind_to(token)

    def _undo(self, hwm: int, counters: dict[str, int]) -> int:
        conn = self.conn
        entries = self._query(f"SELECT tbl, op, old, new FROM {JOURNAL} WHERE id > %s ORDER BY id DESC", (hwm,))
        statements = []
        touched: set[str] = set()
        for tbl, op, old, new in entries:
            table = self.tables.get(tbl)
            if table is None:
                raise AdapterError(f"journal names table {tbl!r}, which no longer exists; use a full reset")
            t = ident(tbl)
            old_image = json.loads(old, parse_float=Decimal) if old is not None else None
            new_image = json.loads(new, parse_float=Decimal) if new is not None else None
            if op == "I":
                statements.append(f"DELETE FROM {t} WHERE {table.where(conn, new_image)}")
            elif op == "D":
                statements.append(f"INSERT INTO {t} ({', '.join(map(ident, table.columns))})"
                                  f" VALUES ({', '.join(table.literals(conn, old_image))})")
            else:
                assignments = ", ".join(f"{ident(c)} = {v}" for c, v in
                                        zip(table.columns, table.literals(conn, old_image)))
                statements.append(f"UPDATE {t} SET {assignments} WHERE {table.where(conn, new_image)}")
            touched.add(tbl)
        batch = ["SET @venom_replay_off = 1, FOREIGN_KEY_CHECKS = 0", "START TRANSACTION", *statements,
                 f"DELETE FROM {JOURNAL} WHERE id > {int(hwm)}", "COMMIT",
                 "SET @venom_replay_off = NULL, FOREIGN_KEY_CHECKS = 1"]
        try:
            with conn.cursor() as cur:
                cur.execute(";\n".join(batch))
                while cur.nextset():
                    pass
        except pymysql.err.MySQLError as exc:
            conn.rollback()
            self._query("SET @venom_replay_off = NULL, FOREIGN_KEY_CHECKS = 1")
            raise AdapterError(f"restore failed: {exc.args[-1]}") from exc
        if self.reset_auto_increment:
            self._reset_counters(counters)
        if self._dirty is not None:
            self._dirty |= touched
        return len(entries)

    def _reset_counters(self, counters: dict[str, int]) -> None:
        _, current, _ = self._state()
        for table, value in counters.items():
            if current.get(table, value) != value:
                self._query(f"ALTER TABLE {ident(table)} AUTO_INCREMENT = {int(value)}")

    # -- fingerprint ---------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        hwm = self._query(f"SELECT COALESCE(MAX(id), 0) FROM {JOURNAL}")[0][0]
        if self._dirty is None:
            dirty = set(self.tables)
        else:
            dirty = self._dirty | {r[0] for r in self._query(
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
        self._dirty, self._fp_hwm = set(), hwm
        return combine(self._hashes)
