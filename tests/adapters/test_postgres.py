"""PostgreSQL adapters against a real server; every write to undo comes from another process."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from support.db_servers import (
    PROPERTY_SCHEMA,
    WriterProcess,
    check_killed_run_recovered,
    check_random_writes_restore_exactly,
    dump_content,
    installed_objects,
    run_writer_process,
)
from venom_replay.adapters.base import AdapterError, CannotRestore
from venom_replay.adapters.registry import open_adapter

SHOP = [
    "CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, meta jsonb, photo bytea,"
    " balance numeric(12, 2), score float8, seen timestamptz DEFAULT now())",
    "CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " customer_id int NOT NULL REFERENCES customers(id) ON DELETE CASCADE, total numeric, doubled numeric"
    " GENERATED ALWAYS AS (total * 2) STORED)",
    "CREATE TABLE order_lines (order_id int REFERENCES orders(id) ON DELETE CASCADE, sku text, qty int)",  # no PK
    "INSERT INTO customers (email, meta, photo, balance, score) VALUES"
    " ('a@x', '{\"tags\": [1, \"two\"]}', '\\x00ff10', 10.50, 0.1), ('b@x', NULL, NULL, 0, 1e300)",
    "INSERT INTO orders (customer_id, total) VALUES (1, 5), (1, 7), (2, 9)",
    "INSERT INTO order_lines VALUES (1, 'pen', 1), (1, 'pen', 1), (2, 'ink', 3)",
]


@pytest.fixture
def shop_url(pg_url):
    run_writer_process(pg_url, SHOP)
    return pg_url


def test_undoes_every_kind_of_write_made_by_another_process(shop_url, journal, writer_process):
    before = dump_content(shop_url)
    token = journal.checkpoint()
    api = writer_process(shop_url)  # one pooled connection of the API, kept open throughout
    api.execute(["INSERT INTO customers (email, score) VALUES ('c@x', 2.5)",
                 "UPDATE customers SET balance = balance + 1, meta = '{\"changed\": true}' WHERE id = 1",
                 "INSERT INTO orders (customer_id, total) VALUES (3, 1)",
                 "DELETE FROM customers WHERE id = 2",  # cascades to its orders
                 "UPDATE order_lines SET qty = 9 WHERE sku = 'pen'",
                 "DELETE FROM order_lines WHERE sku = 'ink'"])
    api.execute(["TRUNCATE order_lines"])
    api.execute(["INSERT INTO order_lines VALUES (4, 'new', 1)", "SELECT nextval('customers_id_seq')"])
    assert dump_content(shop_url) != before
    journal.restore(token)
    assert dump_content(shop_url) == before
    # the API's pooled connection was not cut off, and the next ids are the ones it would have got
    assert api.execute(["INSERT INTO customers (email) VALUES ('d@x') RETURNING id"]) == [[[3]]]


def test_restore_reaches_any_ancestor_but_not_a_dead_branch(shop_url, journal, writer_process):
    api = writer_process(shop_url)
    first = journal.checkpoint()
    state_first = dump_content(shop_url)
    api.execute(["INSERT INTO customers (email) VALUES ('c@x')"])
    second = journal.checkpoint()
    api.execute(["DELETE FROM orders"])
    journal.restore(first)
    assert dump_content(shop_url) == state_first
    assert not journal.can_restore(second)
    with pytest.raises(CannotRestore):
        journal.restore(second)
    journal.restore(journal.baseline)


def test_fingerprint_follows_content_and_ignores_volatile_columns(shop_url, journal, writer_process):
    api = writer_process(shop_url)
    start = journal.fingerprint()
    api.execute(["UPDATE customers SET seen = now() - interval '1 day'"])
    assert journal.fingerprint() == start  # only the volatile column changed
    token = journal.checkpoint()
    api.execute(["UPDATE customers SET score = 3 WHERE id = 1", "TRUNCATE order_lines"])
    changed = journal.fingerprint()
    assert changed != start
    journal.restore(token)
    assert journal.fingerprint() == start
    # the cached per-table hashes agree with hashing from scratch
    fresh = open_adapter(shop_url, volatile_columns=["customers.seen"])
    fresh._names, fresh._sums = {}, None
    assert fresh.fingerprint() == start
    fresh.close()


def test_tables_created_after_install_are_reported_and_tracked(shop_url, journal, writer_process):
    api = writer_process(shop_url)
    api.execute(["CREATE TABLE coupons (code text PRIMARY KEY, used boolean)",
                 "INSERT INTO coupons VALUES ('A', false)"])
    token = journal.checkpoint()
    assert any("coupons" in note for note in journal.notes)
    before = dump_content(shop_url)
    api.execute(["UPDATE coupons SET used = true", "INSERT INTO coupons VALUES ('B', true)"])
    journal.restore(token)
    assert dump_content(shop_url) == before


def test_a_table_dropped_by_the_api_is_refused_clearly_and_nothing_is_half_restored(shop_url, journal, writer_process):
    api = writer_process(shop_url)
    api.execute(["CREATE TABLE coupons (code text PRIMARY KEY, used boolean)"])
    token = journal.checkpoint()  # tracks coupons
    api.execute(["INSERT INTO coupons VALUES ('A', false)", "UPDATE customers SET email = 'z@x' WHERE id = 1",
                 "DROP TABLE coupons"])
    with pytest.raises(CannotRestore, match="was dropped"):
        journal.restore(token)
    # Nothing was half-applied: the customers change is still there, in one transaction with the refusal.
    assert api.execute(["SELECT email FROM customers WHERE id = 1"]) == [[["z@x"]]]


def test_killed_run_is_recovered_by_db_recover(shop_url):
    before = dump_content(shop_url)
    script = textwrap.dedent(f"""
        import os, signal, psycopg
        from venom_replay.adapters.registry import open_adapter
        adapter = open_adapter({shop_url!r})
        adapter.install()
        adapter.checkpoint()
        with psycopg.connect({shop_url!r}, autocommit=True) as api:
            api.execute("DELETE FROM order_lines")
            api.execute("INSERT INTO customers (email) VALUES ('mid-branch@x')")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -signal.SIGKILL
    assert dump_content(shop_url) != before
    out = subprocess.run(["venom-replay", "db", "recover", "--db", shop_url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "4 change(s) undone" in out.stdout  # 3 lines deleted, 1 customer added
    assert dump_content(shop_url) == before
    assert installed_objects(shop_url) == []


def test_install_recovers_a_killed_runs_baseline_first(shop_url):
    check_killed_run_recovered(shop_url, ["DELETE FROM orders"])


def test_missing_grant_is_one_clear_line(postgres_server, shop_url):
    dbname = shop_url.rsplit("/", 1)[1]
    role = postgres_server.create_role("app_user", owns=dbname)
    for table in ("customers", "orders", "order_lines"):
        postgres_server.execute(f"ALTER TABLE {table} OWNER TO {role}", dbname=dbname)
    url = postgres_server.url(dbname, user=role)
    with pytest.raises(AdapterError, match="session_replication_role") as err:
        open_adapter(url).install()
    assert "GRANT SET ON PARAMETER session_replication_role TO app_user" in str(err.value)
    out = subprocess.run(["venom-replay", "db", "check", "--db", url], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: PostgreSQL role 'app_user' may not SET session_replication_role")
    assert "Traceback" not in out.stderr
    # with the grant, the non-superuser owner can run the journal
    postgres_server.execute(f"GRANT SET ON PARAMETER session_replication_role TO {role}")
    adapter = open_adapter(url)
    adapter.install()
    token = adapter.checkpoint()
    before = dump_content(shop_url)
    run_writer_process(url, ["DELETE FROM orders"])
    adapter.restore(token)
    assert dump_content(shop_url) == before
    adapter.uninstall()
    adapter.close()
    postgres_server.execute(f"REVOKE SET ON PARAMETER session_replication_role FROM {role}")


def test_template_mode_undoes_schema_changes_and_reports_the_cut_off(shop_url):
    adapter = open_adapter(shop_url, mode="template", grace_seconds=0.2)
    adapter.install()
    before = dump_content(shop_url)
    api = WriterProcess(shop_url)
    try:
        api.execute(["CREATE TABLE extra (x int)", "ALTER TABLE customers ADD COLUMN nick text",
                     "DELETE FROM order_lines"])
        adapter.restore(adapter.baseline)
        assert dump_content(shop_url) == before
        assert adapter.last_cost is not None and adapter.last_cost.terminated >= 1
        assert any("terminated" in note for note in adapter.notes)
    finally:
        api.close()
    adapter.uninstall()
    adapter.close()
    assert installed_objects(shop_url) == []


def test_savepoint_mode_only_covers_the_connection_it_hands_out(shop_url):
    adapter = open_adapter(shop_url, mode="savepoint")
    adapter.install()
    token = adapter.checkpoint()
    before = dump_content(shop_url)
    adapter.connection.execute("DELETE FROM order_lines")  # the in-process app's write
    adapter.restore(token)
    assert adapter.connection.execute("SELECT count(*) FROM order_lines").fetchone()[0] == 3
    adapter.uninstall()
    adapter.close()
    assert dump_content(shop_url) == before


@pytest.mark.parametrize("examples", [pytest.param(12, id="quick"),
                                      pytest.param(150, id="long", marks=pytest.mark.slow)])
def test_random_writes_restore_exactly(pg_url, examples):
    run_writer_process(pg_url, PROPERTY_SCHEMA["pg"])
    check_random_writes_restore_exactly(pg_url, "pg", examples)