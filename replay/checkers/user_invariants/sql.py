"""SQL invariants: queries that must return no rows, run after each step on the database they name (else on every SQL database)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.redact import mask_url_password
from venom_replay.replay.checkers.base import StepContext, Violation
from venom_replay.replay.checkers.user_invariants.common import (
    FirstBreaks,
    _label,
    _reason,
)
from venom_replay.replay.checkers.user_invariants.handles import (
    _is_sql,
    _rollback_quietly,
)
from venom_replay.replay.checkers.user_invariants.naming import resolve_database


@dataclass(frozen=True, slots=True)
class SqlQuery:
    """One ``[invariants] sql`` entry."""

    query: str
    database: str | None = None
    """The database it reads, as the config names it (None: every SQL database)."""


class SqlInvariants:
    """Queries that must return no rows, run after each step on the database each names (else on every
    SQL database)."""

    name = "sql"

    def __init__(self, queries: Mapping[str, str | SqlQuery], source: str = "config") -> None:
        self.entries = {name: q if isinstance(q, SqlQuery) else SqlQuery(q) for name, q in queries.items()}
        self.queries = {name: q.query for name, q in self.entries.items()}
        self.source = source
        """The file the queries come from, for messages."""
        self.first_breaks = FirstBreaks("sql")
        self.targets: dict[str, str] = {}
        """Invariant -> the URL of the database it named."""
        self.errors: dict[str, str] = {}
        """Invariant -> why it could not run during the exploration (it is not run again)."""

    def _where(self, name: str) -> str:
        return f"{self.source}: [invariants] sql {name!r}"

    def _resolve(self, handles: Mapping[str, Any], *, keep_going: bool = False) -> None:
        """Each named database's URL; ``keep_going``: one that names none is recorded in ``errors``."""
        for name, entry in self.entries.items():
            if entry.database is None or name in self.targets or name in self.errors:
                continue
            try:
                url = resolve_database(entry.database, handles, self._where(name))
                if not _is_sql(handles[url]):
                    raise ConfigError(f"{self._where(name)}: database {entry.database!r} is not a SQL database; "
                                      "SQL invariants read SQL databases")
            except ConfigError as exc:
                if not keep_going:
                    raise
                self.errors[name] = str(exc)
                continue
            self.targets[name] = url

    def _runs(self, handles: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
        """(invariant, URL, handle) for each query and each database it reads."""
        sql = [(url, h) for url, h in handles.items() if _is_sql(h)]
        out = []
        for name, entry in self.entries.items():
            target = self.targets.get(name)
            if entry.database is not None and target is None:
                continue  # its database is not there: an error says so
            out.extend((name, url, h) for url, h in sql if target is None or url == target)
        return out

    def prepare(self, handles: Mapping[str, Any]) -> None:
        """Before the run: each named database is one of ``handles``, and each query runs on the
        databases it reads (a missing table or column is said here, once, instead of at every step)."""
        self._resolve(handles)
        for name, url, handle in self._runs(handles):
            try:
                handle.execute(self.entries[name].query).fetchmany(1)
            except Exception as exc:  # noqa: BLE001 - each driver has its own error classes
                raise ConfigError(f"{self._where(name)} fails on {mask_url_password(url)}: {_reason(exc)}"
                                  + ("" if self.entries[name].database else
                                     " (to run it on one database only, give the entry a database)")) from None
            finally:
                _rollback_quietly([handle])

    def check(self, ctx: StepContext) -> list[Violation]:
        self._resolve(ctx.databases, keep_going=True)
        found: list[tuple[str, str, str, list]] = []
        for name, url, handle in self._runs(ctx.databases):
            if name in self.errors:
                continue
            try:
                rows = handle.execute(self.entries[name].query).fetchmany(3)
            except Exception as exc:  # noqa: BLE001 - the query's fault, not the API's: said once, never a finding
                self.errors[name] = (f"{self._where(name)} failed on {mask_url_password(url)} after "
                                     f"{ctx.step.template.label}: {_reason(exc)}")
                continue
            finally:
                _rollback_quietly([handle])
            if rows:
                found.append((f"{name}\0{url}", name, url, rows))
        first = self.first_breaks.attribute(ctx, [key for key, *_ in found])
        out = []
        for key, name, url, rows in found:
            by = first[key]
            still = "" if by == ctx.step.template.id else f" (still broken after {ctx.step.template.label})"
            # One bucket per invariant and the step that broke it, whichever steps came after.
            out.append(Violation(self.name, f"SQL invariant {name!r} returned rows after {_label(ctx, by)}{still}: "
                                 f"{[tuple(r) for r in rows]}", f"sql:{name}:{by}",
                                 {"query": self.queries[name], "database": mask_url_password(url), "broken_by": by}))
        return out


def sql_invariants_from_config(raw: Mapping[str, Any], source: str = "config") -> dict[str, SqlQuery]:
    """``{name: SqlQuery}`` from an ``[invariants]`` table: ``sql = ["...", {name=..., query=..., database=...}]``."""
    section = raw.get("invariants") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: [invariants] must be a table")
    items = section.get("sql") or []
    if isinstance(items, str | Mapping):
        items = [items]
    if not isinstance(items, list):
        raise ConfigError(f"{source}: [invariants] sql must be a list of queries")
    out: dict[str, SqlQuery] = {}
    for i, item in enumerate(items, 1):
        if isinstance(item, str):
            out[f"sql-{i}"] = SqlQuery(item)
        elif isinstance(item, Mapping) and isinstance(item.get("query"), str):
            name = str(item.get("name") or f"sql-{i}")
            database = item.get("database")
            if database is not None and not (isinstance(database, str) and database):
                raise ConfigError(f"{source}: [invariants] sql {name!r}: database must be a database name or URL")
            out[name] = SqlQuery(item["query"], database)
        else:
            raise ConfigError(f"{source}: [invariants] sql entry {i} must be a query string or a table with 'query'")
    return out
