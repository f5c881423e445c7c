"""Journal what MariaDB's foreign-key cascades change: InnoDB runs them without firing any trigger.

Every referenced table with a cascading foreign key gets a BEFORE DELETE trigger (and a BEFORE
UPDATE one when a key has an ON UPDATE action) that writes, in one INSERT ... SELECT run just
before the row goes, every row the cascade is about to change, with its old image:

- rows deleted by ON DELETE CASCADE: the closure over those keys, as a recursive CTE over the key
  columns of the tables involved (chains, diamonds, self-referencing trees, cycles: UNION keeps a
  row once, so cycles end). A cascade deeper than MariaDB's limit of 15 fails, and its statement
  takes our journal rows back with it.
- rows set by ON DELETE SET NULL and ON UPDATE CASCADE / SET NULL, and what those changes cascade
  to further, along simple paths (InnoDB refuses an update cascade that comes back to a table).
- per table every row once (grouped by its key): deleted if any path deletes it, else with the
  new image all paths together give it, so that a row without a primary key still matches.

Journal ops: 'C' a row a cascade deleted, 'S' a row a cascade set; restore() undoes both
idempotently (a row journalled by a DELETE IGNORE that then kept it is put back as a no-op).
Should our SQL ever fail inside the trigger, the API's statement must not: a handler writes a '!'
entry instead, and restore() refuses with an AdapterError rather than restore inexactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from venom_replay.adapters.base import AdapterError

if TYPE_CHECKING:
    from venom_replay.adapters.mysql.journal import Table

REACH = "venom_replay_reach"
MAX_DEPTH = 15          # InnoDB's own cascade depth limit (FK_MAX_CASCADE_DEL)
MAX_PATHS = 256         # update paths per trigger; beyond this we refuse rather than guess
ACTIONS = ("CASCADE", "SET NULL")
# what a mistake in our generated SQL raises: unknown column / table, syntax or access, cardinality
OWN_ERRORS = ("42S22", "42S02", "42000", "21000")


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class ForeignKey:
    child: str
    child_cols: tuple[str, ...]
    parent: str
    parent_cols: tuple[str, ...]
    on_delete: str
    on_update: str


def load_foreign_keys(query: Callable[..., list[tuple]]) -> tuple[list[ForeignKey], list[str]]:
    """The foreign keys inside this database, and notes about cascades that cross into another."""
    rows = query(
        "SELECT rc.CONSTRAINT_SCHEMA, rc.CONSTRAINT_NAME, rc.TABLE_NAME, rc.UNIQUE_CONSTRAINT_SCHEMA,"
        " rc.REFERENCED_TABLE_NAME, rc.DELETE_RULE, rc.UPDATE_RULE, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME"
        " FROM information_schema.REFERENTIAL_CONSTRAINTS rc JOIN information_schema.KEY_COLUMN_USAGE k"
        " ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME"
        " AND k.TABLE_NAME = rc.TABLE_NAME"
        " WHERE (rc.CONSTRAINT_SCHEMA = DATABASE() OR rc.UNIQUE_CONSTRAINT_SCHEMA = DATABASE())"
        " AND k.REFERENCED_COLUMN_NAME IS NOT NULL"
        " ORDER BY rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION")
    database = query("SELECT DATABASE()")[0][0]
    grouped: dict[tuple, list[tuple[str, str]]] = {}
    for schema, name, child, parent_schema, parent, on_delete, on_update, column, ref in rows:
        grouped.setdefault((schema, name, child, parent_schema, parent, on_delete, on_update), []).append((column, ref))
    fks, notes = [], []
    for (schema, _, child, parent_schema, parent, on_delete, on_update), pairs in grouped.items():
        cascades = on_delete in ACTIONS or on_update in ACTIONS
        if schema != database or parent_schema != database:
            if cascades:
                notes.append(f"foreign key {schema}.{child} -> {parent_schema}.{parent} (ON DELETE {on_delete},"
                             f" ON UPDATE {on_update}) crosses databases: rows it changes outside {database!r}"
                             " are not restored")
            continue
        fks.append(ForeignKey(child, tuple(c for c, _ in pairs), parent, tuple(r for _, r in pairs),
                              on_delete, on_update))
    return fks, notes


@dataclass
class _Path:
    """Rows of ``edges[-1].child`` reached from a source row along ``edges``, and what they become."""
    source: str                     # "root": the trigger's row; "reach": rows of the delete closure
    edges: list[ForeignKey]
    assign: dict[str, str]          # column of the last table -> SQL of its new value
    steps_assign: list[dict[str, str]] = field(default_factory=list)  # assign at every table on the way


class CascadeTriggers:
    """The SQL of the cascade triggers for one schema's tables and foreign keys."""

    def __init__(self, tables: dict[str, Table], fks: Sequence[ForeignKey], journal: str,
                 escape: Callable[[str], str]) -> None:
        self.tables = tables
        self.fks = [fk for fk in fks if fk.child in tables and fk.parent in tables]
        self.journal = journal
        self.escape = escape

    # -- which tables get which trigger ------------------------------------------------------------

    def bodies(self) -> dict[tuple[str, str], str]:
        """{(parent table, "DELETE" or "UPDATE"): INSERT statement} for every trigger needed."""
        out = {}
        for parent in sorted({fk.parent for fk in self.fks}):
            if any(fk.parent == parent and fk.on_delete in ACTIONS for fk in self.fks):
                out[(parent, "DELETE")] = self.delete_sql(parent)
            if any(fk.parent == parent and fk.on_update in ACTIONS for fk in self.fks):
                out[(parent, "UPDATE")] = self.update_sql(parent)
        return out

    # -- ON DELETE ---------------------------------------------------------------------------------

    def delete_sql(self, root: str) -> str:
        closure = self._delete_closure(root)
        slots = self._slots(closure)
        paths = []
        for fk in self.fks:
            if fk.on_delete == "SET NULL" and (fk.parent == root or fk.parent in closure):
                assign = {c: "NULL" for c in fk.child_cols}
                for source in (["root"] if fk.parent == root else []) + (["reach"] if fk.parent in closure else []):
                    paths += self._extend(_Path(source, [fk], assign, [assign]), {fk.child})
        targets = sorted(closure | {p.edges[-1].child for p in paths})
        selects = [self._final_select(t, root, "DELETE", closure, slots, [p for p in paths if p.edges[-1].child == t])
                   for t in targets]
        cte = f"WITH RECURSIVE {self._reach_cte(root, closure, slots)} " if closure else ""
        return self._insert(cte, selects)

    def _delete_closure(self, root: str) -> set[str]:
        closure: set[str] = set()
        todo = [root]
        while todo:
            table = todo.pop()
            for fk in self.fks:
                if fk.parent == table and fk.on_delete == "CASCADE" and fk.child not in closure:
                    closure.add(fk.child)
                    todo.append(fk.child)
        return closure

    def _slots(self, closure: set[str]) -> dict[tuple[str, str, bool], str]:
        """Columns of the recursive CTE: per closure table, its key and the columns children join on."""
        slots: dict[tuple[str, str, bool], str] = {}
        for table in sorted(closure):
            needed = list(self._identity(table))
            for fk in self.fks:
                if fk.parent == table and (fk.on_delete in ACTIONS):
                    needed += [(c, False) for c in fk.parent_cols]
            for column, hashed in needed:
                slots.setdefault((table, column, hashed), f"s{len(slots)}")
        return slots

    def _identity(self, table: str) -> list[tuple[str, bool]]:
        """The columns that tell rows apart: the primary key, else every column (long ones as MD5,
        so that grouping does not stop at max_sort_length)."""
        t = self.tables[table]
        if t.pk:
            return [(c, False) for c in t.pk]
        return [(c, c in t.long_columns) for c in t.columns]

    @staticmethod
    def _expr(alias: str, column: str, hashed: bool) -> str:
        ref = f"{alias}.{ident(column)}"
        return f"MD5({ref})" if hashed else ref

    def _reach_cte(self, root: str, closure: set[str], slots: dict) -> str:
        def row(table: str) -> str:  # a row of ``table`` (alias x) in the CTE's columns
            return ", ".join(self._expr("x", c, h) if t == table else "NULL" for (t, c, h) in slots)

        # a first, empty branch per table gives every column its type
        anchors = [f"SELECT CAST({self.escape(t)} AS CHAR(64)), {row(t)} FROM {ident(t)} x WHERE 0"
                   for t in sorted(closure)]
        recursive = []  # after every anchor: MariaDB skips an anchor that follows a recursive branch
        for fk in self.fks:
            if fk.on_delete != "CASCADE" or fk.child not in closure:
                continue
            child = f"{self.escape(fk.child)}, {row(fk.child)}"
            if fk.parent == root:
                on = " AND ".join(f"x.{ident(c)} = OLD.{ident(p)}" for c, p in zip(fk.child_cols, fk.parent_cols))
                anchors.append(f"SELECT {child} FROM {ident(fk.child)} x WHERE {on}")
            if fk.parent in closure:
                on = " AND ".join(f"x.{ident(c)} = r.{slots[(fk.parent, p, False)]}"
                                  for c, p in zip(fk.child_cols, fk.parent_cols))
                recursive.append(f"SELECT {child} FROM {REACH} r JOIN {ident(fk.child)} x"
                                 f" ON r.t = {self.escape(fk.parent)} AND {on}")
        # always truly recursive: MariaDB re-parses a plain CTE at each of its references and then
        # no longer knows OLD ("Unknown column in 'OLD'"); a recursive one is computed once
        recursive.append(f"SELECT * FROM {REACH} WHERE 0")
        return f"{REACH} (t, {', '.join(slots.values())}) AS ({' UNION '.join(anchors + recursive)})"

    # -- ON UPDATE ---------------------------------------------------------------------------------

    def update_sql(self, root: str) -> str:
        paths = []
        for fk in self.fks:
            if fk.parent != root or fk.on_update not in ACTIONS:
                continue
            assign = {c: "NULL" if fk.on_update == "SET NULL" else f"NEW.{ident(p)}"
                      for c, p in zip(fk.child_cols, fk.parent_cols)}
            paths += self._extend(_Path("root", [fk], assign, [assign]), {root, fk.child})
        targets = sorted({p.edges[-1].child for p in paths})
        return self._insert("", [self._final_select(t, root, "UPDATE", set(), {},
                                                    [p for p in paths if p.edges[-1].child == t]) for t in targets])

    def _extend(self, path: _Path, visited: set[str]) -> list[_Path]:
        """``path`` and every path that goes on from it through ON UPDATE actions of its last table."""
        out = [path]
        if len(path.edges) >= MAX_DEPTH:
            return out
        table = path.edges[-1].child
        for fk in self.fks:
            if fk.parent != table or fk.on_update not in ACTIONS or fk.child in visited:
                continue
            if not set(fk.parent_cols) & path.assign.keys():
                continue  # the columns it refers to do not change
            if fk.on_update == "SET NULL":
                assign = {c: "NULL" for c in fk.child_cols}
            else:
                assign = {c: path.assign[p] for c, p in zip(fk.child_cols, fk.parent_cols) if p in path.assign}
            out += self._extend(_Path(path.source, [*path.edges, fk], assign, [*path.steps_assign, assign]),
                                visited | {fk.child})
            if len(out) > MAX_PATHS:
                raise AdapterError(f"foreign keys cascading from table {path.edges[0].parent!r} form more than"
                                   f" {MAX_PATHS} update paths; too many to journal")
        return out

    def _path_from(self, path: _Path, event: str, slots: dict) -> tuple[str, list[str]]:
        """FROM ... WHERE ... selecting the rows at the end of ``path`` (alias x<n>)."""
        n = len(path.edges)
        joins = [f"{ident(path.edges[-1].child)} x{n}"]
        where = []
        for i in range(n, 0, -1):  # edge i joins x<i> (child) to x<i-1> (parent)
            fk = path.edges[i - 1]
            if i > 1:
                joins.append(f"JOIN {ident(fk.parent)} x{i - 1} ON "
                             + " AND ".join(f"x{i}.{ident(c)} = x{i - 1}.{ident(p)}"
                                            for c, p in zip(fk.child_cols, fk.parent_cols)))
                parent_assign = path.steps_assign[i - 2]
                # InnoDB only cascades when the referenced columns really change on that row
                where.append("NOT (" + " AND ".join(f"x{i - 1}.{ident(p)} <=> {parent_assign.get(p, f'x{i - 1}.' + ident(p))}"
                                                    for p in fk.parent_cols) + ")")
            elif path.source == "reach":
                joins.append(f"JOIN {REACH} x0 ON x0.t = {self.escape(fk.parent)} AND "
                             + " AND ".join(f"x1.{ident(c)} = x0.{slots[(fk.parent, p, False)]}"
                                            for c, p in zip(fk.child_cols, fk.parent_cols)))
            else:
                where += [f"x1.{ident(c)} = OLD.{ident(p)}" for c, p in zip(fk.child_cols, fk.parent_cols)]
                if event == "UPDATE":
                    where.append("NOT (" + " AND ".join(f"OLD.{ident(p)} <=> NEW.{ident(p)}" for p in fk.parent_cols) + ")")
        return " ".join(joins), where

    # -- one journal SELECT per table --------------------------------------------------------------

    def _final_select(self, table: str, root: str, event: str, closure: set[str], slots: dict,
                      paths: list[_Path]) -> str:
        t = self.tables[table]
        identity = self._identity(table)
        variants: list[tuple[str, str]] = []  # (column, new value) pairs, one flag column each
        for path in paths:
            variants += [item for item in path.assign.items() if item not in variants]
        keys = [f"i{n}" for n in range(len(identity))]
        flags = [f"f{n}" for n in range(len(variants))]
        branches: list[tuple[list[str], str]] = []  # (values: keys, d, flags; FROM ... WHERE ...)
        if table in closure:
            branches.append(([slots[(table, c, h)] for c, h in identity] + ["1"] + ["0"] * len(flags),
                             f"{REACH} WHERE t = {self.escape(table)}"))
        for path in paths:
            source, where = self._path_from(path, event, slots)
            values = [self._expr(f"x{len(path.edges)}", c, h) for c, h in identity]
            marks = ["1" if item in path.assign.items() else "0" for item in variants]
            branches.append((values + ["0"] + marks, source + (f" WHERE {' AND '.join(where)}" if where else "")))
        names = [*keys, "d", *flags]
        union = " UNION ALL ".join(
            "SELECT " + ", ".join(f"{v} AS {a}" if n == 0 else v for v, a in zip(values, names)) + f" FROM {tail}"
            for n, (values, tail) in enumerate(branches))
        grouped = (f"SELECT {', '.join(keys)}, MAX(d) AS d{''.join(f', MAX({f}) AS {f}' for f in flags)}"
                   f" FROM ({union}) z GROUP BY {', '.join(keys)}")
        new_values, changed = [], []
        for column in t.columns:
            cases = [f"WHEN k.{flag} THEN {value}" for flag, (c, value) in zip(flags, variants) if c == column]
            if cases:
                new_values.append(f"CASE {' '.join(cases)} ELSE x.{ident(column)} END")
                changed.append(f"x.{ident(column)} <=> {new_values[-1]}")
            else:
                new_values.append(f"x.{ident(column)}")
        on = " AND ".join(f"{self._expr('x', c, h)} <=> k.{key}" for (c, h), key in zip(identity, keys))
        where = [f"(k.d OR NOT ({' AND '.join(changed)}))" if changed else "k.d"]  # a set row must change
        if table == root and event == "DELETE":  # the trigger's own row: journalled by the AFTER trigger
            where.append("NOT (" + " AND ".join(f"x.{ident(c)} <=> OLD.{ident(c)}" for c in t.pk or t.columns) + ")")
        return (f"SELECT {self.escape(table)}, IF(k.d, 'C', 'S'), {t.image_sql('x')},"
                f" IF(k.d, NULL, {t.image_of(new_values)}) FROM ({grouped}) k JOIN {ident(table)} x ON {on}"
                f" WHERE {' AND '.join(where)}")

    def _insert(self, cte: str, selects: list[str]) -> str:
        return f"INSERT INTO {self.journal} (tbl, op, old, new) {cte}{' UNION ALL '.join(selects)}"

    def trigger_sql(self, name: str, table: str, event: str, body: str) -> str:
        """CREATE TRIGGER for one body; errors of our own SQL become a '!' entry (see above)."""
        failed = f"INSERT INTO {self.journal} (tbl, op) VALUES ({self.escape(table)}, '!')"
        # With foreign_key_checks off InnoDB cascades nothing (our own import of a start state, or an
        # API's bulk load): there is nothing to journal then.
        return (f"CREATE TRIGGER {ident(name)} BEFORE {event} ON {ident(table)} FOR EACH ROW BEGIN"
                f" DECLARE CONTINUE HANDLER FOR {', '.join(f'SQLSTATE {s!r}' for s in OWN_ERRORS)} {failed};"
                f" IF @venom_replay_off IS NULL AND @@foreign_key_checks THEN {body}; END IF; END")
