"""User invariants: Python functions from a file, and SQL queries that must return no rows.

Python (``--invariants checks.py``): every top-level function whose name starts with ``invariant_``
or ``check_`` is called after each step. It may take any of these parameters, by name:
``response`` (the last Response, None on a transport error), ``values`` (the bound values),
``db`` (the first SQL database connection), ``databases`` (all handles by URL), ``step``, ``path``.
It fails by returning False or a message string, or by raising AssertionError; its docstring's first
line names the rule in the report.

    def invariant_refund_not_above_amount(response, db):
        "refunded never exceeds the amount"
        return not db.execute("SELECT 1 FROM orders WHERE refunded > amount").fetchall()

SQL (``[invariants] sql = ["SELECT id FROM orders WHERE refunded > amount"]`` in venom.toml, or
``[[invariants.sql]]`` tables with ``name`` and ``query``): each query runs on every SQL database
after each step; any row it returns is a violation.
"""

from __future__ import annotations

import importlib.util
import inspect
import sqlite3
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from venom_replay.proxy.redact import mask_url_password
from venom_replay.proxy.errors import ConfigError, VenomError

from venom_replay.replay.checkers.base import StepContext, Violation

_ARGS = ("response", "values", "db", "databases", "step", "path")


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


@dataclass
class _PyInvariant:
    name: str
    doc: str
    fn: Callable[..., Any]
    params: tuple[str, ...]

    @property
    def about_state(self) -> bool:
        """Reads the databases and not the step's answer: once broken, it stays broken."""
        return bool({"db", "databases"} & set(self.params)) and not {"response", "step"} & set(self.params)


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
            self.invariants.append(_PyInvariant(attr, _first_line(fn.__doc__) or attr, fn, params))
        if not self.invariants:
            raise ConfigError(f"--invariants {self.path}: no function named invariant_* or check_* in it")
        self.first_breaks = FirstBreaks()

    def check(self, ctx: StepContext) -> list[Violation]:
        handles = dict(ctx.databases)
        sql_handles = [h for h in handles.values() if not _is_redis(h)]
        available = {
            "response": ctx.step.response,
            "values": ctx.values,
            "db": sql_handles[0] if sql_handles else None,
            "databases": handles,
            "step": ctx.step,
            "path": ctx.path,
        }
        broken: list[tuple[_PyInvariant, str]] = []
        for inv in self.invariants:
            try:
                verdict = inv.fn(**{p: available[p] for p in inv.params})
            except AssertionError as exc:
                verdict = str(exc) or False
            finally:
                _rollback_quietly(sql_handles)
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


class SqlInvariants:
    """Queries that must return no rows, run on every SQL database after each step."""

    name = "sql"

    def __init__(self, queries: Mapping[str, str]) -> None:
        self.queries = dict(queries)
        self.first_breaks = FirstBreaks()

    def check(self, ctx: StepContext) -> list[Violation]:
        found: list[tuple[str, str, str, list]] = []
        for url, handle in ctx.databases.items():
            if _is_redis(handle):
                continue
            for name, query in self.queries.items():
                try:
                    cur = handle.execute(query)
                    rows = cur.fetchmany(3)
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


def sql_invariants_from_config(raw: Mapping[str, Any], source: str = "config") -> dict[str, str]:
    """``{name: query}`` from an ``[invariants]`` table: ``sql = ["...", {name=..., query=...}]``."""
    section = raw.get("invariants") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: [invariants] must be a table")
    items = section.get("sql") or []
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        raise ConfigError(f"{source}: [invariants] sql must be a list of queries")
    out: dict[str, str] = {}
    for i, item in enumerate(items, 1):
        if isinstance(item, str):
            out[f"sql-{i}"] = item
        elif isinstance(item, Mapping) and isinstance(item.get("query"), str):
            out[str(item.get("name") or f"sql-{i}")] = item["query"]
        else:
            raise ConfigError(f"{source}: [invariants] sql entry {i} must be a query string or a table with 'query'")
    return out


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
