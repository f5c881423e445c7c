"""Database handles for invariants: one connection of our own per --db URL, opened with one-line errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.proxy.redact import mask_url_password


def _is_redis(handle: Any) -> bool:
    return type(handle).__module__.startswith("redis")


def _is_sql(handle: Any) -> bool:
    """A SQL connection (not Redis, not a file tree's path)."""
    return not _is_redis(handle) and not isinstance(handle, Path)


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
    if scheme == "dir":  # a file tree (dir:///path): invariants read it through its path
        return Path(url[len("dir://"):])
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
