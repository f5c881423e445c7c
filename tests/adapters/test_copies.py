"""Database copies for the replicas of `explore --workers N` (adapters/copies/), on real servers.

Each kind: the copy holds what the source holds (adapter fingerprints and a full dump compared), a
write to the copy from another process leaves the source alone, a drop removes it; copies of a killed
run are found and dropped by `db recover`, a live run's never.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from support.db_servers import dump_content, installed_objects, run_writer_process
from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies import copy_database, drop_copy, leftover_copies
from venom_replay.adapters.copies import redis as redis_copies
from venom_replay.adapters.copies.registry import registry_directory, runs
from venom_replay.adapters.registry import open_adapter


@pytest.fixture(autouse=True)
def registry_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own registry of copies (child processes inherit it)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def installed_fingerprint(url: str) -> str:
    """The rollback adapter's fingerprint of the content (installed, then removed again)."""
    with open_adapter(url) as adapter:
        adapter.install()
        try:
            return adapter.fingerprint()
        finally:
            adapter.uninstall()


def copy_in_killed_run(url: str, replica: int, run_id: str) -> str:
    """Copy in another process that is then killed with SIGKILL, as a killed `explore --workers` run."""
    code = ("import os, sys\nfrom venom_replay.adapters.copies import copy_database\n"
            "print(copy_database(sys.argv[1], int(sys.argv[2]), sys.argv[3]), flush=True)\n"
            "os.kill(os.getpid(), 9)")
    done = subprocess.run([sys.executable, "-c", code, url, str(replica), run_id], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == -9, done.stderr
    return done.stdout.strip()


def db_recover(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "db", "recover", "--db", url],
                          capture_output=True, text=True, timeout=60, check=False)


def pg_databases(postgres_server) -> set[str]:
    return {r[0] for r in postgres_server.execute("SELECT datname FROM pg_database")}


PG_SCHEMA = [
    "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers(id), total numeric(8,2))",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 10",
    "INSERT INTO customers (name) VALUES ('ann'), ('bob'), ('cy')",
    "DELETE FROM customers WHERE name = 'cy'",  # the sequence stands beyond the last row
    "INSERT INTO orders (customer, total) VALUES (1, 12.5), (2, 3)",
]


# ---------------------------------------------------------------------------------------------- PostgreSQL


def test_postgres_copy_holds_the_content_and_is_independent(postgres_server, pg_url):
    run_writer_process(pg_url, PG_SCHEMA)
    source_url = pg_url + "?mode=template"
    source_dump = dump_content(pg_url)

    copy_url = copy_database(source_url, 1, "t1")

    name = pg_url.rsplit("/", 1)[1]
    assert copy_url == pg_url + "__vr_t1_1?mode=template"  # same form, options kept
    assert open_adapter(copy_url).fingerprint() == open_adapter(source_url).fingerprint()
    assert dump_content(copy_url) == source_dump  # sequences included
    # The API of a replica writes to its copy: the source does not change, the copy's sequence goes on.
    written = run_writer_process(copy_url.partition("?")[0], ["INSERT INTO customers (name) VALUES ('dan') RETURNING id"])
    assert written == [[[4]]]
    assert dump_content(pg_url) == source_dump
    assert open_adapter(copy_url).fingerprint() != open_adapter(source_url).fingerprint()

    drop_copy(copy_url)
    drop_copy(copy_url)  # idempotent
    assert f"{name}__vr_t1_1" not in pg_databases(postgres_server)
    assert runs() == []


def test_postgres_copy_leaves_out_an_installed_journal(pg_url):
    run_writer_process(pg_url, PG_SCHEMA)
    source_fingerprint = installed_fingerprint(pg_url)
    journal = open_adapter(pg_url)
    journal.install()  # left installed, as by a coordinator that imported a start state first
    journal.close()
    try:
        copy_url = copy_database(pg_url, 0, "t2")
        assert installed_objects(copy_url) == []
        assert installed_objects(pg_url)  # the source keeps its own
        assert installed_fingerprint(copy_url) == source_fingerprint
        drop_copy(copy_url)
    finally:
        with open_adapter(pg_url) as adapter:
            adapter.uninstall()


def test_postgres_refuses_a_source_with_other_sessions(postgres_server, pg_url, writer_process):
    run_writer_process(pg_url, PG_SCHEMA)
    secret_url = pg_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores the password
    api = writer_process(pg_url)  # the API's pool holds a connection
    api.execute(["SELECT 1"])
    with pytest.raises(AdapterError) as raised:
        copy_database(secret_url, 1, "t3")
    message = str(raised.value)
    assert "1 other session(s) are connected" in message and "stop the API" in message
    assert "s3cret" not in message and "postgres:***@" in message and "\n" not in message
    assert not {d for d in pg_databases(postgres_server) if "__vr_t3" in d}
    assert runs() == []  # the claim is forgotten when the copy fails
    api.close()
    copy_url = copy_database(secret_url, 1, "t3")  # the API stopped: now it can
    assert "postgres:s3cret@" in copy_url  # the copy's URL is the source's form, password included
    drop_copy(copy_url)


def test_killed_runs_copies_are_found_and_dropped_by_db_recover(postgres_server, pg_url, tmp_path):
    run_writer_process(pg_url, PG_SCHEMA)
    killed = [copy_in_killed_run(pg_url, replica, "dead1") for replica in (1, 2)]
    live = copy_database(pg_url, 1, "live1")  # this process still runs: never a leftover

    assert sorted(leftover_copies(pg_url)) == sorted(killed)
    done = db_recover(pg_url)
    assert done.returncode == 0, done.stderr
    assert "dropped 2 copies left by a killed run" in done.stdout
    assert all(url.rsplit("/", 1)[1] in done.stdout for url in killed)
    databases = pg_databases(postgres_server)
    assert not any(url.rsplit("/", 1)[1] in databases for url in killed)
    assert live.rsplit("/", 1)[1] in databases
    assert leftover_copies(pg_url) == []
    assert "dropped" not in db_recover(pg_url).stdout  # nothing left the second time

    # SQLite: the same through the registry, for a file next to the source.
    sqlite_url = f"sqlite:///{tmp_path / 'app.db'}"
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    dead_file = copy_in_killed_run(sqlite_url, 3, "dead2")
    assert Path(dead_file[len("sqlite:///"):]).exists()
    done = db_recover(sqlite_url)
    assert "dropped 1 copy left by a killed run" in done.stdout, done.stdout + done.stderr
    assert not Path(dead_file[len("sqlite:///"):]).exists()
    drop_copy(live)


# ---------------------------------------------------------------------------------------------- MariaDB


MYSQL_SCHEMA = [
    ("CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL,"
     " upper_name VARCHAR(20) AS (UPPER(name)) VIRTUAL)"),
    ("CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, total DECIMAL(8,2),"
     " FOREIGN KEY (customer) REFERENCES customers(id))"),
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40))",
    ("CREATE VIEW big_orders AS SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer"
     " WHERE o.total > 10"),
    ("CREATE TRIGGER customers_audit AFTER INSERT ON customers FOR EACH ROW"
     " INSERT INTO audit (what) VALUES (CONCAT('new ', NEW.name))"),
    "INSERT INTO customers (id, name) VALUES (0, 'zero')",
    "UPDATE customers SET id = 0 WHERE name = 'zero'",  # a row with id 0 must keep it
    "INSERT INTO customers (name) VALUES ('ann'), ('bob'), ('cy')",
    "DELETE FROM customers WHERE name = 'cy'",  # the counter stands beyond the last row
    "INSERT INTO orders (customer, total) VALUES (2, 12.5), (3, 3)",
]


def test_mysql_copy_holds_tables_counters_views_triggers(mariadb_server, mysql_url):
    run_writer_process(mysql_url, MYSQL_SCHEMA)
    source_dump = dump_content(mysql_url)
    source_fingerprint = installed_fingerprint(mysql_url)
    journal = open_adapter(mysql_url)
    journal.install()  # left installed: the copy leaves it out
    journal.close()
    try:
        copy_url = copy_database(mysql_url, 2, "m1")
        assert copy_url == mysql_url + "__vr_m1_2"
        assert installed_objects(copy_url) == []
        assert dump_content(copy_url) == source_dump  # rows (id 0 too) and AUTO_INCREMENT counters
        assert installed_fingerprint(copy_url) == source_fingerprint
        results = run_writer_process(copy_url, [
            "INSERT INTO customers (name) VALUES ('dan')", "SELECT LAST_INSERT_ID()",
            "SELECT what FROM audit ORDER BY id DESC LIMIT 1", "INSERT INTO orders (customer, total) VALUES (5, 20)",
            "SELECT name FROM big_orders ORDER BY id", "SELECT upper_name FROM customers WHERE name = 'dan'"])
        # the counter, the trigger, the view (over the copy's tables), the generated column
        assert results[1:3] + results[4:] == [[[5]], [["new dan"]], [["ann"], ["dan"]], [["DAN"]]]
        assert dump_content(mysql_url) == source_dump  # the trigger wrote to the copy's audit table
        drop_copy(copy_url)
        drop_copy(copy_url)
        assert not mariadb_server.execute(f"SHOW DATABASES LIKE '{copy_url.rsplit('/', 1)[1]}'")
    finally:
        with open_adapter(mysql_url) as adapter:
            adapter.uninstall()


# ---------------------------------------------------------------------------------------------- Redis


@pytest.mark.parametrize("command", ["COPY", "DUMP/RESTORE"])
def test_redis_copy_keeps_keys_and_ttls_and_gets_its_own_adapter_databases(redis_server, redis_url, command,
                                                                           monkeypatch):
    if command == "DUMP/RESTORE":  # what servers older than 6.2 get, run on this one
        monkeypatch.setattr(redis_copies, "COPY_COMMAND", (99, 0))
    run_writer_process(redis_url, [["SET", "user:1", "ann"], ["HSET", "cart:1", "pen", "2"], ["SADD", "tags", "a"],
                                   ["SET", "session:1", "tok", "EX", "300"]])
    source_dump = dump_content(redis_url)
    first = copy_database(redis_url + "?mode=swapdb", 0, "r1")
    second = copy_database(redis_url + "?mode=swapdb", 1, "r1")

    for copy_url in (first, second):
        assert dump_content(copy_url) == source_dump  # TTLs included
        assert "baseline_db=" in copy_url and "spare_dbs=" in copy_url
    adapters = [open_adapter(url) for url in (first, second)]
    used = [{adapter.db, adapter.baseline_db, *adapter.spare_dbs} for adapter in adapters]
    assert not used[0] & used[1]  # two replicas' adapters share no database
    for adapter in adapters:
        adapter.install()  # both at once: no "holds the rollback copies of another database"
    assert adapters[0].fingerprint() == adapters[1].fingerprint() == installed_fingerprint(redis_url)
    for adapter in adapters:
        adapter.uninstall()
        adapter.close()

    run_writer_process(first.partition("?")[0], [["DEL", "user:1"], ["SET", "new", "1"]])
    assert dump_content(redis_url) == source_dump
    for copy_url in (first, second):
        drop_copy(copy_url)
        drop_copy(copy_url)
    for db in set().union(*used):
        assert redis.Redis(host=redis_server.host, port=redis_server.port, db=db).dbsize() == 0
    assert runs() == []


def test_redis_copy_fails_in_one_line_when_no_database_is_free(redis_server, redis_url):
    run_writer_process(redis_url, [["SET", "k", "v"]])
    clients = [redis.Redis(host=redis_server.host, port=redis_server.port, db=db) for db in range(redis_server.databases)]
    occupied = [client for client in clients[1:] if not client.dbsize()]
    try:
        for client in occupied:
            client.set("occupied-by-test", "1")
        with pytest.raises(AdapterError, match=r"no empty Redis database left for copy 0 \(2 needed, 0 free of 64\)"):
            copy_database(redis_url, 0, "r2")
        assert runs() == []
    finally:
        for client in occupied:
            client.delete("occupied-by-test")


# ---------------------------------------------------------------------------------------------- SQLite, files


def test_sqlite_copy_of_a_wal_database_under_a_writer(tmp_path, writer_process):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    url = f"sqlite:///{path}?mode=backup"
    api = writer_process(url.partition("?")[0])
    api.execute([["INSERT INTO notes (body) VALUES (?)", [f"note {i}"]] for i in range(50)])  # still in the WAL

    copy_url = copy_database(url, 0, "s1")

    assert copy_url == f"sqlite:///{tmp_path / 'app__vr_s1_0.db'}?mode=backup"
    assert open_adapter(copy_url).fingerprint() == open_adapter(url).fingerprint()
    assert dump_content(copy_url) == dump_content(url)
    run_writer_process(copy_url.partition("?")[0], ["DELETE FROM notes"])
    assert len(api.execute(["SELECT id FROM notes"])[0]) == 50
    drop_copy(copy_url)
    assert sorted(p.name for p in tmp_path.iterdir() if "__vr_" in p.name) == []


def test_file_tree_copy_keeps_links_and_is_independent(tmp_path):
    tree = tmp_path / "uploads"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "photo.jpg").write_bytes(b"\xff\xd8 picture")
    os.symlink("a/photo.jpg", tree / "latest")
    url = f"dir://{tree}"

    copy_url = copy_database(url, 4, "f1")

    copy = tmp_path / "uploads__vr_f1_4"
    assert copy_url == f"dir://{copy}"
    assert os.readlink(copy / "latest") == "a/photo.jpg"
    assert installed_fingerprint(copy_url) == installed_fingerprint(url)
    (copy / "a" / "photo.jpg").write_bytes(b"changed")
    assert (tree / "a" / "photo.jpg").read_bytes() == b"\xff\xd8 picture"
    replica_adapter = open_adapter(copy_url)
    replica_adapter.install()  # a replica's adapter, killed: its store beside the copy stays
    replica_adapter.close()
    assert (tmp_path / ".uploads__vr_f1_4.venom-replay").exists()
    drop_copy(copy_url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state", "uploads"]


# ---------------------------------------------------------------------------------------------- refusals


def test_refusals_are_one_line(tmp_path):
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    url = f"sqlite:///{path}"
    with pytest.raises(AdapterError, match="run id 'Run-1'"):
        copy_database(url, 0, "Run-1")
    with pytest.raises(AdapterError, match="replica number -1"):
        copy_database(url, -1, "ok")
    copy_url = copy_database(url, 0, "ok")
    with pytest.raises(AdapterError, match="is already a copy made by venom-replay"):
        copy_database(copy_url, 0, "again")
    with pytest.raises(AdapterError, match="refusing to drop .* not a copy"):
        drop_copy(url)
    with pytest.raises(AdapterError, match="run ok already made that copy"):
        copy_database(url, 0, "ok")
    assert len(runs()[0].copies) == 1  # the failed attempt did not drop or forget the first copy
    (tmp_path / "app__vr_other_0.db").write_bytes(b"")  # not ours, not recorded: never overwritten
    with pytest.raises(AdapterError, match="app__vr_other_0.db already exists"):
        copy_database(url, 0, "other")
    assert (tmp_path / "app__vr_other_0.db").exists() and len(runs()) == 1
    drop_copy(copy_url)
    assert path.exists()
    assert registry_directory().is_dir() and not list(registry_directory().glob("*.json"))
