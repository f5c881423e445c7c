"""Open the right adapter for a database URL.

    open_adapter("postgresql://app@127.0.0.1:5432/shop")                 # trigger journal (default)
    open_adapter("postgresql://.../shop", mode="template")               # full copies; cuts off the pool
    open_adapter("mysql://root@127.0.0.1:3306/shop")                     # MariaDB / MySQL journal
    open_adapter("sqlite:///var/app.db?mode=backup")                     # backup API snapshots
    open_adapter("redis://127.0.0.1:6379/0", mode="swapdb")              # spare databases + SWAPDB
    open_adapter("dir:///srv/app/uploads")                               # a file tree, through inotify

Options may also come from the URL query (``?mode=backup&volatile=orders.updated_at``); the query is
removed before connecting. ``volatile`` / ``volatile_columns``: ``table.column`` entries left out of
fingerprints (for Redis: ``volatile_keys`` glob patterns).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from venom_replay.adapters.base import Adapter, AdapterError
from venom_replay.proxy.redact import mask_url_password

__all__ = ["MODES", "DatabaseIdentity", "database_identity", "database_kind", "open_adapter", "split_options"]

MODES = {
    "postgresql": ("journal", "template", "savepoint"),
    "mysql": ("journal",),
    "sqlite": ("triggers", "backup"),
    "redis": ("dump", "swapdb"),
    "dir": ("inotify",),
}
SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql",
           "sqlite": "sqlite", "redis": "redis", "dir": "dir"}
LIST_OPTIONS = ("volatile_columns", "volatile_keys", "spare_dbs")


def split_options(url: str) -> tuple[str, dict[str, Any]]:
    """The URL without our query options, and those options."""
    base, _, query = url.partition("?")  # not urlunsplit: it turns sqlite:////abs into sqlite://abs
    options: dict[str, Any] = {}
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        key = {"volatile": "volatile_columns"}.get(key, key)
        if key in LIST_OPTIONS:
            options.setdefault(key, []).extend(v for v in value.split(",") if v)
        elif key in ("mode", "baseline_db", "maintenance_db", "grace_seconds", "reset_auto_increment"):
            options[key] = value
        else:
            kept.append((key, value))
    rest = "&".join(f"{k}={v}" for k, v in kept)
    return base + ("?" + rest if rest else ""), options


def database_kind(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+")[0].lower()
    kind = SCHEMES.get(scheme)
    if kind is None:
        raise AdapterError(f"unsupported database URL {mask_url_password(url)!r}: expected postgresql://, mysql://, mariadb://,"
                           " sqlite:///, redis:// or dir:/// (a directory tree)")
    return kind


DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "redis": 6379}


class DatabaseIdentity(NamedTuple):
    """Which database a URL names, whatever its options, password or scheme spelling."""

    kind: str
    """postgresql, mysql, sqlite or redis."""
    name: str
    """The database name; SQLite: the file's name; Redis: the logical database number."""
    address: str
    """host:port; SQLite: the file's absolute path."""

    def __str__(self) -> str:
        return f"{self.kind} database {self.name!r} at {self.address}"


def database_identity(url: str) -> DatabaseIdentity:
    """The kind, name and address of the database ``url`` names (a start state is matched by them)."""
    kind = database_kind(url)
    clean, _ = split_options(url)
    if kind == "dir":
        path = os.path.normpath(clean[len("dir://"):])
        return DatabaseIdentity(kind, os.path.basename(path), os.path.abspath(path))
    if kind == "sqlite":
        path = clean[len("sqlite:///"):] if clean.startswith("sqlite:///") else urlsplit(clean).path
        return DatabaseIdentity(kind, os.path.basename(path), os.path.abspath(path))
    parts = urlsplit(clean)
    # PostgreSQL takes the user's name when the URL names no database; Redis takes database 0.
    default = {"redis": "0", "postgresql": unquote(parts.username or "")}.get(kind, "")
    name = unquote(parts.path.strip("/")) or default
    return DatabaseIdentity(kind, name, f"{parts.hostname or '127.0.0.1'}:{parts.port or DEFAULT_PORTS[kind]}")


def open_adapter(url: str, **options: Any) -> Adapter:
    """An adapter for ``url``; nothing is installed until ``install()``."""
    kind = database_kind(url)
    clean_url, url_options = split_options(url)
    options = {**url_options, **options}
    mode = options.pop("mode", None) or MODES[kind][0]
    if mode not in MODES[kind]:
        raise AdapterError(f"unknown mode {mode!r} for {kind}: choose one of {', '.join(MODES[kind])}")
    if isinstance(options.get("reset_auto_increment"), str):
        options["reset_auto_increment"] = options["reset_auto_increment"].lower() not in ("0", "false", "no")
    if "grace_seconds" in options:
        options["grace_seconds"] = float(options["grace_seconds"])
    if kind == "postgresql":
        if mode == "template":
            from venom_replay.adapters.postgres.template import PostgresTemplateAdapter as cls
        elif mode == "savepoint":
            from venom_replay.adapters.postgres.savepoint import PostgresSavepointAdapter as cls
        else:
            from venom_replay.adapters.postgres.journal import PostgresJournalAdapter as cls
    elif kind == "mysql":
        from venom_replay.adapters.mysql.journal import MySQLJournalAdapter as cls
        clean_url = "mysql" + clean_url[clean_url.index("://"):]
    elif kind == "dir":
        from venom_replay.adapters.files import FileTreeAdapter as cls
    elif kind == "sqlite":
        from venom_replay.adapters.sqlite import SQLiteBackupAdapter, SQLiteTriggerAdapter
        cls = SQLiteBackupAdapter if mode == "backup" else SQLiteTriggerAdapter
    else:
        from venom_replay.adapters.redis.adapter import RedisDumpAdapter, RedisSwapAdapter
        cls = RedisSwapAdapter if mode == "swapdb" else RedisDumpAdapter
    try:
        return cls(clean_url, **options)
    except TypeError as exc:
        raise AdapterError(f"bad option for {kind} ({mode} mode): {exc}") from exc
