"""SQLite adapters on a WAL-mode file written by another process (the API), never copied over."""

from __future__ import annotations

import sqlite3

import pytest
from support.db_servers import (
    PROPERTY_SCHEMA,
    check_killed_run_recovered,
    check_random_writes_restore_exactly,
    dump_content,
    installed_objects,
    run_writer_process,
)
from venom_replay.adapters.base import AdapterError, CannotRestore
from venom_replay.adapters.registry import open_adapter

SHOP = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE, photo BLOB, score REAL)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id) ON DELETE CASCADE,"
    " total NUMERIC)",
    "CREATE TABLE order_lines (order_id INTEGER, sku TEXT, qty INTEGER)",  # no primary key
    "INSERT INTO customers (email, photo, score) VALUES ('a@x', x'00ff10', 0.1), ('b@x', NULL, 1e300)",
    "INSERT INTO orders (customer_id, total) VALUES (1, 5), (1, 7.25), (2, 9)",
    "INSERT INTO order_lines VALUES (1, 'pen', 1), (1, 'pen', 1), (2, 'ink', 3)",
]


@pytest.fixture
def shop_url(sqlite_url):
    conn = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    run_writer_process(sqlite_url, SHOP)
    return sqlite_url


@pytest.mark.parametrize("mode", ["triggers", "backup"])
def test_undoes_writes_of_another_process_in_wal_mode(shop_url, writer_process, mode):
    adapter = open_adapter(shop_url, mode=mode)
    adapter.install()
    before = dump_content(shop_url)
    fingerprint = adapter.fingerprint()
    token = adapter.checkpoint()
    api = writer_process(shop_url)  # keeps its connection (and WAL read snapshot machinery) open
    api.execute(["PRAGMA foreign_keys = ON"])
    api.execute(["INSERT INTO customers (email, score) VALUES ('c@x', 2.5)",
                 "UPDATE customers SET photo = x'01', score = 0.30000000000000004 WHERE id = 1",
                 "DELETE FROM customers WHERE id = 2",  # cascades to orders
                 "UPDATE order_lines SET qty = 9 WHERE sku = 'pen'", "DELETE FROM order_lines WHERE sku = 'ink'"])
    assert dump_content(shop_url) != before
    adapter.restore(token)
    assert dump_content(shop_url) == before
    assert adapter.fingerprint() == fingerprint
    # the other process sees the restored state on its open connection, and AUTOINCREMENT went back
    assert api.execute(["SELECT count(*) FROM orders"]) == [[[3]]]
    assert api.execute(["INSERT INTO customers (email) VALUES ('d@x')", "SELECT max(id) FROM customers"])[1] == [[3]]
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()
    assert installed_objects(shop_url) == []
    assert not (adapter.path.parent / (adapter.path.name + ".venom-baseline")).exists()


def test_only_backup_mode_restores_across_branches(shop_url, writer_process):
    api = writer_process(shop_url)
    for mode, crosses in (("triggers", False), ("backup", True)):
        adapter = open_adapter(shop_url, mode=mode)
        adapter.install()
        first = adapter.checkpoint()
        api.execute(["DELETE FROM order_lines"])
        branch_state = dump_content(shop_url)
        second = adapter.checkpoint()
        adapter.restore(first)
        if crosses:
            adapter.restore(second)
            assert dump_content(shop_url) == branch_state
        else:
            with pytest.raises(CannotRestore):
                adapter.restore(second)
        adapter.restore(adapter.baseline)
        adapter.uninstall()
        adapter.close()


def test_without_rowid_tables_are_refused_clearly(sqlite_url):
    run_writer_process(sqlite_url, ["CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID"])
    with pytest.raises(AdapterError, match="WITHOUT ROWID.*mode=backup"):
        open_adapter(sqlite_url).install()


def test_killed_run_recovered_on_next_install(shop_url):
    for mode in ("triggers", "backup"):
        check_killed_run_recovered(shop_url, ["DELETE FROM orders", "INSERT INTO order_lines VALUES (9, 'x', 1)"],
                                   kill=lambda adapter: adapter._conn.close(), mode=mode)


@pytest.mark.parametrize("mode", ["triggers", "backup"])
@pytest.mark.parametrize("examples", [pytest.param(15, id="quick"),
                                      pytest.param(200, id="long", marks=pytest.mark.slow)])
def test_random_writes_restore_exactly(sqlite_url, mode, examples):
    run_writer_process(sqlite_url, ["PRAGMA journal_mode = WAL", *PROPERTY_SCHEMA["sqlite"]])
    check_random_writes_restore_exactly(sqlite_url, "sqlite", examples, mode=mode)

@pytest.mark.parametrize("mode", ["triggers", "backup"])
def test_insert_or_replace_upsert_and_ignore_are_undone_exactly(shop_url, writer_process, mode):
    """REPLACE deletes the rows it conflicts with (on the key or a unique column) without firing delete
    triggers on the API's connection; the rows must come back all the same."""
    adapter = open_adapter(shop_url, mode=mode)
    adapter.install()
    before = dump_content(shop_url)
    fingerprint = adapter.fingerprint()
    token = adapter.checkpoint()
    api = writer_process(shop_url)
    api.execute(["INSERT OR REPLACE INTO customers (id, email, score) VALUES (1, 'a@x', 7)",  # same key, same email
                 "INSERT OR REPLACE INTO customers (id, email) VALUES (9, 'b@x')",  # conflicts on email only
                 "REPLACE INTO orders (id, customer_id, total) VALUES (2, 1, 100)",
                 "INSERT OR IGNORE INTO orders (id, customer_id, total) VALUES (3, 1, 1)",  # kept as it was
                 "INSERT INTO orders (id, customer_id, total) VALUES (1, 1, 0)"
                 " ON CONFLICT(id) DO UPDATE SET total = excluded.total"])
    assert dump_content(shop_url) != before
    adapter.restore(token)
    assert dump_content(shop_url) == before
    assert adapter.fingerprint() == fingerprint
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()
    assert installed_objects(shop_url) == []


def test_a_user_trigger_writing_during_a_restore_is_not_called_restored(shop_url, writer_process):
    """Triggers mode cannot stop user triggers firing while it writes rows back: what they write must
    show in the fingerprint (so the run says the database was not restored), never pass unseen."""
    run_writer_process(shop_url, ["CREATE TABLE audit_log (what TEXT)",
                                  "CREATE TRIGGER audit AFTER DELETE ON orders BEGIN"
                                  " INSERT INTO audit_log VALUES ('order deleted'); END"])
    adapter = open_adapter(shop_url, mode="triggers")
    adapter.install()
    fingerprint = adapter.fingerprint()
    token = adapter.checkpoint()
    writer_process(shop_url).execute(["INSERT INTO orders (customer_id, total) VALUES (1, 3)"])
    adapter.restore(token)  # deleting the new order fires the user's trigger
    assert [rows for name, rows in dump_content(shop_url).items() if "audit_log" in name] == [[repr(("order deleted",))]]
    assert adapter.fingerprint() != fingerprint
    adapter.uninstall()
    adapter.close()
