"""Real database servers for tests: PostgreSQL 15, MariaDB and Redis on free loopback ports.

Each server keeps its data in a temporary directory and is stopped (and the directory removed) at
the end. One server is shared per test session; tests get a fresh, empty database on it.

Writes that a restore must undo come from ANOTHER process, the way an API under test writes:
``run_writer_process(url, statements)`` runs them once in a fresh ``python`` process, and
``WriterProcess(url)`` keeps one process with its own open connection (like an API's pool) and
executes batches on request. Run ``python -m support.db_servers writer URL`` to get that process.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .net import free_port, wait_for_port

TESTS_DIR = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
_db_counter = itertools.count(1)


class ServerUnavailable(RuntimeError):
    """The server binary is not installed (scripts/test.sh installs it); tests skip with this reason."""


def _stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_db_counter)}"


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


class PostgresServer:
    """PostgreSQL 15 run as the ``postgres`` OS user (it refuses root), trust auth on 127.0.0.1."""

    superuser = "postgres"

    def __init__(self) -> None:
        if not (PG_BIN / "postgres").exists():
            raise ServerUnavailable(f"PostgreSQL 15 not installed ({PG_BIN}/postgres missing)")
        try:
            self._pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable("no `postgres` OS user to run PostgreSQL as") from exc
        self.port = free_port()
        self.host = "127.0.0.1"
        self.tmp = Path(tempfile.mkdtemp(prefix="venom-pg-"))
        os.chown(self.tmp, self._pw.pw_uid, self._pw.pw_gid)
        self.datadir = self.tmp / "data"
        self.proc: subprocess.Popen | None = None

    def _as_postgres(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.tmp), "LC_ALL": "C.UTF-8"}
        return subprocess.run(list(args), user=self._pw.pw_uid, group=self._pw.pw_gid, extra_groups=[],
                              env=env, cwd=self.tmp, capture_output=True, text=True, **kwargs)

    def start(self) -> PostgresServer:
        done = self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                                  "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.tmp), "LC_ALL": "C.UTF-8"}
        # Durability settings off: the data dir is thrown away; this only makes tests faster.
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.datadir), "-p", str(self.port), "-k", str(self.tmp),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB"],
            user=self._pw.pw_uid, group=self._pw.pw_gid, extra_groups=[], env=env, cwd=self.tmp,
            stdout=subprocess.DEVNULL, stderr=open(self.tmp / "server.log", "wb"),
        )
        wait_for_port(self.port, proc=self.proc)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 20.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def dsn(self) -> str:
        return self.url("postgres")

    def url(self, dbname: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.superuser}@{self.host}:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        """Run one statement in autocommit on a short-lived admin connection."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str | None = None) -> str:
        name = name or _unique_name("t")
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_role(self, name: str, *, superuser: bool = False, owns: str | None = None) -> str:
        """A login role (trust auth: no password). ``owns`` makes it the owner of that database."""
        if not self.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{name}'"):
            self.execute(f'CREATE ROLE "{name}" LOGIN {"SUPERUSER" if superuser else "NOSUPERUSER"}')
        if owns:
            self.execute(f'ALTER DATABASE "{owns}" OWNER TO "{name}"')
            self.execute(f'ALTER SCHEMA public OWNER TO "{name}"', dbname=owns)
        return name

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGINT)  # SIGINT = fast shutdown
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------------------------


class MariaDBServer:
    """MariaDB with a real grant system (no --skip-grant-tables), root without password on 127.0.0.1."""

    superuser = "root"

    def __init__(self) -> None:
        if not Path(MARIADBD).exists() or not Path(MARIADB_INSTALL_DB).exists():
            raise ServerUnavailable("MariaDB not installed (mariadbd / mariadb-install-db missing)")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.tmp = Path(tempfile.mkdtemp(prefix="venom-maria-"))
        self.datadir = self.tmp / "data"
        self.socket = self.tmp / "mysqld.sock"
        self.proc: subprocess.Popen | None = None

    def start(self) -> MariaDBServer:
        done = subprocess.run(
            [MARIADB_INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            capture_output=True, text=True, cwd=self.tmp,
        )
        if done.returncode:
            raise RuntimeError(f"mariadb-install-db failed: {done.stderr.strip() or done.stdout.strip()}")
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve",
             f"--pid-file={self.tmp / 'mysqld.pid'}", f"--log-error={self.tmp / 'server.log'}",
             "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=128M",
             "--innodb-doublewrite=0", "--sync-binlog=0", "--max-connections=200",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp,
        )
        wait_for_port(self.port, proc=self.proc, timeout=60)
        self._grant_root_over_tcp()
        return self

    def _grant_root_over_tcp(self) -> None:
        import pymysql

        # install-db creates root@localhost only; TCP clients arrive as 127.0.0.1 (skip-name-resolve).
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn, conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")

    @property
    def dsn(self) -> str:
        return self.url("")

    def url(self, dbname: str = "", user: str | None = None) -> str:
        return f"mysql://{user or self.superuser}@{self.host}:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str | None = None) -> list[tuple]:
        import pymysql

        conn = pymysql.connect(host=self.host, port=self.port, user="root", database=dbname or None,
                               autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str | None = None) -> str:
        name = name or _unique_name("t")
        self.execute(f"CREATE DATABASE `{name}`")
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def create_user(self, name: str, grants: Sequence[str] = ()) -> str:
        """A TCP login user without password; ``grants`` like ``"SELECT, INSERT ON db.*"``."""
        self.execute(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")
        self.execute(f"CREATE USER '{name}'@'127.0.0.1'")
        for grant in grants:
            self.execute(f"GRANT {grant} TO '{name}'@'127.0.0.1'")
        return name

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------


class RedisServer:
    """redis-server without persistence; tests get a fresh (flushed) logical database number."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("redis-server not installed")
        self.binary = binary
        self.port = free_port()
        self.host = "127.0.0.1"
        self.tmp = Path(tempfile.mkdtemp(prefix="venom-redis-"))
        self.proc: subprocess.Popen | None = None
        # Tests get databases 1..47 (reused after flushing); 48..63 stay free as spares for SWAPDB
        # mode and recovery baselines; db 0 stays untouched for manual poking.
        self.databases = 64
        self.test_dbs = range(1, 48)
        self._next_db = itertools.cycle(self.test_dbs)

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.tmp),
             "--save", "", "--appendonly", "no", "--databases", str(self.databases)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    @property
    def dsn(self) -> str:
        return self.url(0)

    def url(self, dbname: int | str = 0) -> str:
        return f"redis://{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh logical database number (flushed), returned as a string like the others."""
        import redis

        number = int(name) if name is not None else next(self._next_db)
        if number >= self.databases:
            raise RuntimeError(f"out of Redis logical databases ({self.databases})")
        redis.Redis(host=self.host, port=self.port, db=number).flushdb()
        return str(number)

    def drop_database(self, name: str) -> None:
        import redis

        redis.Redis(host=self.host, port=self.port, db=int(name)).flushdb()

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Writes from another process
# --------------------------------------------------------------------------------------------
# A statement is SQL text, or [SQL, params] for a parametrised one; for Redis a list of command
# words such as ["SET", "k", "v"]. Each batch commits at its end. Results: one entry per statement,
# the fetched rows (lists) for SQL that returns rows, the reply for Redis, else null.


def _connect(url: str):
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme in ("postgresql", "postgres"):
        import psycopg

        return "pg", psycopg.connect(url)
    if scheme in ("mysql", "mariadb"):
        import pymysql

        from venom_replay.adapters.mysql.table import connect_args

        return "mysql", pymysql.connect(**connect_args(url), autocommit=False)
    if scheme == "sqlite":
        conn = sqlite3.connect(url[len("sqlite:///"):] if url.startswith("sqlite:///") else parts.path,
                               timeout=30, isolation_level=None)
        return "sqlite", conn
    if scheme == "redis":
        import redis

        return "redis", redis.Redis.from_url(url)
    raise ValueError(f"unsupported URL for a writer: {url}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _run_batch(kind: str, conn: Any, statements: Sequence[Any]) -> list[Any]:
    results: list[Any] = []
    if kind == "redis":
        for words in statements:
            results.append(_jsonable(conn.execute_command(*words)))
        return results
    if kind == "sqlite":
        conn.execute("BEGIN IMMEDIATE")
    cur = conn.cursor()
    try:
        for stmt in statements:
            sql, params = (stmt, None) if isinstance(stmt, str) else (stmt[0], stmt[1])
            cur.execute(sql, params) if params is not None else cur.execute(sql)
            results.append(_jsonable(cur.fetchall()) if cur.description else None)
        conn.commit() if kind != "sqlite" else conn.execute("COMMIT")
    except BaseException:
        conn.rollback() if kind != "sqlite" else conn.execute("ROLLBACK")
        raise
    return results


def _writer_main(url: str) -> None:
    """Serve batches: one JSON list of statements per stdin line, one JSON reply per stdout line."""
    kind, conn = _connect(url)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {"results": _run_batch(kind, conn, json.loads(line))}
        except Exception as exc:  # reported to the test, which decides
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


class WriterError(RuntimeError):
    pass


class WriterProcess:
    """A separate Python process holding its own open connection, like one connection of an API pool."""

    def __init__(self, url: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH", "")]))
        self.url = url
        self.proc = subprocess.Popen([sys.executable, "-m", "support.db_servers", "writer", url],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=TESTS_DIR)
        first = self.proc.stdout.readline()
        if not first:
            self.proc.wait()
            raise WriterError(f"writer process for {url} exited with {self.proc.returncode}")

    def execute(self, statements: Sequence[Any]) -> list[Any]:
        self.proc.stdin.write(json.dumps(list(statements)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise WriterError(f"writer process for {self.url} died (exit {self.proc.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise WriterError(reply["error"])
        return reply["results"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_writer_process(url: str, statements: Sequence[Any]) -> list[Any]:
    """Run ``statements`` in a brand-new Python process on its own connection, committed."""
    with WriterProcess(url) as writer:
        return writer.execute(statements)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "writer":
        _writer_main(sys.argv[2])
    else:
        sys.exit("usage: python -m support.db_servers writer URL")


# --------------------------------------------------------------------------------------------
# Reading the whole content back through a fresh connection (what a restore must reproduce)
# --------------------------------------------------------------------------------------------


def dump_content(url: str) -> dict[str, Any]:
    """Every user table's rows (sorted) and every sequence / AUTO_INCREMENT value; for Redis every key.

    Objects of venom-replay are left out, so the dump before install equals the dump after uninstall.
    """
    kind, conn = _connect(url.partition("?")[0])
    try:
        if kind == "redis":
            out: dict[str, Any] = {}
            for key in sorted(conn.scan_iter()):
                kind_ = conn.type(key).decode()
                value = {"string": conn.get, "hash": lambda k: sorted(conn.hgetall(k).items()),
                         "set": lambda k: sorted(conn.smembers(k)), "list": lambda k: conn.lrange(k, 0, -1),
                         "zset": lambda k: conn.zrange(k, 0, -1, withscores=True)}[kind_](key)
                out[repr(key)] = (kind_, repr(value), conn.pttl(key) > 0)
            return out
        cur = conn.cursor()
        if kind == "pg":
            cur.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'venom_replay')")
            tables = sorted(r[0] for r in cur.fetchall())
            cur.execute("SELECT schemaname, sequencename, last_value FROM pg_sequences"
                        " WHERE schemaname <> 'venom_replay' ORDER BY 1, 2")
            counters = [tuple(r) for r in cur.fetchall()]
        elif kind == "mysql":
            cur.execute("SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA ="
                        " DATABASE() AND TABLE_NAME NOT LIKE 'venom\\_replay\\_%' ORDER BY 1")
            rows = cur.fetchall()
            tables = [f"`{r[0]}`" for r in rows]
            counters = [tuple(r) for r in rows]
        else:
            tables = sorted(f'"{r[0]}"' for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE 'venom_replay_%'"))
            try:
                counters = sorted(conn.execute("SELECT name, seq FROM sqlite_sequence"))
            except sqlite3.OperationalError:
                counters = []
        out = {"counters": repr(counters)}
        for table in tables:
            cur.execute(f"SELECT * FROM {table}")
            out[table] = sorted(repr(tuple(r)) for r in cur.fetchall())
        if kind != "sqlite":
            conn.rollback()
        return out
    finally:
        conn.close()


def installed_objects(url: str) -> list[str]:
    """Names of venom-replay objects still present in the database (empty after uninstall)."""
    kind, conn = _connect(url.partition("?")[0])
    try:
        if kind == "redis":
            return []
        cur = conn.cursor()
        if kind == "pg":
            cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'venom%' UNION ALL"
                        " SELECT tgname FROM pg_trigger WHERE tgname LIKE 'venom%' UNION ALL"
                        " SELECT proname FROM pg_proc WHERE proname LIKE 'venom%' UNION ALL"
                        " SELECT datname FROM pg_database WHERE datname LIKE 'vr\\_%'")
        elif kind == "mysql":
            cur.execute("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
                        " AND TRIGGER_NAME LIKE 'venom%' UNION ALL SELECT TABLE_NAME FROM information_schema.TABLES"
                        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'venom%'")
        else:
            cur.execute("SELECT name FROM sqlite_master WHERE name LIKE 'venom%'")
        names = [r[0] for r in cur.fetchall()]
        if kind != "sqlite":
            conn.rollback()
        return names
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# A random-writes scenario shared by the per-database property tests
# --------------------------------------------------------------------------------------------

PROPERTY_SCHEMA = {
    "pg": ["CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, qty int)",
           "CREATE TABLE notes (body text, n int)"],  # no primary key on purpose
    "mysql": ["CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT)",
              "CREATE TABLE notes (body VARCHAR(20), n INT)"],
    "sqlite": ["CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INT)",
               "CREATE TABLE notes (body TEXT, n INT)"],
}


def property_write(kind: str, op: tuple) -> list[Any]:
    """The statements of one random write ``op`` for a writer of this database kind."""
    p = "?" if kind == "sqlite" else "%s"
    name, *args = op
    if kind == "redis":
        return {"set": [["SET", f"k{args[0]}", str(args[1])]], "del": [["DEL", f"k{args[0]}"]],
                "hset": [["HSET", "h", f"f{args[0]}", str(args[1])]], "sadd": [["SADD", "s", str(args[1])]],
                "expire": [["SET", f"t{args[0]}", "v", "EX", "100"]]}[name]
    pick = (f"id >= {p} ORDER BY id LIMIT 1" if kind == "mysql"
            else f"id = (SELECT min(id) FROM items WHERE id >= {p})")
    return {
        "insert": [[f"INSERT INTO items (name, qty) VALUES ({p}, {p})", [f"n{args[0]}", args[1]]]],
        "update": [[f"UPDATE items SET qty = {p} WHERE {pick}", [args[1], args[0]]]],
        "delete": [[f"DELETE FROM items WHERE {pick}", [args[0]]]],
        "note": [[f"INSERT INTO notes (body, n) VALUES ({p}, {p})", [f"b{args[0] % 3}", args[1]]]],
        "unnote": [[f"DELETE FROM notes WHERE body = {p}", [f"b{args[0] % 3}"]]],
    }[name]


def run_property_scenario(adapter: Any, url: str, writer: WriterProcess, kind: str, steps: Sequence[tuple]) -> None:
    """Writes from ``writer`` (another process) interleaved with checkpoints and restores.

    After every restore the content must equal the dump taken at that checkpoint, and so must the
    fingerprint. Ends back at the adapter's baseline.
    """
    path = [(adapter.baseline, dump_content(url), adapter.fingerprint())]
    for step in steps:
        if step[0] == "checkpoint":
            path.append((adapter.checkpoint(), dump_content(url), adapter.fingerprint()))
        elif step[0] == "restore":
            index = step[1] % len(path)
            token, expected, fingerprint = path[index]
            if not adapter.can_restore(token):  # e.g. evicted from too few SWAPDB spares: must say so
                from venom_replay.adapters.base import CannotRestore

                try:
                    adapter.restore(token)
                except CannotRestore:
                    continue
                raise AssertionError("restore() did not raise CannotRestore although can_restore() is False")
            adapter.restore(token)
            del path[index + 1:]
            assert dump_content(url) == expected, f"content differs after restoring checkpoint #{index}"
            assert adapter.fingerprint() == fingerprint, f"fingerprint differs after restoring checkpoint #{index}"
        else:
            writer.execute(property_write(kind, step))
    adapter.restore(path[0][0])
    assert dump_content(url) == path[0][1]


def check_random_writes_restore_exactly(url: str, kind: str, examples: int, **adapter_options: Any) -> None:
    """The per-adapter property test: random writes from another process interleaved with checkpoints
    and restores (``run_property_scenario``), then uninstall must leave no object of ours behind."""
    from hypothesis import HealthCheck, given, settings

    with installed_adapter(url, **adapter_options) as adapter, WriterProcess(url) as writer:
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        @given(steps=property_steps(kind))
        def scenario(steps: Sequence[tuple]) -> None:
            run_property_scenario(adapter, url, writer, kind, steps)

        scenario()


@contextlib.contextmanager
def installed_adapter(url: str, **adapter_options: Any) -> Iterator[Any]:
    """An adapter installed on ``url``; afterwards uninstalled, closed, and none of our objects left."""
    from venom_replay.adapters.registry import open_adapter

    adapter = open_adapter(url, **adapter_options)
    adapter.install()
    try:
        yield adapter
    finally:
        adapter.uninstall()
        adapter.close()
    assert installed_objects(url) == []


def check_killed_run_recovered(url: str, writes: Sequence[Any], *, kill: Callable[[Any], None] | None = None,
                               **adapter_options: Any) -> None:
    """A run dies after ``writes`` (nothing restored, nothing uninstalled: ``kill`` drops the adapter's
    connections, close() by default); the next install() puts the baseline back and says so."""
    from venom_replay.adapters.registry import open_adapter

    before = dump_content(url)
    killed = open_adapter(url, **adapter_options)
    killed.install()
    run_writer_process(url, writes)
    (kill or (lambda adapter: adapter.close()))(killed)
    with installed_adapter(url, **adapter_options) as adapter:
        assert dump_content(url) == before
        assert any("killed run" in note for note in adapter.notes), adapter.notes


def property_steps(kind: str):
    """Hypothesis strategy: random writes interleaved with checkpoints and restores."""
    from hypothesis import strategies as st

    small = st.integers(0, 12)
    names = ["set", "del", "hset", "sadd", "expire"] if kind == "redis" else ["insert", "update", "delete",
                                                                              "note", "unnote"]
    write = st.tuples(st.sampled_from(names), small, st.integers(-5, 1000))
    step = st.one_of(write, write, st.just(("checkpoint",)), st.tuples(st.just("restore"), small))
    return st.lists(step, max_size=20)
