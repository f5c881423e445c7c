"""What checkpoint(), restore() and fingerprint() read from MariaDB: the journal's high-water mark,
every AUTO_INCREMENT counter and every table's identity, in one cheap round trip.

The identity is InnoDB's TABLE_ID, which TRUNCATE TABLE changes (see mysql_truncate); reading it
needs the PROCESS privilege. ``INNODB_SYS_TABLESTATS`` lists the tables in InnoDB's dictionary
cache with their id and counter, and is cheaper to read than ``information_schema.TABLES`` was
alone. When it does not tell everything (a table evicted from the cache, partitioned, not InnoDB,
or whose counter InnoDB has not read yet) we read ``information_schema.TABLES`` and
``INNODB_SYS_TABLES`` instead. InnoDB spells names in the "filename" character set (``my-t`` is
``db/my@002dt``); the server itself translates ours once per load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from venom_replay.adapters.mysql.table import COPIES, JOURNAL, META, Table, is_ours


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class State:
    hwm: int
    counters: dict[str, int]
    idents: dict[str, str]
    new_tables: bool = False  # a table we do not journal yet exists


def identity(ids: list[int]) -> str:
    """One string per table: its TABLE_ID, or its partitions' ids."""
    return ",".join(str(i) for i in sorted(ids))


def split_innodb_name(name: str, encoded_db: str) -> tuple[str, bool] | None:
    """``db/table`` or ``db/table#P#p0`` -> (encoded table, is a partition); None for other
    databases (LIKE also matches them: ``_`` is a wildcard) and for ``#sql`` temporary tables."""
    db, _, rest = name.partition("/")
    if db != encoded_db or not rest or rest.startswith("#"):
        return None
    base, sep, _ = rest.partition("#P#")
    return base, bool(sep)


class StateReader:
    STATS_SQL = "SELECT NAME, TABLE_ID, AUTOINC FROM information_schema.INNODB_SYS_TABLESTATS WHERE NAME LIKE %s"

    def __init__(self, query: Callable[..., list[tuple]]) -> None:
        self._query = query
        self.tables: dict[str, Table] = {}
        self.encoded_db = ""
        self._by_encoded: dict[str, str] = {}  # journalled tables by their dictionary name
        self._known: set[str] = set()          # every table's dictionary name at the last load
        self._innodb = 0                       # how many journalled tables InnoDB should list
        self._counters_elsewhere = False       # an AUTO_INCREMENT table that is not InnoDB

    @property
    def like(self) -> str:
        return self.encoded_db + "/%"

    def _render(self) -> None:
        """The read of every checkpoint as one literal statement (no argument escaping per call),
        without our own tables' rows."""
        ours = ", ".join(_literal(f"{self.encoded_db}/{t}") for t in (JOURNAL, META, COPIES))
        self._read_sql = (f"SELECT NAME, TABLE_ID, AUTOINC FROM information_schema.INNODB_SYS_TABLESTATS"
                          f" WHERE NAME LIKE {_literal(self.like)} AND NAME NOT IN ({ours})"
                          f" UNION ALL SELECT '', (SELECT COALESCE(MAX(id), 0) FROM {JOURNAL}), 0")

    def load_names(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        rows = self._query("SELECT CAST(CONVERT(DATABASE() USING filename) AS BINARY), NULL UNION ALL"
                           " SELECT NULL, CAST(CONVERT(TABLE_NAME USING filename) AS BINARY)"
                           " FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        self.encoded_db = rows[0][0].decode()
        self._known = {r[1].decode() for r in rows[1:]}
        self._by_encoded = {t.encoded: t.name for t in tables.values()}
        self._innodb = sum(t.innodb for t in tables.values())
        self._counters_elsewhere = any(t.auto_increment and not t.innodb for t in tables.values())
        self._render()

    def read(self) -> State:
        rows = self._query(self._read_sql)
        return self.from_stats(rows) or self.slow()

    def from_stats(self, rows: Iterable[tuple]) -> State | None:
        """State from INNODB_SYS_TABLESTATS rows (and read()'s high-water mark row, named ''); None
        when they do not tell everything. (Every checkpoint: the common case is one dict look-up a row.)"""
        if self._counters_elsewhere:
            return None
        prefix = self.encoded_db + "/"
        idents: dict[str, str] = {}
        counters: dict[str, int] = {}
        new_tables = False
        hwm = 0
        for name, table_id, autoinc in rows:
            table = self._by_encoded.get(name[len(prefix):]) if name.startswith(prefix) else None
            if table is None:
                if not name:
                    hwm = int(table_id)
                    continue
                split = split_innodb_name(name, self.encoded_db)
                if split is None:
                    continue  # another database, or a temporary table
                if split[1] and split[0] in self._by_encoded:
                    return None  # a partitioned table's counter is not per partition
                new_tables = new_tables or not (split[0] in self._known or is_ours(split[0]))
                continue
            idents[table] = str(table_id)
            if self.tables[table].auto_increment:
                if not int(autoinc or 0):
                    return None  # InnoDB has the table but has not read its counter yet
                counters[table] = int(autoinc)
        if len(idents) < self._innodb:
            return None  # one was evicted from the dictionary cache (or dropped)
        return State(hwm, counters, idents, new_tables)

    def slow(self) -> State:
        rows = self._query(
            f"SELECT 'h', '', (SELECT COALESCE(MAX(id), 0) FROM {JOURNAL}) UNION ALL"
            " SELECT 'a', TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' UNION ALL"
            " SELECT 'i', NAME, TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE %s", (self.like,))
        hwm = next(int(v) for kind, _, v in rows if kind == "h")
        names = {name for kind, name, _ in rows if kind == "a" and not is_ours(name)}
        counters = {name: int(v) for kind, name, v in rows if kind == "a" and v is not None and name in names}
        ids: dict[str, list[int]] = {}
        for kind, name, table_id in rows:
            split = split_innodb_name(name, self.encoded_db) if kind == "i" else None
            if split is not None and split[0] in self._by_encoded:
                ids.setdefault(self._by_encoded[split[0]], []).append(int(table_id))
        return State(hwm, counters, {t: identity(i) for t, i in ids.items()}, bool(names - self.tables.keys()))
