"""Faults and bad input as a user meets them: the real command line, its exit code, one line that says
what is wrong (never a traceback), and nothing lost.

The rows of issue 15 gathered here: a recording damaged in the middle (every command says what it
skipped; `record --append` keeps every good record after the damage), databases that cannot be
reached (the URL named, its password masked), the tool's own database connection killed mid-run (the
report written with what was found, the line says whether the databases were restored, and when not,
the `db recover` it names restores them), every configuration section refused alike (unknown
section or key with the nearest known one, a wrong type, with file and key), and a recording of
several hosts (an unknown `--host`). Beside it in tests/hardening/: a target that answers 404 to
everything or accepts connections and never answers (test_target_unlike_recording.py: exit 2, the
first mismatches named) and a target killed mid-run (test_target_outage.py: findings kept, marked
unconfirmed); the configuration sections against the code that reads them (test_config_sections.py).
The replay of a forward recording of two hosts against a live target is tests/proxy/test_multi_host.py;
the reader's own property over thousands of damaged files is tests/proxy/test_recording_damage.py;
an API write transaction left open at a checkpoint is tests/adapters/test_postgres_open_writers.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.db_servers import run_writer_process
from support.net import free_port
from support.orders_expectations import snapshot
from support.proxy import recording_proxy
from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.registry import open_adapter
from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response, read_recording

RECORDS = 12


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The run failed with ``code`` and said why in exactly one line, without a traceback."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def _orders_recording(path: Path, host: str = "127.0.0.1", port: int = 9) -> list[tuple[int, int]]:
    """RECORDS creates of one API; the byte span of each record."""
    spans = []
    with RecordingWriter(path, target=f"http://{host}:{port}") as writer:
        for i in range(1, RECORDS + 1):
            start = path.stat().st_size
            writer.write_exchange(Exchange(
                seq=0, session="s", started=float(i), ended=i + 0.1,
                request=Request("POST", "http", host, port, "/items", headers=[("Content-Type", "application/json")],
                                body=b'{"name": "n%d"}' % i),
                response=Response(201, headers=[("Content-Type", "application/json")], body=b'{"id": %d}' % i)))
            spans.append((start, path.stat().st_size))
    return spans


def _damage(path: Path, offset: int, kind: str, noise: bytes) -> None:
    data = bytearray(path.read_bytes())
    if kind == "type-byte":
        data[offset] = 0xC1  # a byte msgpack never uses
    else:
        data[offset:offset + 16] = noise if kind == "random" else bytes(16)
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- recordings


def test_a_missing_file_and_a_file_that_is_no_recording(tmp_path):
    missing = one_error_line(cli("templates", "nope.vrec", cwd=tmp_path))
    assert "nope.vrec" in missing and "no such file" in missing
    (tmp_path / "notes.txt").write_text("not a recording\n" * 20)
    for command in ("show", "graph"):
        line = one_error_line(cli(command, "notes.txt", cwd=tmp_path))
        assert "notes.txt" in line


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["type-byte", "random", "zeros"]), which=st.integers(2, RECORDS - 1),
       noise=st.binary(min_size=16, max_size=16))
def test_a_record_damaged_in_the_middle_costs_only_itself_and_is_reported(tmp_path_factory, kind, which, noise):
    folder = tmp_path_factory.mktemp("damaged")
    path = folder / "r.vrec"
    spans = _orders_recording(path)
    start, _ = spans[which - 1]
    _damage(path, start, kind, noise)

    shown = cli("show", str(path), "--json", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["exchanges"] == RECORDS - 1 and not summary["torn_tail"]  # the records after it were read
    assert [s["offset"] for s in summary["skipped"]] == [start]

    learned = cli("templates", str(path), "--json", cwd=folder)
    assert learned.returncode == 0, learned.stderr
    data = json.loads(learned.stdout)
    assert sum(t["count"] for t in data["templates"]) == RECORDS - 1
    assert f"unreadable bytes at offset {start}" in " ".join(learned.stderr.split())


def test_record_append_after_a_damaged_middle_keeps_every_good_record(crud_api, tmp_path):
    path = tmp_path / "r.vrec"
    spans = _orders_recording(path, port=crud_api.port)
    _damage(path, spans[RECORDS // 2][0], "zeros", b"")
    before = path.read_bytes()
    kept = [ex.seq for ex in read_recording(path).exchanges]
    assert len(kept) == RECORDS - 1

    with recording_proxy(crud_api.url, path, "--append") as proxy:
        client = requests.Session()
        client.trust_env = False
        assert client.get(proxy.url + "/items").status_code == 200
    assert proxy.proc.returncode == 0, proxy.stderr
    assert path.read_bytes()[:len(before)] == before  # not one byte of the file was removed
    after = read_recording(path)
    assert [ex.seq for ex in after.exchanges] == [*kept, RECORDS + 1]
    assert after.exchanges[-1].request.path == "/items" and after.skipped


# ---------------------------------------------------------------- databases


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_database_that_cannot_be_reached_is_one_line_naming_it(tmp_path, scheme):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    url = f"{scheme}://app:s3cret@127.0.0.1:{free_port()}/shop"
    line = one_error_line(cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--db", url,
                              "--report", "out", cwd=tmp_path))
    assert url.replace("s3cret", "***") in line and "cannot connect" in line
    assert "s3cret" not in line
    assert not (tmp_path / "out" / "report.json").exists()


def test_a_database_url_of_an_unknown_kind(tmp_path):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    line = one_error_line(cli("explore", str(recording), "--target", "http://127.0.0.1:9",
                              "--db", "oracle://app:s3cret@127.0.0.1/shop", "--report", "out", cwd=tmp_path))
    assert "oracle" in line and "s3cret" not in line


# The test's fault injection, as a real --invariants file: never fails; after KILL_AFTER checks it
# terminates the tool's own PostgreSQL connections (application_name venom-replay) from a connection
# of its own and, with BLOCK_DB=1, first stops the database from taking new connections.
KILL_THE_TOOLS_CONNECTION = """
import os
import psycopg
import psycopg.conninfo

checks = 0

def invariant_kills_the_tools_database_connection(step, path):
    "never fails: the fault is the point"
    global checks
    checks += 1
    if checks != int(os.environ["KILL_AFTER"]):
        return True
    name = psycopg.conninfo.conninfo_to_dict(os.environ["KILL_DB"])["dbname"]
    with psycopg.connect(os.environ["KILL_DB"], dbname="postgres", autocommit=True) as conn:
        if os.environ.get("BLOCK_DB") == "1":
            conn.execute('ALTER DATABASE "' + name + '" ALLOW_CONNECTIONS false')
        pids = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'venom-replay'"
                            " AND datname = %s", (name,)).fetchall()
        assert pids, "the tool's connection shows as venom-replay"
        for (pid,) in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return True
"""
KILL_AFTER_CHECKS = 40
"""After the replay of the recording (23 steps), in the search, once findings were made."""


def _explore_and_kill(db: str, api_url: str, recording: Path, cwd: Path, *, block: bool) -> subprocess.CompletedProcess:
    invariants = cwd / "kill.py"
    invariants.write_text(KILL_THE_TOOLS_CONNECTION)
    return subprocess.run(
        [sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), "--target", api_url, "--db", db,
         "--report", "out", "--depth", "3", "--invariants", str(invariants)],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "KILL_AFTER": str(KILL_AFTER_CHECKS), "KILL_DB": db, "BLOCK_DB": "1" if block else "0"})


def _error_lines(done: subprocess.CompletedProcess, code: int) -> list[str]:
    assert done.returncode == code, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def test_the_tools_postgres_connection_killed_mid_run_ends_restored_with_the_report(
        postgres_server, orders_api, record_orders, tmp_path):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db)
    recording = record_orders(api.url)
    before = snapshot(db)

    done = _explore_and_kill(db, api.url, recording, tmp_path, block=False)
    [line] = _error_lines(done, 2)
    assert line == (f"error: the connection to {db} was lost mid-run (terminating connection due to administrator "
                    "command); databases restored")
    assert snapshot(db) == before  # rows, sequences, and none of our schema or triggers left

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["db_restored"] is True and report["exit_code"] == 2 and report["problems"] == [line[len("error: "):]]
    assert report["stopped"] == "database-lost", report["stopped"]
    assert report["findings"], "the findings made before the connection was lost are reported"
    assert all(any("connection to a database was lost" in n for n in f["notes"]) for f in report["findings"])
    assert "databases restored" in (tmp_path / "out" / "summary.md").read_text()


def test_the_tools_postgres_connection_killed_and_not_back_names_db_recover_which_restores(
        postgres_server, orders_api, record_orders, tmp_path):
    name = postgres_server.create_database()
    db = postgres_server.url(name)
    api = orders_api(db)
    recording = record_orders(api.url)
    before = snapshot(db)

    done = _explore_and_kill(db, api.url, recording, tmp_path, block=True)
    [line] = _error_lines(done, 3)
    recover = f"venom-replay db recover --db {db}"
    assert line == (f"error: the connection to {db} was lost mid-run (terminating connection due to administrator "
                    f"command); databases NOT restored: run `{recover}`")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["db_restored"] is False and report["exit_code"] == 3 and report["findings"]
    failed = [w for w in report["warnings"] if w.startswith("the final restore failed")]
    assert len(failed) == 1 and f"cannot connect to {db}" in failed[0], report["warnings"]

    postgres_server.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    assert snapshot(db) != before  # the run's writes and our journal are still there
    recovered = cli(*recover.split()[1:], cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "baseline restored" in recovered.stdout
    assert snapshot(db) == before


MARIADB_SHOP = [
    "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INT NOT NULL)",
    "INSERT INTO items (name, qty) VALUES ('book', 1), ('lamp', 2)",
]


def _mariadb_content(server, name: str) -> list[tuple]:
    rows = server.execute("SELECT id, name, qty FROM items ORDER BY id", name)
    tables = server.execute("SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                            f"'{name}' AND TABLE_NAME NOT LIKE 'venom%' ORDER BY 1")
    return [*rows, *tables]


def test_the_tools_mariadb_connection_killed_is_said_and_restored_on_a_new_connection(mariadb_server):
    name = mariadb_server.create_database()
    url = mariadb_server.url(name)
    run_writer_process(url, MARIADB_SHOP)
    adapter = open_adapter(url)
    try:
        adapter.install()
        installed = _mariadb_content(mariadb_server, name)
        baseline, fp = adapter.baseline, adapter.fingerprint()
        run_writer_process(url, ["INSERT INTO items (name, qty) VALUES ('pen', 3)", "UPDATE items SET qty = 9 WHERE id = 1",
                                 "DELETE FROM items WHERE id = 2"])
        # Ours is the one connection to this database left: the writer's process has ended.
        [[ours]] = mariadb_server.execute(f"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{name}'"
                                          " AND ID <> CONNECTION_ID()")
        mariadb_server.execute(f"KILL CONNECTION {ours}")
        with pytest.raises(AdapterError) as lost:
            adapter.restore(baseline)
        assert str(lost.value).startswith(f"the connection to {url} was lost (")
        assert lost.value.lost_database == url
        adapter.restore(baseline)  # on a new connection: the journal still holds every change
        assert adapter.fingerprint() == fp
        assert _mariadb_content(mariadb_server, name) == installed
    finally:
        adapter.uninstall()
        adapter.close()


# ---------------------------------------------------------------- configuration

BAD_CONFIGS = [
    # (file text, command, what the one line says after "<file>: ")
    ("[explore]\ndepht = 4\n", "explore", "[explore] unknown key 'depht' (did you mean depth?)"),
    ('[explore]\ndepth = "four"\n', "explore", "[explore] depth = 'four': expected a whole number"),
    ("[explore]\ntimeout = true\n", "explore", "[explore] timeout = True: expected a number"),
    ("[templates]\nignroe = []\n", "templates", "[templates] unknown key 'ignroe' (did you mean ignore?)"),
    ("[templates]\nhost = 3\n", "graph", "[templates] host = 3: expected a string"),
    ("[learned]\nmin_suport = 3\n", "explore", "[learned] unknown key 'min_suport' (did you mean min_support?)"),
    ("[learned]\nmin_support = 2.5\n", "invariants", "[learned] min_support = 2.5: expected a whole number"),
    ("[invariants]\nsqll = []\n", "explore", "[invariants] unknown key 'sqll' (did you mean sql?)"),
    ("[[invariants.sql]]\nname = 'one'\nqeury = 'SELECT 1'\n", "explore",
     "[invariants] sql entry 1: unknown key 'qeury' (did you mean query?)"),
    ("[explroe]\ndepth = 4\n", "graph", "unknown section [explroe] (did you mean [explore]?)"),
    ("depth = 4\n", "templates", "depth must be inside a section (did you mean [explore] depth?)"),
]


def _run_with_config(command: str, recording: Path, cwd: Path) -> subprocess.CompletedProcess:
    if command == "explore":
        return cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--report", "out", cwd=cwd)
    return cli(command, str(recording), cwd=cwd)


@pytest.mark.parametrize(("text", "command", "expected"), BAD_CONFIGS, ids=[e for _, _, e in BAD_CONFIGS])
def test_every_config_section_is_checked_alike(tmp_path, text, command, expected):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    config = tmp_path / "venom.toml"
    config.write_text(text)
    line = one_error_line(_run_with_config(command, recording, tmp_path))
    assert line == f"error: {config}: {expected}"
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_pyproject_sections_are_checked_and_named_as_written(tmp_path):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "shop"\n[tool.venom-replay.explore]\ndepht = 4\n')
    line = one_error_line(_run_with_config("explore", recording, tmp_path))
    assert line == f"error: {pyproject}: [tool.venom-replay.explore] unknown key 'depht' (did you mean depth?)"


def test_a_correct_config_with_every_section_is_accepted(tmp_path):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    (tmp_path / "venom.toml").write_text(
        '[templates]\nhost = "127.0.0.1:9"\nignore = ["GET /health"]\n'
        "[explore]\ndepth = 2\ntimeout = 2.5\nlearned = false\n"
        '[[invariants.sql]]\nname = "none"\nquery = "SELECT 1 WHERE 1 = 0"\n'
        "[learned]\nmin_support = 4\nmin_confidence = 0.6\n")
    done = cli("templates", str(recording), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [t["id"] for t in json.loads(done.stdout)["templates"]] == ["POST /items"]


# ---------------------------------------------------------------- recordings of several hosts


def test_a_host_the_recording_does_not_hold_is_one_line_before_anything_runs(tmp_path):
    recording = tmp_path / "two.vrec"
    with RecordingWriter(recording) as writer:
        for host, port, path in (("127.0.0.1", 9, "/items"), ("127.0.0.1", 9, "/items"), ("pay.example", 443, "/charges")):
            writer.write_exchange(Exchange(
                seq=0, session="c", started=1.0, ended=1.1,
                request=Request("POST", "http", host, port, path, headers=[("Content-Type", "application/json")], body=b"{}"),
                response=Response(201, headers=[("Content-Type", "application/json")], body=b'{"id": 1}')))
    line = one_error_line(cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--host", "shop.example",
                              "--report", "out", cwd=tmp_path))
    assert line == ("error: --host shop.example: the recording holds no answered calls to it; "
                    "it holds 127.0.0.1:9 (2), pay.example:443 (1)")
    assert not (tmp_path / "out" / "report.json").exists()
