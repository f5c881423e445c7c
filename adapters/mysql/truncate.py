"""TRUNCATE TABLE on MariaDB: how we see it happened, and the copies that let us undo it.

TRUNCATE fires no trigger, but InnoDB re-creates the table, so its dictionary TABLE_ID changes
(ALTER ... AUTO_INCREMENT keeps it; OPTIMIZE, which rebuilds the table, changes it too and is
then treated like a truncate: slower, still exact). mysql_state reads the ids.

Content a truncate wiped cannot come back from the journal, so we keep copies: one of every table
at install (cp 0) and one of a table's present content when a checkpoint sees it was truncated.
A table's content at checkpoint C is the copy C names for it plus the journal entries of that
table up to C's high-water mark; restore() rebuilds a table from there when it was truncated
after C, inside the same transaction as the rest of the restore.

Copies are Aria tables (MyISAM on MySQL): written once and read whole, they need no transactions,
and outside InnoDB they do not push the API's working set out of the buffer pool (an InnoDB copy
of a 100 MB table made restores 20-40% slower afterwards, on a default 128 MB pool).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from venom_replay.adapters.mysql.table import COPIES, COPY_PREFIX, ident

if TYPE_CHECKING:
    from venom_replay.adapters.mysql.table import Table


def copy_table(gen: int) -> str:
    return f"{COPY_PREFIX}{int(gen)}"


@dataclass(frozen=True)
class Copy:
    gen: int
    table: str
    hwm: int      # the copy holds the table as it was at this journal high-water mark
    cp: int       # the checkpoint (lineage id) that made it; 0: install


class TableCopies:
    """The copies in the database, and which one each table's present content builds on."""

    def __init__(self, query: Callable[..., list[tuple]]) -> None:
        self._query = query
        self.by_gen: dict[int, Copy] = {}
        self.current: dict[str, int] = {}  # table -> gen of the copy its content builds on
        self._last_gen = 0  # never reused in one run, not even after its copy was dropped
        self._engine = ""

    def create_meta(self) -> None:
        self._query(f"CREATE TABLE IF NOT EXISTS {COPIES} (gen BIGINT PRIMARY KEY, tbl VARCHAR(64) NOT NULL,"
                    " hwm BIGINT NOT NULL, cp BIGINT NOT NULL) ENGINE=InnoDB")

    def load(self) -> None:
        rows = self._query(f"SELECT gen, tbl, hwm, cp FROM {COPIES}")
        self.by_gen = {int(r[0]): Copy(int(r[0]), r[1], int(r[2]), int(r[3])) for r in rows}
        self.current = {}
        for copy in sorted(self.by_gen.values(), key=lambda c: c.gen):
            self.current[copy.table] = copy.gen

    def base(self) -> dict[str, int]:
        """The install-time copy of each table: {table: gen}."""
        return {c.table: c.gen for c in self.by_gen.values() if c.cp == 0}

    def make(self, table: Table, hwm: int, cp: int) -> tuple[Copy, int]:
        """Copy ``table``'s present content; returns the copy and its row count."""
        gen = self._last_gen = max([self._last_gen, *self.by_gen]) + 1
        columns = ", ".join(map(ident, table.columns))
        # CREATE ... SELECT keeps the column types; no indexes: a copy is only ever read whole
        self._query(f"CREATE TABLE {copy_table(gen)} ENGINE={self.engine} AS SELECT {columns} FROM {ident(table.name)}")
        rows = self._query(f"SELECT COUNT(*) FROM {copy_table(gen)}")[0][0]
        self._query(f"INSERT INTO {COPIES} (gen, tbl, hwm, cp) VALUES (%s, %s, %s, %s)", (gen, table.name, hwm, cp))
        copy = self.by_gen[gen] = Copy(gen, table.name, hwm, cp)
        self.current[table.name] = gen
        return copy, int(rows)

    @property
    def engine(self) -> str:
        if not self._engine:
            have = {r[0] for r in self._query("SELECT ENGINE FROM information_schema.ENGINES"
                                               " WHERE SUPPORT IN ('YES', 'DEFAULT')")}
            self._engine = next((e for e in ("Aria", "MyISAM") if e in have), "InnoDB")
        return self._engine

    def rebuild_sql(self, table: Table, gen: int) -> list[str]:
        """Statements that put the copy's content back into the table (inside the restore's transaction)."""
        columns = ", ".join(map(ident, table.columns))
        return [f"DELETE FROM {ident(table.name)}",
                f"INSERT INTO {ident(table.name)} ({columns}) SELECT {columns} FROM {copy_table(gen)}"]

    def drop_after(self, cp: int) -> list[str]:
        """Drop the copies checkpoints after ``cp`` made (their branch is gone); returns the tables
        left without a copy to build on."""
        return self._drop([c for c in self.by_gen.values() if c.cp > cp])

    def drop_all(self) -> None:
        names = [r[0] for r in self._query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE %s",
            (COPY_PREFIX.replace("_", "\\_") + "%",))]
        for name in names:
            self._query(f"DROP TABLE IF EXISTS {ident(name)}")
        self._query(f"DROP TABLE IF EXISTS {COPIES}")
        self.by_gen, self.current = {}, {}

    def _drop(self, copies: list[Copy]) -> list[str]:
        for copy in copies:
            self._query(f"DROP TABLE IF EXISTS {copy_table(copy.gen)}")
            self._query(f"DELETE FROM {COPIES} WHERE gen = %s", (copy.gen,))
            del self.by_gen[copy.gen]
        orphans = [table for table, gen in self.current.items() if gen not in self.by_gen]
        for table in orphans:
            del self.current[table]
        return orphans

    def drop_except(self, keep: set[int]) -> None:
        self._drop([c for c in self.by_gen.values() if c.gen not in keep])
