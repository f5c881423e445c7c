"""PostgreSQL ``template`` mode: full copies through CREATE DATABASE ... TEMPLATE.

For schema changes (which the journal does not undo) or as a last-resort full reset; not per branch:
a copy costs tens to hundreds of milliseconds and grows with the database.

PostgreSQL refuses to copy a database that has other sessions, and a restore renames databases,
which needs the same. So this mode, and ONLY this mode, cuts off the API's pooled connections:
1. ``ALTER DATABASE ... ALLOW_CONNECTIONS false`` so the pool cannot reconnect meanwhile;
2. idle sessions are terminated at once, busy ones get ``grace_seconds`` to finish first;
3. the copy / rename runs; connections are allowed again.
The cost (connections terminated, milliseconds the API was locked out) is in ``last_cost`` and in
``notes``. Expect the API's next request on each cut-off pool connection to fail or retry.

A restore never drops the live database before its replacement exists: the checkpoint is copied to
a new database first, then the two are swapped by renaming. Database-level settings made with
``ALTER DATABASE ... SET`` stay with the old database (dropped); the owner is kept.
Checkpoints restore across branches (each one is a complete copy).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from venom_replay.adapters.base import Adapter, AdapterError, Checkpoint, ContentPart, ContentStats
from venom_replay.adapters.postgres.journal import connect, export_database, full_content_hash


@dataclass
class CutOffCost:
    terminated: int
    locked_out_ms: float


class PostgresTemplateAdapter(Adapter):
    restores_across_branches = True
    label = "PostgreSQL template mode"
    import_instead = "use the default journal mode (drop ?mode=template from the URL)"

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = (), maintenance_db: str = "postgres",
                 grace_seconds: float = 1.0) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        parts = urlsplit(url)
        self.dbname = parts.path.lstrip("/")
        if not self.dbname:
            raise AdapterError(f"no database name in {self.shown_url}")
        self.admin_url = urlunsplit(parts._replace(path="/" + maintenance_db))
        self.grace_seconds = grace_seconds
        self.prefix = "vr_" + hashlib.sha1(self.dbname.encode()).hexdigest()[:10]
        self._admin: psycopg.Connection | None = None
        self._ids = itertools.count(1)
        self._snapshots: dict[int, str] = {}
        self.last_cost: CutOffCost | None = None
        self.total_terminated = 0
        self.total_locked_out_ms = 0.0
        self.baseline: Checkpoint | None = None

    @property
    def admin(self) -> psycopg.Connection:
        if self._admin is None or self._admin.closed:
            self._admin = connect(self.admin_url)
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _check_rights(self) -> None:
        row = self.admin.execute(
            "SELECT rolsuper, rolcreatedb, pg_has_role(current_user, 'pg_signal_backend', 'member')"
            " FROM pg_roles WHERE rolname = current_user").fetchone()
        user = self.admin.info.user
        if not row[0] and not row[1]:
            raise AdapterError(f"PostgreSQL role {user!r} lacks CREATEDB (template mode copies databases):"
                               f" ALTER ROLE {user} CREATEDB")
        if not row[0] and not row[2]:
            raise AdapterError(f"PostgreSQL role {user!r} may not terminate the API's sessions (template mode"
                               f" must): GRANT pg_signal_backend TO {user}")

    def _ours(self) -> list[str]:
        return [r[0] for r in self.admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                                                 (self.prefix + "\\_%",)).fetchall()]

    def install(self) -> None:
        self._check_rights()
        base = f"{self.prefix}_base"
        if base in self._ours():
            self._swap_in(base, keep_source=True)
            self.notes.append(f"restored the baseline left by a killed run from database {base}")
        for name in self._ours():
            if name != base:
                self._drop(name)
        if base not in self._ours():
            self._copy(self.dbname, base, cut_off=True)
        self._snapshots = {0: base}
        self.baseline = Checkpoint(self.url, (0,))

    def recover(self) -> int:
        base = f"{self.prefix}_base"
        if base not in self._ours():
            return 0
        self._swap_in(base, keep_source=True)
        return 1

    def pending_changes(self) -> int:
        return 1 if f"{self.prefix}_base" in self._ours() else 0

    def checkpoint(self) -> Checkpoint:
        cp_id = next(self._ids)
        name = f"{self.prefix}_{cp_id}"
        self._copy(self.dbname, name, cut_off=True)
        self._snapshots[cp_id] = name
        return Checkpoint(self.url, (cp_id,))

    def can_restore(self, token: Checkpoint) -> bool:
        return token.adapter == self.url and token.value[0] in self._snapshots

    def restore(self, token: Checkpoint) -> None:
        self._swap_in(self.kept_for(token, self._snapshots), keep_source=True)

    def uninstall(self) -> None:
        for name in self._ours():
            self._drop(name)
        self._snapshots.clear()
        self.baseline = None

    def fingerprint(self) -> str:
        with connect(self.url) as conn:
            return full_content_hash(conn, self.volatile_columns)

    # -- the gentle cut-off ---------------------------------------------------------------------------

    def _cut_off(self, dbname: str) -> int:
        """Refuse new connections to dbname, let busy sessions finish (grace), terminate the rest."""
        admin = self.admin
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(dbname)))
        terminated = 0
        deadline = time.monotonic() + self.grace_seconds
        while True:
            rows = admin.execute("SELECT pid, state FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                 (dbname,)).fetchall()
            if not rows:
                return terminated
            late = time.monotonic() > deadline
            for pid, state in rows:
                if late or state in ("idle", None):
                    terminated += bool(admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0])
            time.sleep(0.005)

    def _allow(self, dbname: str) -> None:
        self.admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(dbname)))

    def _copy(self, source: str, target: str, *, cut_off: bool) -> None:
        started = time.perf_counter()
        terminated = self._cut_off(source) if cut_off else 0
        try:
            self.admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(target),
                                                                              sql.Identifier(source)))
        except psycopg.Error as exc:
            raise AdapterError(f"template copy of {source} failed: {exc.diag.message_primary or exc}") from exc
        finally:
            if cut_off:
                self._allow(source)
        self._record(terminated, started)

    def _swap_in(self, snapshot: str, *, keep_source: bool) -> None:
        """Copy snapshot to a new database, then swap it in for the live one by renaming."""
        fresh, old = f"{self.prefix}_next", f"{self.prefix}_old"
        for leftover in (fresh, old):
            self._drop(leftover)
        owner = self.admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                                   (self.dbname,)).fetchone()
        self.admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
            sql.Identifier(fresh), sql.Identifier(snapshot),
            sql.SQL(" OWNER {}").format(sql.Identifier(owner[0])) if owner else sql.SQL("")))
        started = time.perf_counter()
        terminated = self._cut_off(self.dbname)
        try:
            self.admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(self.dbname),
                                                                              sql.Identifier(old)))
            self.admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(fresh),
                                                                              sql.Identifier(self.dbname)))
        finally:
            self._allow(self.dbname)
        self._record(terminated, started)
        self._drop(old)

    def _drop(self, name: str) -> None:
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _record(self, terminated: int, started: float) -> None:
        self.last_cost = CutOffCost(terminated, (time.perf_counter() - started) * 1000)
        self.total_terminated += terminated
        self.total_locked_out_ms += self.last_cost.locked_out_ms
        note = (f"template mode terminated {self.total_terminated} API connection(s) to {self.dbname} in total,"
                f" {self.total_locked_out_ms:.0f} ms without connections")
        if self.total_terminated:
            self.notes[:] = [n for n in self.notes if not n.startswith("template mode terminated")] + [note]

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        return export_database(self.url, write)
