"""PostgreSQL rollback through a trigger undo journal (the default mode).

Why a journal: the API under test commits on its own pooled connections, which no transaction or
savepoint of ours can undo. Row triggers on every user table write the old and new row images
(jsonb) into ``venom_replay.journal``; a BEFORE TRUNCATE statement trigger saves the whole table.

- checkpoint() = the path of journal entries to the present (a few id ranges, see journal_ranges)
  + every sequence's value (one round trip). snapshot() adds the fingerprint in the same trip.
- restore() = one call of ``venom_replay.restore``: newer entries undone newest first inside one
  transaction with ``SET LOCAL session_replication_role = replica`` (user triggers and FK checks
  off), the entries deleted, sequences that moved reset. Rows are removed and added by a generated
  function per table (static SQL: planned once per session, not once per row). The API's
  connections are never terminated.
- By default only checkpoints on the path to the present can be restored (undo, no redo): any other
  raises CannotRestore and the explorer re-executes the path. After enable_branch_restore() the
  undone entries that some checkpoint covers are kept in ``venom_replay.shelf`` (the others are
  dropped: the shelf grows with the checkpoints, not with every step) and a restore to another
  branch undoes the present one back to the branch point and redoes the target's entries: no
  request is re-sent.
- Tables without a primary key are handled: a row is identified by its full content (any one of
  identical rows is the same as any other).
- Tables created after install are found at the next checkpoint, tracked from then on, and reported
  in ``notes`` (their creation itself is not undone; use template mode for schema changes).
- fingerprint() keeps a per-table multiset hash (sum of row hashes mod 2^64) and folds in only the
  journal entries since the last call, so it costs what changed, not the database size.
- install() first restores a baseline left by a killed run (``venom_replay.meta`` marks it).
- export_content() / import_content(): a recording's start state (postgres_content); the import
  journals its own rows, so a restore undoes it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from venom_replay.adapters.base import (Adapter, AdapterError, CannotRestore, Checkpoint, ConnectionLost, ContentPart,
                                        ContentStats)
from venom_replay.adapters.content_hash import MASK64, combine, volatile_for
from venom_replay.adapters.journal_ranges import OPEN_END, Ranges, branch_point, extend, flat, normalise
from venom_replay.adapters.lineage import Lineage
from venom_replay.adapters.postgres.content import export_tables, import_tables
from venom_replay.adapters.postgres.sql import (APPLY_ANY, APPLY_CALL, APPLY_FUNCTION, INSTALL, PRIMARY_KEY, REMOVE_BY_CONTENT,
                           REMOVE_BY_KEY, SCHEMA, TABLE_COLUMNS, USER_TABLES)
from venom_replay.proxy.redact import mask_url_password

KEEP_ALL = 2**62  # restore's p_keep: every undone entry goes to the shelf
KEEP_NONE = -1    # none does


APPLICATION_NAME = "venom-replay"
"""How our connections show in pg_stat_activity, so that a DBA can tell them from the API's (a URL
that names its own application_name keeps it)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _names_application(url: str) -> bool:
    try:
        return "application_name" in conninfo_to_dict(url)
    except psycopg.Error:
        return False  # psycopg.connect() says what is wrong with the URL


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    if not _names_application(url):
        kwargs.setdefault("application_name", APPLICATION_NAME)
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        raise AdapterError(f"cannot connect to {mask_url_password(url)}: {_first_line(exc)}") from exc


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


def export_database(url: str, write: Callable[[ContentPart], None]) -> ContentStats:
    """export_content() of every PostgreSQL mode: read on a connection of its own, then closed."""
    with contextlib.closing(connect(url)) as conn:
        return export_tables(conn, write)


class PostgresJournalAdapter(Adapter):
    restores_across_branches = False
    label = "PostgreSQL journal mode"

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), lock_timeout_ms: int = 10_000,
                 writer_wait_s: float = 5.0) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        self.lock_timeout_ms = lock_timeout_ms
        self.writer_wait_s = writer_wait_s
        self._conn: psycopg.Connection | None = None
        self._replica = False
        self._lineage = Lineage(url)
        self.baseline: Checkpoint | None = None
        self._names: dict[int, str] = {}      # relid -> qualified name of tracked tables
        self._sums: dict[int, int] | None = None  # relid -> multiset hash; None = not computed yet
        self._fp_hwm = 0
        self._keep_branches = False
        self._unsure = False  # a call was cut short: keep undone entries so that any restore is exact
        # The present content = baseline + journal entries _path + entries above _tail_from; None when
        # a call was cut short (Ctrl-C) and we do not know whether it took effect.
        self._path: Ranges | None = ()
        self._tail_from = 0
        self._covered = 0  # the present path's entries up to here are in some checkpoint

    def enable_branch_restore(self) -> bool:
        self._keep_branches = True
        self.restores_across_branches = True
        self._lineage.branches = True
        return True

    # -- connection -----------------------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._replica = False
            self._conn = None  # a failed reconnect is "cannot connect", not the old connection's loss
            self._conn = connect(self.url)
            self._conn.execute(f"SET lock_timeout = {int(self.lock_timeout_ms)}")
            # Our functions run the same few statements thousands of times with new parameters:
            # plan them once (PostgreSQL would otherwise often re-plan them at every call).
            self._conn.execute("SET plan_cache_mode = force_generic_plan")
            # Our restores need not wait for their WAL flush: visibility to the API is immediate, and
            # if the server crashed before the flush, the journal still holds the entries and the
            # next run (or `db recover`) undoes them. Saves one fsync per step on a durable server.
            self._conn.execute("SET synchronous_commit = off")
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
        self.recover_or_create(self._installed(), self._create_schema)
        self._track(self._untracked_tables(), report=False)
        state = self._checkpoint_state()
        with self.conn.transaction():
            self.conn.execute("DELETE FROM venom_replay.meta")
            self.conn.execute("INSERT INTO venom_replay.meta (baseline_hwm, baseline_seqs) VALUES (%s, %s)",
                              (state["hwm"], json.dumps(state["seqs"])))
        self._lineage.reset()
        self._sums = None
        self._path, self._tail_from, self._unsure = normalise([(0, state["hwm"])]), state["hwm"], False
        self.baseline = self.checkpoint()

    def _create_schema(self) -> None:
        with self.conn.transaction():
            self.conn.execute(INSTALL)

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
        result = self._run_restore(row[0], (0, row[0]), row[1], fp_hwm=-1, keep=KEEP_NONE)
        self.conn.execute("DELETE FROM venom_replay.shelf")  # a killed run's dead branches
        self._lineage.reset()
        self._sums = None
        self._path, self._tail_from, self._unsure = normalise([(0, row[0])]), int(result["seq"]), False
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
                keys = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
                remove = sql.SQL(REMOVE_BY_KEY if pk else REMOVE_BY_CONTENT).format(t=ident, k=keys)
                fn = f"apply_{relid}"
                conn.execute(sql.SQL(APPLY_FUNCTION).format(fn=sql.Identifier(fn), t=ident, c=writable, remove=remove))
                conn.execute(
                    "INSERT INTO venom_replay.tables (relid, name, has_pk, volatile, apply_fn) VALUES (%s, %s, %s, %s, %s)",
                    (relid, name, bool(pk), volatile_for(table, self.volatile_columns, schema), fn))
                conn.execute(sql.SQL("CREATE TRIGGER venom_replay_row AFTER INSERT OR UPDATE OR DELETE ON {t}"
                                     " FOR EACH ROW EXECUTE FUNCTION venom_replay.log_row()").format(t=ident))
                conn.execute(sql.SQL("CREATE TRIGGER venom_replay_truncate BEFORE TRUNCATE ON {t}"
                                     " FOR EACH STATEMENT EXECUTE FUNCTION venom_replay.log_truncate()"
                                     ).format(t=ident))
                self._names[relid] = name
            conn.execute("SELECT venom_replay.refresh_sequences()")  # the new tables' serial columns
            calls = [APPLY_CALL.format(relid=int(relid), fn=sql.Identifier(fn).as_string(conn))
                     for relid, fn in conn.execute("SELECT relid, apply_fn FROM venom_replay.tables ORDER BY relid")]
            conn.execute(APPLY_ANY.replace("{calls}", "\n".join(calls)))
        if report:
            names = ", ".join(t[1] for t in tables)
            self.notes.append(f"tables created after install, journalled from now on: {names}"
                              " (their creation is not undone; use template mode for schema changes)")
        self._sums = None  # new tables join the fingerprint: recompute it once

    # -- checkpoint / restore -----------------------------------------------------------------------

    def _checkpoint_state(self) -> dict[str, Any]:
        return self.conn.execute("SELECT venom_replay.checkpoint()").fetchone()[0]

    def _token(self, state: dict[str, Any]) -> Checkpoint:
        if state["untracked"]:
            self._track(self._untracked_tables(), report=True)
        if self._path is None:  # after a call cut short: the journal itself is the present path
            self._path = self._journal_ranges()
            self._tail_from = max(self._tail_from, state["hwm"])
        ranges = extend(self._path, self._tail_from, state["hwm"])
        self._covered = max(self._covered, int(state["hwm"]))
        return Checkpoint(self.url, (self._lineage.new_id(), ranges, json.dumps(state["seqs"], sort_keys=True)))

    def checkpoint(self) -> Checkpoint:
        try:
            state = self._checkpoint_state()
            if state.get("writers"):
                self._wait_for_writers(state["writers"])
                state = self._checkpoint_state()
            return self._token(state)
        except Exception as exc:
            self._raise_if_lost(exc)
            raise

    def _wait_for_writers(self, writers: list[dict[str, Any]]) -> None:
        """Wait until no other session has a write transaction open, then forget what was folded:
        entries committed late carry ids below the ones already read, so the next fingerprint is
        hashed from scratch and the next restore undoes the whole journal (both exact). A transaction
        still open after ``writer_wait_s`` is refused: no checkpoint taken beside it would be exact."""
        deadline = time.monotonic() + self.writer_wait_s
        while writers and time.monotonic() < deadline:
            time.sleep(0.05)
            writers = self.conn.execute("SELECT venom_replay.writers()").fetchone()[0]
        self._path, self._sums, self._unsure = None, None, True
        if writers:
            first = writers[0]
            who = f"pid {first['pid']}" + (f" ({first['application']})" if first.get("application") else "")
            raise AdapterError(
                f"{self.shown_url}: another session ({who}, {first.get('state')} since {first.get('since')}) "
                f"kept a write transaction open for more than {self.writer_wait_s:g} s after the step; a "
                "checkpoint beside it cannot be exact. Does the API leave transactions open between requests?")

    def snapshot(self, *, checkpoint: bool = True,
                 then_restore: Checkpoint | None = None) -> tuple[Checkpoint | None, str]:
        """Fingerprint (and checkpoint) in one round trip; with ``then_restore``, the restore too."""
        with self._guard():
            return self._snapshot(checkpoint, then_restore)

    def _snapshot(self, checkpoint: bool, then_restore: Checkpoint | None) -> tuple[Checkpoint | None, str]:
        if self._sums is None or self._path is None:  # first fingerprint, or after a call cut short
            return super().snapshot(checkpoint=checkpoint, then_restore=then_restore)
        if then_restore is None:
            state = self._snapshot_state(checkpoint)
            if state.get("writers"):
                self._wait_for_writers(state["writers"])
                return super().snapshot(checkpoint=checkpoint)
            return self._after_snapshot(state, checkpoint)
        self._lineage.check(then_restore)
        branch, ranges, seqs = self._restore_args(then_restore)
        both = self._call("SELECT venom_replay.snapshot_then_restore(%s::bigint, %s, %s::bigint, %s::bigint[],"
                          " %s::jsonb, %s::bigint)", (self._fp_hwm, checkpoint, branch, flat(ranges), seqs,
                                                     self._keep_upto(checkpoint)))
        token, fp = self._after_snapshot(both["snapshot"], checkpoint)
        if "restore" in both:
            self._after_restore(then_restore, both["restore"])
        else:  # new tables had to be tracked first
            self.restore(then_restore)
        if both["snapshot"].get("writers"):
            # The restore could not undo what was not committed yet: once it is, restore again from
            # scratch (the whole journal undone, the target's path redone), which is exact.
            self._wait_for_writers(both["snapshot"]["writers"])
            self.restore(then_restore)
        return token, fp

    def _after_snapshot(self, state: dict[str, Any], checkpoint: bool) -> tuple[Checkpoint | None, str]:
        self._fold(state["delta"], state["hwm"])
        if not checkpoint:
            return None, self._combined()
        fp = self._combined()
        token = self._token(state)
        if self._sums is None:  # a new table joined the fingerprint: hash it from scratch
            fp = self.fingerprint()
        return token, fp

    def _journal_ranges(self) -> Ranges:
        """The present path read from the journal, one range per entry."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM venom_replay.journal ORDER BY id").fetchall()]
        return normalise((i - 1, i) for i in ids)

    def can_restore(self, token: Checkpoint) -> bool:
        return self._lineage.reachable(token)

    def restore(self, token: Checkpoint) -> None:
        self._lineage.check(token)
        with self._guard():
            branch, ranges, seqs = self._restore_args(token)
            folded = self._sums is not None
            result = self._run_restore(branch, flat(ranges), seqs, fp_hwm=self._fp_hwm if folded else -1,
                                       keep=self._keep_upto(False))
            self._after_restore(token, result)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """If a call is cut short (Ctrl-C, lost connection), we no longer know whether the server
        applied it: the next restore then undoes the whole journal and redoes the target's path,
        and the next fingerprint hashes the tables from scratch. Both are exact whatever happened."""
        try:
            yield
        except BaseException as exc:
            self._path, self._sums, self._unsure = None, None, True
            if isinstance(exc, Exception):
                self._raise_if_lost(exc)
            raise

    def _raise_if_lost(self, exc: Exception) -> None:
        """A call failed on a connection that is gone: say so as ConnectionLost (the next access of
        ``conn`` opens a new one)."""
        if isinstance(exc, ConnectionLost) or self._conn is None or not self._conn.broken:
            return
        cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__ or exc
        raise ConnectionLost(self.shown_url, _first_line(cause)) from exc

    def _restore_args(self, token: Checkpoint) -> tuple[int, Ranges, str]:
        """Where the present path and the token's path part, the token's path, its sequences."""
        _, ranges, seqs = token.value
        if self._path is None:
            return 0, ranges, seqs
        present = normalise([*self._path, (self._tail_from, OPEN_END)])
        return branch_point(present, ranges), ranges, seqs

    def _after_restore(self, token: Checkpoint, result: dict[str, Any]) -> None:
        self._path, self._tail_from = token.value[1], int(result["seq"])
        self._covered = max((hi for _, hi in self._path), default=0)
        if self._sums is not None:
            self._fold(result["delta"], None)
            self._fp_hwm = self._tail_from  # every entry of the restored path is folded in now
        self._lineage.rewind_to(token)

    def _keep_upto(self, checkpoint_now: bool) -> int:
        """Up to which journal id the entries a restore undoes must go to the shelf: those a checkpoint
        covers (it may be restored later); entries after the last checkpoint on the present path are
        dropped, so that the shelf does not grow with every leaf of the search."""
        if self._unsure or (self._keep_branches and checkpoint_now):
            return KEEP_ALL  # unsure: keep everything; a checkpoint taken in the same call covers all
        return self._covered if self._keep_branches else KEEP_NONE

    def _run_restore(self, branch: int, ranges: Any, seqs: str, *, fp_hwm: int, keep: int) -> dict[str, Any]:
        return self._call("SELECT venom_replay.restore(%s::bigint, %s::bigint[], %s::jsonb, %s::bigint, %s::bigint)",
                          (branch, list(ranges), seqs, fp_hwm, keep))

    def _as_replica(self) -> None:
        """User triggers and foreign-key checks off on our own connection, for the whole session (it
        writes nothing that needs triggers): each change of this setting makes PostgreSQL drop every
        cached plan, so switching it per restore would re-plan every statement of every restore."""
        if not self._replica:
            self.conn.execute("SET session_replication_role = replica")
            self._replica = True

    def _call(self, query: str, args: tuple) -> dict[str, Any]:
        """One call of our restore functions, with the errors a user can act on as one line."""
        try:
            self._as_replica()
            return self.conn.execute(query, args).fetchone()[0]
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

    # -- a recording's start state --------------------------------------------------------------------

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        return export_database(self.url, write)

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        """The start content written in one transaction as replica (no user triggers, no FK checks);
        each statement journals its own rows, since our triggers do not fire as replica either."""
        with self._guard():
            try:
                self._as_replica()
                stats = import_tables(self.conn, parts, self.notes)
            except psycopg.errors.LockNotAvailable as exc:
                raise AdapterError(f"importing the start state waited more than {self.lock_timeout_ms} ms for a lock"
                                   " held by another connection (an open transaction in the API?)") from exc
            except psycopg.Error as exc:
                raise AdapterError(f"importing the start state into {self.shown_url} failed:"
                                   f" {exc.diag.message_primary or exc}") from exc
        return self.imported(stats)

    # -- fingerprint ----------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        with self._guard():
            if self._sums is None:
                self._full_hash()
                return self._combined()
            return self._after_snapshot(self._snapshot_state(False), False)[1]

    def _snapshot_state(self, checkpoint: bool) -> dict[str, Any]:
        return self.conn.execute("SELECT venom_replay.snapshot(%s::bigint, %s)", (self._fp_hwm, checkpoint)).fetchone()[0]

    def _fold(self, delta: dict[str, Any], hwm: int | None) -> None:
        """Add per-table hash deltas to the running sums (they cover the journal up to ``hwm``)."""
        sums = self._sums
        assert sums is not None
        for relid, d in delta.items():
            key = int(relid)
            sums[key] = (sums.get(key, 0) + int(d)) & MASK64
        if hwm is not None and hwm > self._fp_hwm:
            self._fp_hwm = hwm

    def _combined(self) -> str:
        assert self._sums is not None
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
