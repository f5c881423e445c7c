"""PostgreSQL rollback through a trigger undo journal (the default mode).

Why a journal: the API under test commits on its own pooled connections, which no transaction or
savepoint of ours can undo. Row triggers on every user table write the old and new row images
(jsonb) into ``venom_replay.journal``; a BEFORE TRUNCATE statement trigger saves the whole table.

- checkpoint() = the journal's high-water mark + every sequence's value (one round trip).
- restore() = one call of ``venom_replay.restore``: newer entries undone newest first inside one
  transaction with ``SET LOCAL session_replication_role = replica`` (user triggers and FK checks
  off), the entries deleted, sequences reset. The API's connections are never terminated.
- Only checkpoints on the path to the present can be restored (undo, no redo): any other raises
  CannotRestore and the explorer re-executes the path.
- Tables without a primary key are handled: a row is identified by its full content (any one of
  identical rows is the same as any other).
- Tables created after install are found at the next checkpoint, tracked from then on, and reported
  in ``notes`` (their creation itself is not undone; use template mode for schema changes).
- fingerprint() keeps a per-table multiset hash (sum of row hashes mod 2^64) and folds in only the
  journal entries since the last call, so it costs what changed, not the database size.
- install() first restores a baseline left by a killed run (``venom_replay.meta`` marks it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from .base import Adapter, AdapterError, CannotRestore, Checkpoint
from .content_hash import MASK64, combine, volatile_for
from .lineage import Lineage
from .postgres_sql import INSTALL, PRIMARY_KEY, SCHEMA, TABLE_COLUMNS, USER_TABLES


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AdapterError(f"cannot connect to {redact_url(url)}: {first}") from exc


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}{':***' if ':' in creds else ''}@{host}"
    return url


def full_content_hash(conn: psycopg.Connection, volatile_columns: Iterable[str]) -> str:
    """fingerprint() without a journal: every user table hashed (multiset of row hashes)."""
    sums = {}
    for _, name, schema, table in conn.execute(USER_TABLES).fetchall():
        sums[name] = conn.execute(sql.SQL(
            "SELECT coalesce(sum(hashtextextended((to_jsonb(x.*) - %s::text[])::text, 0)::numeric), 0)"
            " FROM {} x").format(sql.Identifier(schema, table)),
            (volatile_for(table, volatile_columns, schema),)).fetchone()[0]
    return combine(sums)


def check_restore_rights(conn: psycopg.Connection, role_hint: str) -> None:
    """One clear line naming the missing grant, before we touch anything."""
    is_super, can_set = conn.execute(
        "SELECT rolsuper, has_parameter_privilege('session_replication_role', 'SET') FROM pg_roles"
        " WHERE rolname = current_user").fetchone()
    if is_super:
        return
    user = conn.info.user
    if not can_set:
        raise AdapterError(
            f"PostgreSQL role {user!r} may not SET session_replication_role (needed to restore with foreign"
            f" keys and triggers off): run `GRANT SET ON PARAMETER session_replication_role TO {user}` as a"
            f" superuser, or connect as a superuser{role_hint}")


class PostgresJournalAdapter(Adapter):
    restores_across_branches = False

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), lock_timeout_ms: int = 10_000) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        self.lock_timeout_ms = lock_timeout_ms
        self._conn: psycopg.Connection | None = None
        self._lineage = Lineage(url)
        self.baseline: Checkpoint | None = None
        self._names: dict[int, str] = {}      # relid -> qualified name of tracked tables
        self._sums: dict[int, int] | None = None  # relid -> multiset hash; None = not computed yet
        self._fp_hwm = 0

    # -- connection -----------------------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url)
            self._conn.execute(f"SET lock_timeout = {int(self.lock_timeout_ms)}")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _installed(self) -> bool:
        return self.conn.execute("SELECT to_regclass('venom_replay.meta') IS NOT NULL").fetchone()[0]

    # -- install / uninstall ----------------------------------------------------------------------

    def check_permissions(self) -> None:
        conn = self.conn
        check_restore_rights(conn, "")
        user = conn.info.user
        is_super = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        if is_super:
            return
        if not self._installed() and not conn.execute(
                "SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()[0]:
            db = conn.info.dbname
            raise AdapterError(f"PostgreSQL role {user!r} lacks CREATE on database {db!r} (needed for the"
                               f" venom_replay schema): GRANT CREATE ON DATABASE \"{db}\" TO {user}")
        for _, name, _, _ in conn.execute(USER_TABLES).fetchall():
            for right in ("TRIGGER", "SELECT", "INSERT", "UPDATE", "DELETE"):
                if not conn.execute("SELECT has_table_privilege(%s::regclass, %s)", (name, right)).fetchone()[0]:
                    raise AdapterError(f"PostgreSQL role {user!r} lacks {right} on table {name} (needed to"
                                       f" journal and restore it): GRANT {right} ON {name} TO {user}")

    def install(self) -> None:
        self.check_permissions()
        if self._installed():
            undone = self.recover()
            if undone:
                self.notes.append(f"restored the baseline left by a killed run ({undone} changes undone)")
        else:
            with self.conn.transaction():
                self.conn.execute(INSTALL)
        self._track(self._untracked_tables(), report=False)
        state = self._checkpoint_state()
        with self.conn.transaction():
            self.conn.execute("DELETE FROM venom_replay.meta")
            self.conn.execute("INSERT INTO venom_replay.meta (baseline_hwm, baseline_seqs) VALUES (%s, %s)",
                              (state["hwm"], json.dumps(state["seqs"])))
        self._lineage.reset()
        self._sums = None
        self.baseline = self.checkpoint()

    def uninstall(self) -> None:
        conn = self.conn
        with conn.transaction():
            for (table,) in conn.execute(
                    "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE 'venom\\_replay\\_%'"
            ).fetchall():
                conn.execute(f"DROP TRIGGER IF EXISTS venom_replay_row ON {table}")
                conn.execute(f"DROP TRIGGER IF EXISTS venom_replay_truncate ON {table}")
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        self._lineage.reset()
        self.baseline = None
        self._names.clear()
        self._sums = None

    def pending_changes(self) -> int:
        if not self._installed():
            return 0
        return self.conn.execute("SELECT count(*) FROM venom_replay.journal j, venom_replay.meta m"
                                 " WHERE j.id > m.baseline_hwm").fetchone()[0]

    def recover(self) -> int:
        """Undo everything after the recorded baseline (a killed run's branch); 0 if nothing to do."""
        if not self._installed():
            return 0
        row = self.conn.execute("SELECT baseline_hwm, baseline_seqs::text FROM venom_replay.meta").fetchone()
        if row is None:
            return 0
        result = self._run_restore(row[0], row[1], fp_hwm=0)
        self._sums = None
        return result["undone"]

    # -- tracking ---------------------------------------------------------------------------------

    def _untracked_tables(self) -> list[tuple[int, str, str, str]]:
        tracked = {r[0] for r in self.conn.execute("SELECT relid FROM venom_replay.tables").fetchall()}
        rows = self.conn.execute(USER_TABLES).fetchall()
        for relid, name, _, _ in rows:
            if relid in tracked:
                self._names[relid] = name
        return [r for r in rows if r[0] not in tracked]

    def _track(self, tables: list[tuple[int, str, str, str]], *, report: bool) -> None:
        if not tables:
            return
        conn = self.conn
        with conn.transaction():
            for relid, name, schema, table in tables:
                columns = conn.execute(TABLE_COLUMNS, (relid,)).fetchall()
                pk = [r[0] for r in conn.execute(PRIMARY_KEY, (relid,)).fetchall()]
                writable = sql.SQL(", ").join(sql.Identifier(c) for c, generated in columns if not generated)
                ident = sql.Identifier(schema, table)
                if pk:
                    keys = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
                    undo_insert = sql.SQL("DELETE FROM {t} WHERE ({k}) = (SELECT {k} FROM jsonb_populate_record("
                                          "NULL::{t}, $1))").format(t=ident, k=keys)
                else:  # no primary key: the row is identified by its full content
                    undo_insert = sql.SQL("DELETE FROM {t} WHERE ctid = (SELECT x.ctid FROM {t} x"
                                          " WHERE to_jsonb(x.*) = $1 LIMIT 1)").format(t=ident)
                undo_delete = sql.SQL("INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM"
                                      " jsonb_populate_record(NULL::{t}, $1)").format(t=ident, c=writable)
                undo_truncate = sql.SQL("INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM"
                                        " jsonb_populate_recordset(NULL::{t}, $1)").format(t=ident, c=writable)
                conn.execute(
                    "INSERT INTO venom_replay.tables (relid, name, has_pk, volatile, undo_insert, undo_delete,"
                    " undo_truncate) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (relid, name, bool(pk), volatile_for(table, self.volatile_columns, schema),
                     undo_insert.as_string(conn), undo_delete.as_string(conn), undo_truncate.as_string(conn)))
                conn.execute(sql.SQL("CREATE TRIGGER venom_replay_row AFTER INSERT OR UPDATE OR DELETE ON {t}"
                                     " FOR EACH ROW EXECUTE FUNCTION venom_replay.log_row()").format(t=ident))
                conn.execute(sql.SQL("CREATE TRIGGER venom_replay_truncate BEFORE TRUNCATE ON {t}"
                                     " FOR EACH STATEMENT EXECUTE FUNCTION venom_replay.log_truncate()"
                                     ).format(t=ident))
                self._names[relid] = name
        if report:
            names = ", ".join(t[1] for t in tables)
            self.notes.append(f"tables created after install, journalled from now on: {names}"
                              " (their creation is not undone; use template mode for schema changes)")
        self._sums = None  # new tables join the fingerprint: recompute it once

    # -- checkpoint / restore -----------------------------------------------------------------------

    def _checkpoint_state(self) -> dict[str, Any]:
        return self.conn.execute("SELECT venom_replay.checkpoint()").fetchone()[0]

    def checkpoint(self) -> Checkpoint:
        state = self._checkpoint_state()
        if state["untracked"]:
            self._track(self._untracked_tables(), report=True)
        return Checkpoint(self.url, (self._lineage.new_id(), state["hwm"], json.dumps(state["seqs"], sort_keys=True)))

    def can_restore(self, token: Checkpoint) -> bool:
        return self._lineage.reachable(token)

    def restore(self, token: Checkpoint) -> None:
        self._lineage.check(token)
        _, hwm, seqs = token.value
        result = self._run_restore(hwm, seqs, fp_hwm=self._fp_hwm if self._sums is not None else 0)
        if self._sums is not None:
            for relid, delta in result["delta"].items():
                key = int(relid)
                self._sums[key] = (self._sums.get(key, 0) - int(delta)) & MASK64
            self._fp_hwm = min(self._fp_hwm, hwm)
        self._lineage.rewind_to(token)

    def _run_restore(self, hwm: int, seqs: str, *, fp_hwm: int) -> dict[str, Any]:
        try:
            return self.conn.execute("SELECT venom_replay.restore(%s, %s::jsonb, %s)", (hwm, seqs, fp_hwm)).fetchone()[0]
        except psycopg.errors.InsufficientPrivilege as exc:
            check_restore_rights(self.conn, "")
            raise AdapterError(f"restore refused by PostgreSQL: {exc.diag.message_primary}") from exc
        except psycopg.errors.LockNotAvailable as exc:
            raise AdapterError(f"restore waited more than {self.lock_timeout_ms} ms for a lock held by another"
                               " connection (an open transaction in the API?)") from exc
        except psycopg.Error as exc:
            if exc.sqlstate == "VR001":
                raise CannotRestore(exc.diag.message_primary or str(exc)) from exc
            raise AdapterError(f"restore failed: {exc.diag.message_primary or exc}") from exc

    # -- fingerprint ----------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        conn = self.conn
        if self._sums is None:
            self._full_hash()
        else:
            hwm = conn.execute("SELECT coalesce(max(id), 0) FROM venom_replay.journal").fetchone()[0]
            if hwm > self._fp_hwm:
                delta = conn.execute("SELECT venom_replay.fp_delta(%s, %s)", (self._fp_hwm, hwm)).fetchone()[0]
                for relid, d in delta.items():
                    key = int(relid)
                    self._sums[key] = (self._sums.get(key, 0) + int(d)) & MASK64
                self._fp_hwm = hwm
        return combine({self._names.get(relid, str(relid)): s for relid, s in self._sums.items()})

    def _full_hash(self) -> None:
        """Hash every tracked table once; later calls only fold in the journal."""
        conn = self.conn
        tables = conn.execute("SELECT relid, name, volatile FROM venom_replay.tables ORDER BY relid").fetchall()
        sums: dict[int, int] = {}
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            hwm = conn.execute("SELECT coalesce(max(id), 0) FROM venom_replay.journal").fetchone()[0]
            for relid, name, volatile in tables:
                total = conn.execute(sql.SQL(
                    "SELECT coalesce(sum(hashtextextended((to_jsonb(x.*) - %s::text[])::text, 0)::numeric), 0)"
                    " FROM {} x").format(sql.SQL(name)), (volatile,)).fetchone()[0]
                sums[relid] = int(total) & MASK64
                self._names[relid] = name
        self._sums, self._fp_hwm = sums, hwm
