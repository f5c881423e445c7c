"""User invariants: Python functions from a file, and SQL queries that must return no rows.

Python (``--invariants checks.py``): every top-level function whose name starts with ``invariant_``
or ``check_`` is called after each step. It may take any of these parameters, by name:
``response`` (the last Response, None on a transport error), ``values`` (the bound values),
``db`` (the first SQL database connection, or the one the function names), ``databases`` (all
handles by URL), ``step``, ``path``. It fails by returning False or a message string, or by raising
AssertionError; its docstring's first line names the rule in the report.

    @on_database("shop")          # optional: ``db`` is that database (see ``database_names``)
    def invariant_refund_not_above_amount(response, db):
        "refunded never exceeds the amount"
        return not db.execute("SELECT 1 FROM orders WHERE refunded > amount").fetchall()

SQL (``[invariants] sql = ["SELECT id FROM orders WHERE refunded > amount"]`` in venom.toml, or
``[[invariants.sql]]`` tables with ``name``, ``query`` and optionally ``database``): each query runs
after each step on the database it names, else on every SQL database; any row it returns is a
violation.

An invariant that cannot run is the user's set-up to fix, never a finding: a database name that
matches no ``--db`` URL, or a query (or a Python invariant that reads only the databases) that fails
on the databases before the run, is a one-line error (``prepare``); one that fails later is
recorded once in ``errors`` and not run again.
"""

from __future__ import annotations

import importlib.util
import inspect
import sqlite3
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from venom_replay.proxy.redact import mask_url_password
from venom_replay.proxy.errors import ConfigError, VenomError

from venom_replay.replay.checkers.base import StepContext, Violation

_ARGS = ("response", "values", "db", "databases", "step", "path")
_STATE_ARGS = frozenset({"db", "databases"})
"""Parameters an invariant can be called with before the run, to see that it can read the databases."""

F = TypeVar("F", bound=Callable[..., Any])


def on_database(name: str) -> Callable[[F], F]:
    """Mark a Python invariant as reading one database: its ``db`` is the ``--db`` that ``name`` names
    (the URL, or its short name: see ``database_names``). It sets the function's ``database``
    attribute, which may also be set by hand."""

    def mark(fn: F) -> F:
        fn.database = name  # type: ignore[attr-defined]
        return fn

    return mark


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}".rstrip(": ")


# ------------------------------------------------------------------ naming a database


def database_names(url: str) -> set[str]:
    """What an invariant may call the database at ``url``: the URL as given to ``--db`` (with or without
    its password, without venom-replay's own options), and its short name: the database name of a
    PostgreSQL or MySQL URL (``postgresql://app@db/shop`` -> ``shop``), the file name of a SQLite URL
    (``sqlite:///data/app.db`` -> ``app.db``). Redis databases are named by URL only."""
    from venom_replay.adapters.registry import split_options

    clean = split_options(url)[0]
    names = {_comparable(clean)}
    parts = urlsplit(clean)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme == "sqlite":
        path = clean[len("sqlite:///"):] if clean.startswith("sqlite:///") else clean[len("sqlite://"):]
        if unquote(path):
            names.add(Path(unquote(path)).name)
    elif scheme in ("postgresql", "postgres", "mysql", "mariadb"):
        name = unquote(parts.path.lstrip("/"))
        if name:
            names.add(name)
    return names


def _comparable(url: str) -> str:
    # A URL written with its password and the same URL with the password masked name one database.
    return mask_url_password(url)


def resolve_database(name: str, urls: Iterable[str], where: str) -> str:
    """The one URL of ``urls`` that ``name`` names; ``where`` (the file and the invariant) leads the
    error when none or several do."""
    from venom_replay.adapters.registry import split_options

    urls = list(urls)
    wanted = _comparable(split_options(name)[0]) if "://" in name else name
    matches = [u for u in urls if wanted in database_names(u)]
    if len(matches) == 1:
        return matches[0]
    given = ", ".join(mask_url_password(u) for u in urls) or "none"
    if not matches:
        raise ConfigError(f"{where}: database {mask_url_password(name)!r} is not one of the --db databases ({given})")
    raise ConfigError(f"{where}: database {name!r} names {len(matches)} of the --db databases ({given}); "
                      "give its whole URL")


# ------------------------------------------------------------------ Python invariants


@dataclass
class _PyInvariant:
    name: str
    doc: str
    fn: Callable[..., Any]
    params: tuple[str, ...]
    database: str | None = None
    """The database its ``db`` reads, as the user named it (None: the first SQL database)."""

    @property
    def about_state(self) -> bool:
        """Reads the databases and not the step's answer: once broken, it stays broken."""
        return bool(_STATE_ARGS & set(self.params)) and not {"response", "step"} & set(self.params)


class PythonInvariants:
    """The ``invariant_*`` / ``check_*`` functions of one Python file."""

    name = "user"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"--invariants {self.path}: no such file")
        spec = importlib.util.spec_from_file_location(f"venom_user_invariants_{abs(hash(str(self.path)))}", self.path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"--invariants {self.path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(f"--invariants {self.path}: cannot load it ({type(exc).__name__}: {exc})") from None
        self.invariants: list[_PyInvariant] = []
        for attr, fn in vars(module).items():
            if not (attr.startswith(("invariant_", "check_")) and inspect.isfunction(fn) and fn.__module__ == module.__name__):
                continue
            params = tuple(inspect.signature(fn).parameters)
            unknown = [p for p in params if p not in _ARGS]
            if unknown:
                raise ConfigError(f"--invariants {self.path}: {attr}() takes {unknown[0]!r}; "
                                  f"invariants may take {', '.join(_ARGS)}")
            database = getattr(fn, "database", None)
            if database is not None and not (isinstance(database, str) and database):
                raise ConfigError(f"--invariants {self.path}: {attr}.database must be a database name or URL")
            self.invariants.append(_PyInvariant(attr, _first_line(fn.__doc__) or attr, fn, params, database))
        if not self.invariants:
            raise ConfigError(f"--invariants {self.path}: no function named invariant_* or check_* in it")
        self.first_breaks = FirstBreaks()
        self.targets: dict[str, str] = {}
        """Invariant -> the URL of the database it named (resolved against the --db URLs)."""
        self.errors: dict[str, str] = {}
        """Invariant -> why it could not run during the exploration (it is not run again)."""

    def _where(self, inv: _PyInvariant) -> str:
        return f"--invariants {self.path}: {inv.name}"

    def _resolve(self, handles: Mapping[str, Any], *, keep_going: bool = False) -> None:
        """Each named database's URL; ``keep_going``: one that names none is recorded in ``errors``."""
        for inv in self.invariants:
            if inv.database is None or inv.name in self.targets or inv.name in self.errors:
                continue
            try:
                self.targets[inv.name] = resolve_database(inv.database, handles, self._where(inv))
            except ConfigError as exc:
                if not keep_going:
                    raise
                self.errors[inv.name] = str(exc)

    def _arguments(self, inv: _PyInvariant, handles: Mapping[str, Any], ctx: StepContext | None) -> dict[str, Any]:
        target = self.targets.get(inv.name)
        sql_handles = [h for h in handles.values() if not _is_redis(h)]
        available = {
            "db": handles[target] if target is not None else sql_handles[0] if sql_handles else None,
            "databases": dict(handles),
        }
        if ctx is not None:
            available.update(response=ctx.step.response, values=ctx.values, step=ctx.step, path=ctx.path)
        return {p: available[p] for p in inv.params}

    def prepare(self, handles: Mapping[str, Any]) -> None:
        """Before the run: every database an invariant names is one of ``handles``, and the invariants
        that read only the databases run on them without an error (their verdict does not matter)."""
        self._resolve(handles)
        for inv in self.invariants:
            if not set(inv.params) <= _STATE_ARGS:
                continue
            try:
                inv.fn(**self._arguments(inv, handles, None))
            except AssertionError:
                pass
            except Exception as exc:  # noqa: BLE001 - user code: any error means it cannot run
                raise ConfigError(f"{self._where(inv)}() cannot run on the databases: {_reason(exc)}") from None
            finally:
                _rollback_quietly(list(handles.values()))

    def check(self, ctx: StepContext) -> list[Violation]:
        handles = dict(ctx.databases)
        self._resolve(handles, keep_going=True)
        broken: list[tuple[_PyInvariant, str]] = []
        for inv in self.invariants:
            if inv.name in self.errors:
                continue
            try:
                verdict = inv.fn(**self._arguments(inv, handles, ctx))
            except AssertionError as exc:
                verdict = str(exc) or False
            except Exception as exc:  # noqa: BLE001 - the invariant's own fault, not the API's: said once, never a finding
                self.errors[inv.name] = f"{self._where(inv)}() failed after {ctx.step.template.label}: {_reason(exc)}"
                continue
            finally:
                _rollback_quietly([h for h in handles.values() if not _is_redis(h)])
            if verdict is None or verdict is True:
                continue
            broken.append((inv, verdict if isinstance(verdict, str) and verdict else inv.doc))
        # A state invariant (it reads the databases, not the answer) broken at every step since some step
        # is one root cause: one bucket per invariant and the step that first broke it, as for SQL
        # invariants. An invariant about the answer is broken by each step that answers wrongly.
        first = self.first_breaks.attribute(ctx, [inv.name for inv, _ in broken if inv.about_state])
        out = []
        for inv, detail in broken:
            by = first.get(inv.name, ctx.step.template.id)
            still = "" if by == ctx.step.template.id else f" (still broken after {ctx.step.template.label})"
            out.append(Violation(self.name, f"invariant {inv.name} broken after {_label(ctx, by)}{still}: {detail}",
                                 f"user:{inv.name}:{by}", {"invariant": inv.name, "broken_by": by}))
        return out


class FirstBreaks:
    """Which step first broke each state invariant on a path.

    A state invariant stays broken after the step that broke it, so every later step would report it
    again under its own template: one root cause counted once per kind of step seen after it. Each
    checked step remembers the invariants broken after it and the template that first broke them; a
    later step on the same path inherits that attribution.
    """

    def __init__(self) -> None:
        self._after: dict[int, tuple[Any, dict[str, str]]] = {}

    def _known(self, step: Any) -> dict[str, str] | None:
        entry = self._after.get(id(step))
        return entry[1] if entry is not None and entry[0] is step else None

    def attribute(self, ctx: StepContext, broken: list[str]) -> dict[str, str]:
        """``{invariant: id of the template that first broke it on this path}`` for ``broken``."""
        before: dict[str, str] = {}
        for earlier in reversed(ctx.path[:-1]):  # re-executed steps were not checked: look further back
            known = self._known(earlier)
            if known is not None:
                before = known
                break
        first = {name: before.get(name, ctx.step.template.id) for name in broken}
        self._after[id(ctx.step)] = (ctx.step, first)
        return first


def _label(ctx: StepContext, template_id: str) -> str:
    tpl = ctx.templates.templates.get(template_id)
    return tpl.label if tpl is not None else template_id


# ------------------------------------------------------------------ SQL invariants


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
        self.first_breaks = FirstBreaks()
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
                if _is_redis(handles[url]):
                    raise ConfigError(f"{self._where(name)}: database {entry.database!r} is a Redis database; "
                                      "SQL invariants read SQL databases")
            except ConfigError as exc:
                if not keep_going:
                    raise
                self.errors[name] = str(exc)
                continue
            self.targets[name] = url

    def _runs(self, handles: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
        """(invariant, URL, handle) for each query and each database it reads."""
        sql = [(url, h) for url, h in handles.items() if not _is_redis(h)]
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


def prepare_invariants(checkers: Iterable[Any], handles: Mapping[str, Any]) -> None:
    """Check the user's invariants against the opened databases before anything runs (see ``prepare``)."""
    for checker in checkers:
        if isinstance(checker, PythonInvariants | SqlInvariants):
            checker.prepare(handles)


def invariant_errors(checkers: Iterable[Any]) -> list[str]:
    """Why user invariants could not run during an exploration, one line each."""
    return [line for c in checkers if isinstance(c, PythonInvariants | SqlInvariants) for line in c.errors.values()]


# ------------------------------------------------------------------ database handles


def _is_redis(handle: Any) -> bool:
    return type(handle).__module__.startswith("redis")


def _rollback_quietly(handles: list[Any]) -> None:
    # Invariant queries only read; ending the transaction keeps the next step's writes visible.
    for h in handles:
        try:
            h.rollback()
        except Exception:
            pass


def open_handle(url: str) -> Any:
    """A separate read connection for invariants: psycopg, sqlite3 or redis, by URL scheme.

    A database that cannot be reached is one line naming the URL (password masked) and the reason."""
    try:
        return _connect(url)
    except VenomError:
        raise
    except Exception as exc:  # each driver has its own error classes; all mean "cannot connect"
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"--db {mask_url_password(url)}: cannot connect ({reason})") from None


def _connect(url: str) -> Any:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("postgresql", "postgres"):
        import psycopg

        return psycopg.connect(url, autocommit=False)
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
        return sqlite3.connect(unquote(path) or ":memory:", check_same_thread=False)
    if scheme in ("mysql", "mariadb"):
        import pymysql

        from venom_replay.adapters.mysql.table import connect_args

        return _MysqlHandle(pymysql.connect(**connect_args(url)))
    if scheme in ("redis", "rediss"):
        import redis

        return redis.Redis.from_url(url)
    raise ConfigError(f"--db {mask_url_password(url)}: unsupported database URL scheme {scheme!r}")


class _MysqlHandle:
    """pymysql with the ``execute(...).fetch*()`` shape that sqlite3 and psycopg have."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, query: str, params: Any = None) -> Any:
        cur = self.conn.cursor()
        cur.execute(query, params)
        return cur

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def close_handles(handles: Mapping[str, Any]) -> None:
    for h in handles.values():
        try:
            h.close()
        except Exception:
            pass


if sys.version_info < (3, 11):  # pragma: no cover - the project needs 3.11 for tomllib
    raise ImportError("venom-replay needs Python 3.11+")
