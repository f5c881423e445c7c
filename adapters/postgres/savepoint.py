"""PostgreSQL ``savepoint`` mode: ONLY for an app that runs in-process on the connection we hand it.

A SAVEPOINT / ROLLBACK TO undoes nothing that other connections committed, so this mode is wrong
for an API in another process with its own pool (use the default journal mode). It fits tests that
call the application's functions directly: pass ``adapter.connection`` to the app, and every write
stays inside one transaction that uninstall() rolls back.

checkpoint() = SAVEPOINT; restore() = ROLLBACK TO SAVEPOINT (ancestors only, like the journal).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from venom_replay.adapters.base import Adapter, Checkpoint, ContentPart, ContentStats
from venom_replay.adapters.lineage import Lineage
from venom_replay.adapters.postgres.journal import connect, export_database, full_content_hash


class PostgresSavepointAdapter(Adapter):
    restores_across_branches = False
    label = "PostgreSQL savepoint mode"
    import_instead = "use the default journal mode (drop ?mode=savepoint from the URL)"

    def __init__(self, url: str, **options) -> None:
        super().__init__(url, **options)
        self._conn: psycopg.Connection | None = None
        self._lineage = Lineage(url)
        self.baseline: Checkpoint | None = None

    @property
    def connection(self) -> psycopg.Connection:
        """The connection the in-process app must use for its writes to be rolled back."""
        if self._conn is None:
            self._conn = connect(self.url)
            self._conn.autocommit = False
        return self._conn

    def install(self) -> None:
        self.connection.execute("SELECT 1")  # opens the transaction that holds every savepoint
        self._lineage.reset()
        self.baseline = self.checkpoint()

    def checkpoint(self) -> Checkpoint:
        cp_id = self._lineage.new_id()
        self.connection.execute(sql.SQL("SAVEPOINT {}").format(sql.Identifier(f"venom_replay_{cp_id}")))
        return Checkpoint(self.url, (cp_id,))

    def can_restore(self, token: Checkpoint) -> bool:
        return self._lineage.reachable(token)

    def restore(self, token: Checkpoint) -> None:
        self._lineage.check(token)
        self.connection.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(
            sql.Identifier(f"venom_replay_{token.value[0]}")))
        self._lineage.rewind_to(token)

    def fingerprint(self) -> str:
        return full_content_hash(self.connection, self.volatile_columns)

    def uninstall(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
        self._lineage.reset()
        self.baseline = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
            self._conn.close()
            self._conn = None

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        return export_database(self.url, write)
