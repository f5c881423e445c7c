"""Invariants aimed at one of several databases, and invariants that cannot run.

The orders API runs in its own process on one real database (PostgreSQL or SQLite) and writes it; a
second real database beside it holds a ledger whose ``shipments`` table lists an order once per
parcel, so the same order twice is normal there. "One shipment per order" holds on the API's own
database only, where the planted bug (shipping twice books two shipments) breaks it: aimed there, it
finds that bug and nothing on the ledger; a query that cannot run is one set-up error, not a finding.
Everything runs through the real `venom-replay` CLI.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.db_servers import run_writer_process
from support.orders_expectations import snapshot
from venom_replay.proxy.errors import ConfigError
from venom_replay.replay.checkers.user_invariants import (
    database_names,
    resolve_database,
)

ONE_SHIPMENT = "SELECT order_id FROM shipments GROUP BY order_id HAVING count(*) > 1"
LEDGER = [
    "CREATE TABLE shipments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, parcel TEXT NOT NULL)",
    "INSERT INTO shipments (id, order_id, parcel) VALUES (1, 7, 'box 1 of 2'), (2, 7, 'box 2 of 2')",
    "CREATE TABLE payouts (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)",
    "INSERT INTO payouts (id, amount) VALUES (1, 500)",
]

LEDGER_INVARIANTS_PY = '''
from venom_replay.replay.checkers.user_invariants import on_database

@on_database({ledger!r})
def invariant_payouts_are_positive(db):
    "payouts are positive"
    return not db.execute("SELECT id FROM payouts WHERE amount <= 0").fetchall()
'''


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def explore(recording: Path, target: str, dbs: list[str], report: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    db_args = [a for url in dbs for a in ("--db", url)]
    return cli("explore", "--no-mutations", str(recording), "--target", target, *db_args, "--report", str(report), "--depth", "2",
               "--config", str(cwd / "venom.toml"), *extra, cwd=cwd)


def one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def sql_entry(name: str, query: str, database: str | None = None) -> str:
    aimed = f"database = {database!r}\n" if database is not None else ""
    return f"[[invariants.sql]]\nname = {name!r}\nquery = {query!r}\n{aimed}\n"


@pytest.fixture
def two_postgres(postgres_server):
    """(the API's database URL, the ledger database URL), both on the real PostgreSQL server."""
    api_db = postgres_server.url(postgres_server.create_database())
    ledger = postgres_server.url(postgres_server.create_database())
    run_writer_process(ledger, LEDGER)
    return api_db, ledger


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_sql_invariant_aimed_at_the_apis_database_finds_its_bug_and_nothing_on_the_other(
        two_postgres, orders_api, record_orders, tmp_path):
    api_db, ledger = two_postgres
    api = orders_api(api_db)
    recording = record_orders(api.url)
    before_api, before_ledger = snapshot(api_db), snapshot(ledger)
    # By short name for the API's database, by whole URL for the ledger; the Python invariant reads
    # the ledger's payouts table, which the API's database (the first --db) does not have.
    (tmp_path / "venom.toml").write_text(sql_entry("one shipment per order", ONE_SHIPMENT, dbname(api_db))
                                         + sql_entry("payout ids are positive", "SELECT id FROM payouts WHERE id <= 0",
                                                     ledger))
    (tmp_path / "ledger.py").write_text(LEDGER_INVARIANTS_PY.format(ledger=dbname(ledger)))

    run = explore(recording, api.url, [api_db, ledger], tmp_path / "r", tmp_path, "--invariants", str(tmp_path / "ledger.py"))
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    sql = [f for f in report["findings"] if f["checker"] == "sql"]
    assert sql, [f["message"] for f in report["findings"]]
    # Every SQL finding is the double shipment on the API's database: the ledger's two parcels of
    # order 7 (which break the same query there) are never reported.
    assert {f["details"]["database"] for f in sql} == {api_db}, [f["message"] for f in sql]
    assert all("one shipment per order" in f["message"] for f in sql)
    assert any([s["template"] for s in f["sequence"]][-2:] == ["POST /orders/{order_id}/ship"] * 2 for f in sql)
    assert not [f for f in report["findings"] if f["checker"] == "user"]
    assert report["invariant_errors"] == [] and report["exit_code"] == 1
    assert report["db_restored"] is True
    assert snapshot(api_db) == before_api and snapshot(ledger) == before_ledger


def test_the_correct_twin_gives_no_finding_with_the_aimed_invariant(two_postgres, orders_api, record_orders, tmp_path):
    api_db, ledger = two_postgres
    api = orders_api(api_db, fixed=True)
    recording = record_orders(api.url)
    (tmp_path / "venom.toml").write_text(sql_entry("one shipment per order", ONE_SHIPMENT, dbname(api_db)))
    run = explore(recording, api.url, [api_db, ledger], tmp_path / "r", tmp_path)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["findings"] == [], [f["message"] for f in report["findings"]]
    assert run.returncode == 0, run.stderr[-3000:]


def test_an_unknown_database_name_is_one_line_naming_the_file_and_the_invariant(
        two_postgres, orders_api, record_orders, tmp_path):
    api_db, ledger = two_postgres
    api = orders_api(api_db)
    recording = record_orders(api.url)
    before = snapshot(api_db)
    (tmp_path / "venom.toml").write_text(sql_entry("one shipment per order", ONE_SHIPMENT, "shop"))
    line = one_line_error(explore(recording, api.url, [api_db, ledger], tmp_path / "r", tmp_path))
    assert str(tmp_path / "venom.toml") in line and "'one shipment per order'" in line, line
    assert "database 'shop' is not one of the --db databases" in line and dbname(api_db) in line, line
    assert snapshot(api_db) == before  # refused before anything was installed
    assert not (tmp_path / "r" / "report.json").exists()

    # The same for a Python invariant: the file and the function are named.
    (tmp_path / "venom.toml").write_text("")
    (tmp_path / "ledger.py").write_text(LEDGER_INVARIANTS_PY.format(ledger="accounts"))
    line = one_line_error(explore(recording, api.url, [api_db, ledger], tmp_path / "r", tmp_path,
                                  "--invariants", str(tmp_path / "ledger.py")))
    assert f"--invariants {tmp_path / 'ledger.py'}: invariant_payouts_are_positive" in line, line
    assert "database 'accounts' is not one of the --db databases" in line, line


def test_a_query_that_fails_on_a_database_is_one_set_up_error_not_a_finding_per_step(
        two_postgres, orders_api, record_orders, tmp_path):
    api_db, ledger = two_postgres
    api = orders_api(api_db)
    recording = record_orders(api.url)
    before = snapshot(api_db)
    # Not aimed: it runs on both databases, and the API's has no payouts table.
    (tmp_path / "venom.toml").write_text(sql_entry("payouts are positive", "SELECT id FROM payouts WHERE amount <= 0"))
    line = one_line_error(explore(recording, api.url, [api_db, ledger], tmp_path / "r", tmp_path))
    assert "'payouts are positive' fails on " + api_db in line, line
    assert 'relation "payouts" does not exist' in line and "give the entry a database" in line, line
    assert snapshot(api_db) == before
    assert not (tmp_path / "r" / "report.json").exists()

    # A Python invariant that reads only the databases is tried the same way before the run.
    (tmp_path / "venom.toml").write_text("")
    (tmp_path / "payouts.py").write_text('def invariant_payouts(db):\n'
                                         '    return not db.execute("SELECT id FROM payouts WHERE amount <= 0").fetchall()\n')
    line = one_line_error(explore(recording, api.url, [api_db, ledger], tmp_path / "r", tmp_path,
                                  "--invariants", str(tmp_path / "payouts.py")))
    assert "invariant_payouts() cannot run on the databases" in line and 'relation "payouts" does not exist' in line, line


RAISES_ON_A_MISSING_ORDER = '''
def invariant_answers_have_an_id(response):
    "every answer about an order has its id"
    if response is not None and response.status == 404:
        raise KeyError("id")
    return True
'''


def test_on_sqlite_the_file_name_aims_an_invariant_and_one_failing_mid_run_is_said_once(orders_api, record_orders, tmp_path):
    api_db = f"sqlite:///{tmp_path / 'orders.db'}"
    ledger_path = tmp_path / "ledger.db"
    with sqlite3.connect(ledger_path) as conn:
        for stmt in LEDGER:
            conn.execute(stmt)
    ledger = f"sqlite:///{ledger_path}"
    api = orders_api(api_db)
    recording = record_orders(api.url)
    (tmp_path / "venom.toml").write_text(sql_entry("one shipment per order", ONE_SHIPMENT, "orders.db"))
    run = explore(recording, api.url, [ledger, api_db], tmp_path / "r", tmp_path)
    assert run.returncode == 1, run.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    sql = [f for f in report["findings"] if f["checker"] == "sql"]
    assert sql and {f["details"]["database"] for f in sql} == {api_db}, [f["message"] for f in report["findings"]]
    assert report["db_restored"] is True

    # An invariant that raises on an answer the search meets (a 404 of the twin after a delete) is the
    # user's error: said once, no finding, exit 2 with the reports written.
    twin_db = f"sqlite:///{tmp_path / 'twin.db'}"
    twin = orders_api(twin_db, fixed=True)
    twin_recording = record_orders(twin.url, "twin.vrec")
    (tmp_path / "venom.toml").write_text("")
    (tmp_path / "ids.py").write_text(RAISES_ON_A_MISSING_ORDER)
    run = explore(twin_recording, twin.url, [twin_db], tmp_path / "r2", tmp_path, "--invariants", str(tmp_path / "ids.py"))
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    [error] = report["invariant_errors"]
    assert error.startswith(f"--invariants {tmp_path / 'ids.py'}: invariant_answers_have_an_id() failed after ")
    assert error.endswith("KeyError: 'id'") and error in run.stderr
    assert sum(error in w for w in report["warnings"]) == 1
    assert not [f for f in report["findings"] if f["checker"] == "user"]
    assert report["exit_code"] == 2 and report["db_restored"] is True


def test_short_names_and_ambiguity():
    pg = "postgresql://app:s3cret@db.internal:5432/shop?mode=clone"
    assert database_names(pg) == {"postgresql://app:***@db.internal:5432/shop", "shop"}
    assert database_names("sqlite:////var/data/app.db") == {"sqlite:////var/data/app.db", "app.db"}
    assert database_names("redis://127.0.0.1:6379/0") == {"redis://127.0.0.1:6379/0"}
    urls = ["postgresql://app:s3cret@db.internal:5432/shop", "mysql://root@other/shop", "sqlite:///shop.db"]
    assert resolve_database("shop.db", urls, "here") == urls[2]
    # The URL as the user wrote it, with or without the password, names one database.
    assert resolve_database("postgresql://app:s3cret@db.internal:5432/shop", urls, "here") == urls[0]
    assert resolve_database("postgresql://app:***@db.internal:5432/shop", urls, "here") == urls[0]
    with pytest.raises(ConfigError, match=r"^here: database 'shop' names 2 of the --db databases .*give its whole URL$") as err:
        resolve_database("shop", urls, "here")
    assert "s3cret" not in str(err.value)
