"""A recording's start state through every adapter that can take one, against real servers.

The round trip a user's `record --db` and `explore` make: content A is exported, the API (another
process) changes it to B, explore installs the adapter and imports A, the API sees A (read through
a separate connection), and restoring the checkpoint taken before the import gives B back exactly,
with nothing of ours left after uninstall. The parts go through msgpack, as in the start-state file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import pytest
from support.db_servers import dump_content, installed_adapter, run_writer_process
from venom_replay.adapters.base import AdapterError, ContentPart
from venom_replay.adapters.group import AdapterGroup
from venom_replay.adapters.registry import open_adapter

PG_A = [
    "CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, meta json, photo bytea,"
    " balance numeric(12, 2), score float8, tags text[])",
    "CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " customer_id int NOT NULL REFERENCES customers(id) ON DELETE CASCADE, total numeric,"
    " doubled numeric GENERATED ALWAYS AS (total * 2) STORED)",
    "CREATE TABLE order_lines (order_id int REFERENCES orders(id) ON DELETE CASCADE, sku text, qty int)",  # no PK
    "CREATE TABLE audit (what text)",
    "CREATE TABLE facts (id int PRIMARY KEY, at timestamptz, span interval, amount numeric, ratio real)",
    "INSERT INTO facts VALUES (1, '2024-02-29 23:59:59.123456+05:30', '1 year 2 mons 3 days 04:05:06.5', 1.50, 0.1)",
    # a user trigger that must not fire while the start state is written (it would add audit rows)
    "CREATE FUNCTION audit_it() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES (TG_OP);"
    " RETURN NULL; END $$",
    "CREATE TRIGGER audited AFTER INSERT OR UPDATE OR DELETE ON customers FOR EACH ROW EXECUTE FUNCTION audit_it()",
    "CREATE SEQUENCE unused_seq",
    "INSERT INTO customers (email, meta, photo, balance, score, tags) VALUES"
    " ('a@x', '{\"b\": 1,  \"a\": [1.50, 1e2]}', '\\x00ff10', 10.50, 0.1, '{x,\"y z\"}'), ('b@x', NULL, NULL, 0, 1e300, NULL)",
    "INSERT INTO orders (customer_id, total) VALUES (1, 5), (1, 7), (2, 9)",
    "INSERT INTO order_lines VALUES (1, 'pen', 1), (1, 'pen', 1), (1, 'pen', 1), (2, 'ink', 3), (3, NULL, NULL)",
]
PG_B = [
    "INSERT INTO customers (email, score) VALUES ('c@x', 2.5)",
    "UPDATE customers SET balance = 99, meta = '{\"changed\": true}' WHERE id = 1",
    "DELETE FROM customers WHERE id = 2",  # cascades to its orders and their lines
    "INSERT INTO orders (customer_id, total) VALUES (3, 1)",
    "DELETE FROM order_lines WHERE ctid = (SELECT ctid FROM order_lines WHERE sku = 'pen' LIMIT 1)",
    "INSERT INTO order_lines VALUES (1, 'ink', 3), (4, 'new', 1)",
    "SELECT nextval('unused_seq')",
    "UPDATE facts SET amount = 1.5",  # equal as a number, not as content: the import must write 1.50 back
]

MARIA_A = [
    "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(50) UNIQUE NOT NULL, meta JSON,"
    " photo VARBINARY(16), balance DECIMAL(12, 2), score DOUBLE, flags BIT(4), born DATE) ENGINE=InnoDB",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10, 2),"
    " doubled DECIMAL(12, 2) AS (total * 2) STORED,"
    " FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE) ENGINE=InnoDB",
    "CREATE TABLE order_lines (order_id INT, sku VARCHAR(20), qty INT) ENGINE=InnoDB",  # no PK
    "INSERT INTO customers (email, meta, photo, balance, score, flags, born) VALUES"
    " ('a@x', '{\"b\": 1, \"a\": [1.5]}', X'00FF10', 10.50, 0.1, b'1010', '2001-02-03'),"
    " ('b@x', NULL, NULL, 0, 1e300, NULL, NULL)",
    "INSERT INTO orders (customer_id, total) VALUES (1, 5), (1, 7), (2, 9)",
    "INSERT INTO order_lines VALUES (1, 'pen', 1), (1, 'pen', 1), (1, 'pen', 1), (2, 'ink', 3), (3, NULL, NULL)",
]
MARIA_B = [
    "INSERT INTO customers (email, score) VALUES ('c@x', 2.5)",
    "UPDATE customers SET balance = 99, meta = '{\"changed\": true}' WHERE id = 1",
    "DELETE FROM customers WHERE id = 2",  # cascades to its orders (InnoDB, no trigger)
    "INSERT INTO orders (customer_id, total) VALUES (3, 1)",
    "DELETE FROM order_lines WHERE sku = 'pen' LIMIT 1",
    "INSERT INTO order_lines VALUES (1, 'ink', 3), (4, 'new', 1)",
]

SQLITE_A = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE NOT NULL, photo BLOB,"
    " score REAL, anything)",
    "CREATE TABLE order_lines (order_id INTEGER REFERENCES customers(id), sku TEXT, qty INTEGER)",  # rowid only
    "INSERT INTO customers (email, photo, score, anything) VALUES ('a@x', X'00FF10', 0.1, '12'),"
    " ('b@x', NULL, 1e300, 12)",
    "INSERT INTO order_lines VALUES (1, 'pen', 1), (1, 'pen', 1), (2, 'ink', 3), (NULL, NULL, NULL)",
]
SQLITE_B = [
    "INSERT INTO customers (email, score) VALUES ('c@x', 2.5)",
    "UPDATE customers SET score = 99, anything = X'01' WHERE id = 1",
    "DELETE FROM customers WHERE id = 2",
    "DELETE FROM order_lines WHERE rowid = 1",
    "INSERT INTO order_lines VALUES (1, 'ink', 3)",
]

REDIS_A = [
    ["SET", "plain", "v1"], ["SET", "ttl", "expires", "PX", "600000"], ["HSET", "h", "a", "1", "b", "2"],
    ["RPUSH", "l", "x", "y", "x"], ["SADD", "s", "m1", "m2"], ["ZADD", "z", "1.5", "one"], ["SET", "gone-later", "1"],
]
REDIS_B = [
    ["SET", "plain", "v2"], ["DEL", "gone-later"], ["HSET", "h", "c", "3"], ["SET", "new", "n"], ["PERSIST", "ttl"],
    ["LPOP", "l"],
]


def _through_msgpack(parts: Sequence[ContentPart]) -> list[ContentPart]:
    """The parts as the start-state file gives them back."""
    return [msgpack.unpackb(msgpack.packb(p, use_bin_type=True), raw=False) for p in parts]


def export_parts(url: str) -> list[ContentPart]:
    adapter = open_adapter(url)
    try:
        parts: list[ContentPart] = []
        adapter.export_content(parts.append)
        return _through_msgpack(parts)
    finally:
        adapter.close()


def check_round_trip(url: str, content_a: Sequence[Any], changes: Sequence[Any], **options: Any) -> None:
    """A exported; B written by another process; import A (read back elsewhere); restore gives B."""
    run_writer_process(url, content_a)
    a = dump_content(url)
    parts = export_parts(url)
    assert dump_content(url) == a  # the export changed nothing
    run_writer_process(url, changes)
    b = dump_content(url)
    assert b != a
    with installed_adapter(url, **options) as adapter:  # afterwards: nothing of ours left
        before, fp_before = adapter.checkpoint(), adapter.fingerprint()
        stats = adapter.import_content(parts)
        assert stats.removed + stats.added > 0
        assert dump_content(url) == a
        assert adapter.fingerprint() != fp_before
        adapter.restore(before)
        assert dump_content(url) == b
        assert adapter.fingerprint() == fp_before
        # importing what is already there changes nothing
        adapter.import_content(parts)
        again = adapter.checkpoint()
        assert adapter.import_content(parts).removed == 0
        adapter.restore(again)
        assert dump_content(url) == a
        adapter.restore(before)
    assert dump_content(url) == b


def test_postgres_journal(pg_url):
    schemas = ["SELECT nspname FROM pg_namespace ORDER BY 1"]
    before = run_writer_process(pg_url, schemas)
    check_round_trip(pg_url, PG_A, PG_B)
    assert run_writer_process(pg_url, schemas) == before  # no pg_temp_N schema either: no TEMP table was used
    # the json column came back byte for byte (key order, spacing, number spelling)
    assert run_writer_process(pg_url, ["SELECT meta::text FROM customers WHERE id = 1"]) == [[['{"changed": true}']]]


def test_postgres_json_text_and_user_triggers(pg_url):
    run_writer_process(pg_url, PG_A)
    parts = export_parts(pg_url)
    run_writer_process(pg_url, PG_B)
    assert run_writer_process(pg_url, ["SELECT count(*) FROM audit"]) == [[[5]]]  # 2 in A, 3 more in B
    with installed_adapter(pg_url) as adapter:
        adapter.import_content(parts)
        meta, audit = run_writer_process(pg_url, ["SELECT meta::text FROM customers WHERE id = 1",
                                                  "SELECT count(*) FROM audit"])
        assert meta == [['{"b": 1,  "a": [1.50, 1e2]}']]
        assert audit == [[2]]  # as in A: the user's trigger did not fire for our writes
        adapter.restore(adapter.baseline)


def test_mariadb_journal(mysql_url):
    check_round_trip(mysql_url, MARIA_A, MARIA_B)


@pytest.mark.parametrize("mode", ["triggers", "backup"])
def test_sqlite(sqlite_url, mode):
    check_round_trip(sqlite_url, SQLITE_A, SQLITE_B, mode=mode)


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_redis(redis_url, mode):
    check_round_trip(redis_url, REDIS_A, REDIS_B, mode=mode)


def test_redis_ttl_comes_back(redis_url):
    run_writer_process(redis_url, REDIS_A)
    parts = export_parts(redis_url)
    run_writer_process(redis_url, REDIS_B)
    with installed_adapter(redis_url) as adapter:
        adapter.import_content(parts)
        (ttl,) = run_writer_process(redis_url, [["PTTL", "ttl"]])
        assert 0 < ttl <= 600000
        adapter.restore(adapter.baseline)


def test_group_delegates_by_member(pg_url, redis_url):
    run_writer_process(pg_url, PG_A)
    run_writer_process(redis_url, REDIS_A)
    a = (dump_content(pg_url), dump_content(redis_url))
    group = AdapterGroup([open_adapter(pg_url), open_adapter(redis_url)])
    parts: list[ContentPart] = []
    group.export_content(parts.append)
    parts = _through_msgpack(parts)
    run_writer_process(pg_url, PG_B)
    run_writer_process(redis_url, REDIS_B)
    b = (dump_content(pg_url), dump_content(redis_url))
    try:
        group.install()
        before = group.checkpoint()
        group.import_content(parts)
        assert (dump_content(pg_url), dump_content(redis_url)) == a
        group.restore(before)
        assert (dump_content(pg_url), dump_content(redis_url)) == b
    finally:
        group.uninstall()
        group.close()


def test_changed_schema_is_one_clear_line(pg_url):
    run_writer_process(pg_url, PG_A)
    parts = export_parts(pg_url)
    run_writer_process(pg_url, ["ALTER TABLE audit ADD COLUMN at timestamptz"])
    b = dump_content(pg_url)
    with installed_adapter(pg_url) as adapter:
        with pytest.raises(AdapterError, match=r"table public.audit has the columns .* schema changed"):
            adapter.import_content(parts)
        adapter.restore(adapter.baseline)
    assert dump_content(pg_url) == b  # one transaction: nothing of the import stayed


@pytest.mark.parametrize("mode", ["template", "savepoint"])
def test_postgres_modes_without_import_say_what_to_use(pg_url, mode):
    run_writer_process(pg_url, PG_A)
    adapter = open_adapter(pg_url, mode=mode)
    try:
        parts: list[ContentPart] = []
        assert adapter.export_content(parts.append).tables == 5  # export works in every mode
        with pytest.raises(AdapterError, match=rf"PostgreSQL {mode} mode cannot import .*use the default journal mode"):
            adapter.import_content(parts)
    finally:
        adapter.close()
