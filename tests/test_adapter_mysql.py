"""MariaDB adapter against a real server; every write to undo comes from another process."""

from __future__ import annotations

import subprocess

import pytest
from support.db_servers import (
    PROPERTY_SCHEMA,
    check_random_writes_restore_exactly,
    dump_content,
    installed_objects,
    run_writer_process,
)
from venom_replay.adapters.base import AdapterError, CannotRestore
from venom_replay.adapters.registry import open_adapter

SHOP = [
    "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(40) UNIQUE NOT NULL, meta JSON,"
    " photo BLOB, balance DECIMAL(12, 2), score DOUBLE, flags BIT(3), seen TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10, 2),"
    " doubled DECIMAL(11, 2) AS (total * 2) STORED, FOREIGN KEY (customer_id) REFERENCES customers(id))",
    "CREATE TABLE order_lines (order_id INT, sku VARCHAR(10), qty INT, FOREIGN KEY (order_id) REFERENCES orders(id))",
    "INSERT INTO customers (email, meta, photo, balance, score, flags) VALUES"
    " ('a@x', '{\"tags\": [1,  \"two\"]}', x'00ff10', 10.50, 0.1, b'101'), ('b@x', NULL, NULL, 0, 1e300, NULL)",
    "INSERT INTO orders (customer_id, total) VALUES (1, 5), (1, 7), (2, 9)",
    "INSERT INTO order_lines VALUES (1, 'pen', 1), (1, 'pen', 1), (2, 'ink', 3)",
]


@pytest.fixture
def shop_url(mysql_url):
    run_writer_process(mysql_url, SHOP)
    return mysql_url


@pytest.fixture
def journal(shop_url):
    adapter = open_adapter(shop_url, volatile_columns=["customers.seen"])
    adapter.install()
    yield adapter
    adapter.uninstall()
    adapter.close()
    assert installed_objects(shop_url) == []


def test_undoes_writes_and_auto_increment_from_another_process(shop_url, journal, writer_process):
    before = dump_content(shop_url)
    fingerprint = journal.fingerprint()
    token = journal.checkpoint()
    api = writer_process(shop_url)
    api.execute(["INSERT INTO customers (email, score) VALUES ('c@x', 2.5)",
                 "UPDATE customers SET balance = balance + 1, meta = '[]', photo = x'01', flags = b'010' WHERE id = 1",
                 "INSERT INTO orders (customer_id, total) VALUES (3, 1)",
                 "DELETE FROM order_lines WHERE order_id = 2", "DELETE FROM orders WHERE customer_id = 2",
                 "DELETE FROM customers WHERE id = 2",  # a foreign-key chain, child first
                 "UPDATE order_lines SET qty = 9 WHERE sku = 'pen'"])
    assert dump_content(shop_url) != before and journal.fingerprint() != fingerprint
    journal.restore(token)
    assert dump_content(shop_url) == before
    assert journal.fingerprint() == fingerprint
    assert api.execute(["INSERT INTO customers (email) VALUES ('d@x')", "SELECT LAST_INSERT_ID()"])[1] == [[3]]


def test_dead_branch_and_new_tables(shop_url, journal, writer_process):
    api = writer_process(shop_url)
    first = journal.checkpoint()
    api.execute(["CREATE TABLE coupons (code VARCHAR(5) PRIMARY KEY, used BOOL)", "INSERT INTO coupons VALUES ('A', 0)"])
    second = journal.checkpoint()
    assert any("coupons" in note for note in journal.notes)
    before = dump_content(shop_url)
    api.execute(["UPDATE coupons SET used = 1", "INSERT INTO coupons VALUES ('B', 1)"])
    journal.restore(second)
    assert dump_content(shop_url) == before
    journal.restore(first)
    with pytest.raises(CannotRestore):
        journal.restore(second)


def test_cascading_foreign_keys_are_reported(mysql_url):
    run_writer_process(mysql_url, ["CREATE TABLE p (id INT PRIMARY KEY)",
                                   "CREATE TABLE c (p_id INT, FOREIGN KEY (p_id) REFERENCES p(id) ON DELETE CASCADE)"])
    adapter = open_adapter(mysql_url)
    adapter.install()
    assert any("cascade" in note and "c -> p" in note for note in adapter.notes)
    adapter.uninstall()
    adapter.close()


def test_killed_run_recovered_on_next_install(shop_url):
    before = dump_content(shop_url)
    killed = open_adapter(shop_url)
    killed.install()
    run_writer_process(shop_url, ["DELETE FROM order_lines", "INSERT INTO customers (email) VALUES ('z@x')"])
    killed.close()
    out = subprocess.run(["venom-replay", "db", "uninstall", "--db", shop_url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "4 change(s) undone" in out.stdout
    assert dump_content(shop_url) == before
    assert installed_objects(shop_url) == []


def test_missing_trigger_privilege_is_one_clear_line(mariadb_server, shop_url):
    dbname = shop_url.rsplit("/", 1)[1]
    user = mariadb_server.create_user("app_user", [f"SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER ON `{dbname}`.*"])
    url = mariadb_server.url(dbname, user=user)
    with pytest.raises(AdapterError, match="lacks the TRIGGER privilege") as err:
        open_adapter(url).install()
    assert f"GRANT TRIGGER ON `{dbname}`.* TO 'app_user'@'127.0.0.1'" in str(err.value)
    out = subprocess.run(["venom-replay", "db", "check", "--db", url], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: MariaDB/MySQL user app_user@127.0.0.1 lacks")


@pytest.mark.parametrize("examples", [pytest.param(10, id="quick"),
                                      pytest.param(150, id="long", marks=pytest.mark.slow)])
def test_random_writes_restore_exactly(mysql_url, examples):
    run_writer_process(mysql_url, PROPERTY_SCHEMA["mysql"])
    check_random_writes_restore_exactly(mysql_url, "mysql", examples)