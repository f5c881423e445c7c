"""The self-test behind `venom-replay db check`: does rollback work on THIS database, and how fast?

It creates a scratch table (or Redis keys) through a separate connection, installs the adapter,
takes a checkpoint, writes through another separate connection (insert, update, delete), restores,
reads back through yet another connection and compares. It measures checkpoint and restore latency
over a few rounds, then removes the scratch data and everything the adapter installed.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.registry import MODES, database_kind, open_adapter, split_options

__all__ = ["CheckResult", "run_check"]

SCRATCH = "venom_replay_check"


@dataclass
class CheckResult:
    url: str
    mode: str
    exact: bool
    rounds: int
    checkpoint_ms: float
    restore_ms: float
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "mode": self.mode, "exact": self.exact, "rounds": self.rounds,
                "checkpoint_ms": round(self.checkpoint_ms, 3), "restore_ms": round(self.restore_ms, 3),
                "problems": self.problems, "notes": self.notes}


class Scratch:
    """Separate short-lived connections to the user's database, one per call, like an API's pool."""

    def __init__(self, url: str) -> None:
        self.url, _ = split_options(url)
        self.kind = database_kind(url)

    def _sql(self, statements: list[tuple[str, tuple]], fetch: bool = False) -> list[tuple]:
        rows: list[tuple] = []
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.url, autocommit=False) as conn:
                for sql, args in statements:
                    cur = conn.execute(sql.replace("?", "%s"), args)
                    rows = cur.fetchall() if fetch and cur.description else rows
        elif self.kind == "mysql":
            from venom_replay.adapters.mysql.journal import connect

            conn = connect(self.url)
            try:
                with conn.cursor() as cur:
                    for sql, args in statements:
                        cur.execute(sql.replace("?", "%s"), args)
                        rows = list(cur.fetchall()) if fetch and cur.description else rows
            finally:
                conn.close()
        else:
            from venom_replay.adapters.sqlite import path_from_url

            conn = sqlite3.connect(path_from_url(self.url), timeout=30)
            try:
                for sql, args in statements:
                    cur = conn.execute(sql, args)
                    rows = cur.fetchall() if fetch and cur.description else rows
                conn.commit()
            finally:
                conn.close()
        return [tuple(r) for r in rows]

    def create(self) -> None:
        if self.kind == "redis":
            self._redis().set(f"{SCRATCH}:seed", "seed")
            return
        key = "SERIAL PRIMARY KEY" if self.kind == "postgresql" else (
            "INT AUTO_INCREMENT PRIMARY KEY" if self.kind == "mysql" else "INTEGER PRIMARY KEY AUTOINCREMENT")
        self._sql([(f"CREATE TABLE {SCRATCH} (id {key}, label VARCHAR(40) NOT NULL)", ()),
                   (f"INSERT INTO {SCRATCH} (label) VALUES ('seed-1'), ('seed-2')", ())])

    def write(self, round_no: int) -> None:
        if self.kind == "redis":
            client = self._redis()
            client.set(f"{SCRATCH}:r{round_no}", "x")
            client.set(f"{SCRATCH}:seed", f"changed-{round_no}")
            return
        self._sql([(f"INSERT INTO {SCRATCH} (label) VALUES (?)", (f"round-{round_no}",)),
                   (f"UPDATE {SCRATCH} SET label = ? WHERE label = 'seed-1'", (f"changed-{round_no}",)),
                   (f"DELETE FROM {SCRATCH} WHERE label = 'seed-2'", ())])

    def read(self) -> list[tuple]:
        if self.kind == "redis":
            client = self._redis()
            keys = sorted(client.scan_iter(match=f"{SCRATCH}:*"))
            return [(k, client.get(k)) for k in keys]
        rows = self._sql([(f"SELECT id, label FROM {SCRATCH} ORDER BY id", ())], fetch=True)
        # the id counter too: a restore must also put the sequence back
        counter = {"postgresql": f"SELECT last_value FROM {SCRATCH}_id_seq",
                   "mysql": "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                            f" AND TABLE_NAME = '{SCRATCH}'",
                   "sqlite": f"SELECT seq FROM sqlite_sequence WHERE name = '{SCRATCH}'"}[self.kind]
        return rows + self._sql([(counter, ())], fetch=True)

    def drop(self) -> None:
        if self.kind == "redis":
            client = self._redis()
            for key in list(client.scan_iter(match=f"{SCRATCH}:*")):
                client.delete(key)
            return
        self._sql([(f"DROP TABLE IF EXISTS {SCRATCH}", ())])

    def _redis(self):
        import redis

        return redis.Redis.from_url(self.url)


def run_check(url: str, *, rounds: int = 5, progress: Callable[[str], None] = lambda _: None,
              **options: Any) -> CheckResult:
    scratch = Scratch(url)
    _, url_options = split_options(url)
    mode = options.get("mode") or url_options.get("mode") or MODES[scratch.kind][0]
    problems: list[str] = []
    checkpoint_times: list[float] = []
    restore_times: list[float] = []
    adapter = open_adapter(url, **options)
    check_permissions = getattr(adapter, "check_permissions", None)
    if check_permissions is not None:  # a missing grant fails before we create anything
        try:
            check_permissions()
        except AdapterError:
            adapter.close()
            raise
    progress("creating scratch data through a separate connection")
    scratch.create()
    try:
        progress("installing")
        adapter.install()
        expected_fp = adapter.fingerprint()
        for round_no in range(1, rounds + 1):
            before = scratch.read()
            started = time.perf_counter()
            token = adapter.checkpoint()
            checkpoint_times.append((time.perf_counter() - started) * 1000)
            scratch.write(round_no)
            if scratch.read() == before:
                problems.append("the separate connection's write was not visible")
            started = time.perf_counter()
            adapter.restore(token)
            restore_times.append((time.perf_counter() - started) * 1000)
            after = scratch.read()
            if after != before:
                problems.append(f"round {round_no}: content after restore differs: {after!r} != {before!r}")
            if adapter.fingerprint() != expected_fp:
                problems.append(f"round {round_no}: fingerprint after restore differs from the checkpoint's")
            progress(f"round {round_no}/{rounds}: restore {restore_times[-1]:.2f} ms")
        notes = list(adapter.notes)
    finally:
        try:
            if adapter.baseline is not None:
                adapter.restore(adapter.baseline)
            adapter.uninstall()
            adapter.close()
        finally:
            scratch.drop()
    if not restore_times:
        raise AdapterError("self-test did not complete a round")
    return CheckResult(url=split_options(url)[0], mode=mode, exact=not problems, rounds=rounds,
                       checkpoint_ms=statistics.median(checkpoint_times),
                       restore_ms=statistics.median(restore_times), problems=problems, notes=notes)
