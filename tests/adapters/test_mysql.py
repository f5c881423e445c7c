"""MariaDB adapter against a real server; every write to undo comes from another process.

Foreign-key cascades and TRUNCATE TABLE fire no trigger in MariaDB: the tests below the
first ones check that their effects are undone all the same."""

from __future__ import annotations

import subprocess

import pytest
from support import db_servers
from support.db_servers import (
    PROPERTY_SCHEMA,
    check_random_writes_restore_exactly,
    dump_content,
    installed_adapter,
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

# -- foreign-key cascades ---------------------------------------------------------------------------

CASCADES = [
    "CREATE TABLE authors (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) UNIQUE)",
    # two keys to authors: rows go with their author, and a renamed author's name follows
    "CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY, author_id INT NOT NULL, author_name VARCHAR(20),"
    " body TEXT, FOREIGN KEY (author_id) REFERENCES authors(id) ON DELETE CASCADE,"
    " FOREIGN KEY (author_name) REFERENCES authors(name) ON UPDATE CASCADE ON DELETE SET NULL)",
    "CREATE TABLE comments (post_id INT, says VARCHAR(20), FOREIGN KEY (post_id) REFERENCES posts(id)"
    " ON DELETE CASCADE)",  # no primary key, and duplicate rows
    "CREATE TABLE drafts (id INT PRIMARY KEY, author_id INT, FOREIGN KEY (author_id) REFERENCES authors(id)"
    " ON DELETE CASCADE)",
    # a diamond: a review goes when its post or its draft goes, both of the same author
    "CREATE TABLE reviews (id INT PRIMARY KEY, post_id INT, draft_id INT,"
    " FOREIGN KEY (post_id) REFERENCES posts(id) ON DELETE CASCADE,"
    " FOREIGN KEY (draft_id) REFERENCES drafts(id) ON DELETE CASCADE)",
    "CREATE TABLE pins (id INT PRIMARY KEY, review_id INT, FOREIGN KEY (review_id) REFERENCES reviews(id))",
    "CREATE TABLE categories (id INT PRIMARY KEY, parent_id INT, label VARCHAR(10),"
    " FOREIGN KEY (parent_id) REFERENCES categories(id) ON DELETE CASCADE)",
    "CREATE TABLE tags (id INT PRIMARY KEY, category_id INT, FOREIGN KEY (category_id) REFERENCES categories(id)"
    " ON DELETE SET NULL)",
    # composite keys: a tenant's new code cascades to projects, and from them on to tasks
    "CREATE TABLE tenants (code VARCHAR(5) PRIMARY KEY)",
    "CREATE TABLE projects (tenant VARCHAR(5), id INT, PRIMARY KEY (tenant, id),"
    " FOREIGN KEY (tenant) REFERENCES tenants(code) ON UPDATE CASCADE ON DELETE CASCADE)",
    "CREATE TABLE tasks (id INT PRIMARY KEY, tenant VARCHAR(5), project INT, FOREIGN KEY (tenant, project)"
    " REFERENCES projects(tenant, id) ON UPDATE CASCADE ON DELETE SET NULL)",
    "INSERT INTO authors (name) VALUES ('ann'), ('bob'), ('cy')",
    "INSERT INTO posts (author_id, author_name, body) VALUES (1, 'ann', 'p1'), (1, 'bob', 'p2'), (2, 'bob', NULL),"
    " (3, 'ann', 'p4')",
    "INSERT INTO comments VALUES (1, 'hi'), (1, 'hi'), (2, 'yo'), (3, NULL), (NULL, 'orphan')",
    "INSERT INTO drafts VALUES (1, 1), (2, 3), (3, 3)",
    "INSERT INTO reviews VALUES (1, 1, 1), (2, 4, 2), (3, 4, 3), (4, 3, NULL)",
    "INSERT INTO categories VALUES (1, NULL, 'root'), (2, 1, 'a'), (3, 1, 'b'), (4, 2, 'aa'), (5, 4, 'aaa'),"
    " (6, NULL, 'other'), (7, 7, 'self')",
    "INSERT INTO tags VALUES (1, 1), (2, 4), (3, 5), (4, 6), (5, NULL)",
    "INSERT INTO tenants VALUES ('t1'), ('t2')",
    "INSERT INTO projects VALUES ('t1', 1), ('t1', 2), ('t2', 1)",
    "INSERT INTO tasks VALUES (1, 't1', 1), (2, 't1', 2), (3, 't2', 1), (4, NULL, NULL)",
]


@pytest.fixture
def cascades_url(mysql_url):
    run_writer_process(mysql_url, CASCADES)
    return mysql_url


@pytest.mark.parametrize("writes", [
    pytest.param(["DELETE FROM authors WHERE id = 1"], id="chain-and-set-null"),
    pytest.param(["DELETE FROM authors WHERE id = 3"], id="diamond"),
    pytest.param(["UPDATE authors SET name = 'anna' WHERE id = 1"], id="on-update-cascade"),
    pytest.param(["UPDATE tenants SET code = 't9' WHERE code = 't1'"], id="update-chain-composite-keys"),
    pytest.param(["DELETE FROM tenants WHERE code = 't1'"], id="cascade-then-set-null"),
    pytest.param(["DELETE FROM categories WHERE id = 1", "DELETE FROM categories WHERE id = 7"], id="self-referencing-tree"),
    pytest.param(["DELETE FROM pins", "DELETE FROM authors", "DELETE FROM categories"], id="everything-at-once"),
    # IGNORE skips the author whose review is pinned: our journal still holds that author's cascade
    pytest.param(["INSERT INTO pins VALUES (1, 2)", "DELETE IGNORE FROM authors"], id="delete-ignore-partly-refused"),
])
def test_cascades_from_another_process_are_undone(cascades_url, writes, writer_process):
    with installed_adapter(cascades_url) as adapter:
        assert not any("not restored" in note for note in adapter.notes)
        before, fingerprint = dump_content(cascades_url), adapter.fingerprint()
        token = adapter.checkpoint()
        writer_process(cascades_url).execute(writes)
        assert dump_content(cascades_url) != before
        adapter.restore(token)
        assert dump_content(cascades_url) == before
        assert adapter.fingerprint() == fingerprint


def test_cascade_rows_are_journalled_once_and_a_refused_cascade_leaves_none(cascades_url, writer_process):
    with installed_adapter(cascades_url) as adapter:
        api = writer_process(cascades_url)
        api.execute(["INSERT INTO pins VALUES (1, 1)"])
        journal = "SELECT tbl, op FROM venom_replay_journal ORDER BY id"
        with pytest.raises(db_servers.WriterError, match="foreign key constraint fails"):
            api.execute(["DELETE FROM authors WHERE id = 1"])  # review 1 is pinned: the statement fails
        assert [r for r in adapter._query(journal) if r[1] in "CS"] == []  # rolled back with it
        api.execute(["DELETE FROM pins", "DELETE FROM authors WHERE id = 3"])
        cascaded = [r for r in adapter._query(journal) if r[1] in "CS"]
        # diamond: reviews 2 and 3 are reached through a post and through a draft, journalled once each
        assert sorted(cascaded) == sorted([("posts", "C"), ("reviews", "C"), ("reviews", "C"), ("drafts", "C"),
                                           ("drafts", "C")])
        adapter.restore(adapter.baseline)


def test_cascade_into_another_database_is_noted(mariadb_server, mysql_url):
    other = mariadb_server.create_database()
    try:
        run_writer_process(mysql_url, [f"CREATE TABLE `{other}`.p (id INT PRIMARY KEY)",
                                       f"CREATE TABLE c (p_id INT, FOREIGN KEY (p_id) REFERENCES `{other}`.p(id)"
                                       " ON DELETE CASCADE)"])
        with installed_adapter(mysql_url) as adapter:
            assert any("crosses databases" in note and f"{other}.p" in note for note in adapter.notes)
    finally:
        run_writer_process(mysql_url, ["DROP TABLE IF EXISTS c"])  # it refers to the other database
        mariadb_server.drop_database(other)


# -- TRUNCATE TABLE --------------------------------------------------------------------------------

TRUNCATES = [
    "CREATE TABLE counters (id INT AUTO_INCREMENT PRIMARY KEY, n INT)",
    "CREATE TABLE `log-lines` (line VARCHAR(20), at INT)",  # no primary key, a name InnoDB spells log@002dlines
    "INSERT INTO counters (n) VALUES (1), (2), (3)",
    "INSERT INTO `log-lines` VALUES ('a', 1), ('a', 1), ('b', 2)",
]


@pytest.fixture
def truncates_url(mysql_url):
    run_writer_process(mysql_url, TRUNCATES)
    return mysql_url


def test_truncates_are_undone_to_every_checkpoint(truncates_url, writer_process):
    with installed_adapter(truncates_url) as adapter:
        assert any("copied 2 table(s) (6 rows)" in note for note in adapter.notes)
        api = writer_process(truncates_url)
        seen = [(adapter.checkpoint(), dump_content(truncates_url), adapter.fingerprint())]
        for writes in (["TRUNCATE TABLE counters", "INSERT INTO counters (n) VALUES (10)", "TRUNCATE `log-lines`"],
                       ["INSERT INTO counters (n) VALUES (11)", "TRUNCATE TABLE counters",  # truncated again
                        "INSERT INTO counters (n) VALUES (12)", "INSERT INTO `log-lines` VALUES ('c', 3)"],
                       ["UPDATE counters SET n = 13", "DELETE FROM `log-lines`"]):
            api.execute(writes)
            seen.append((adapter.checkpoint(), dump_content(truncates_url), adapter.fingerprint()))
        api.execute(["TRUNCATE counters", "INSERT INTO `log-lines` VALUES ('d', 4)"])  # no checkpoint after these
        for token, content, fingerprint in reversed(seen):
            adapter.restore(token)
            assert dump_content(truncates_url) == content
            assert adapter.fingerprint() == fingerprint
        # the first id the API gets is the one it got before any truncate
        assert api.execute(["INSERT INTO counters (n) VALUES (0)", "SELECT LAST_INSERT_ID()"])[1] == [[4]]
        adapter.restore(adapter.baseline)


def test_written_after_a_truncate_then_restored_to_after_and_before_it(truncates_url, writer_process):
    with installed_adapter(truncates_url) as adapter:
        api = writer_process(truncates_url)
        before = dump_content(truncates_url)
        first = adapter.checkpoint()
        api.execute(["TRUNCATE TABLE counters", "INSERT INTO counters (n) VALUES (7)"])
        after_truncate = dump_content(truncates_url)
        second = adapter.checkpoint()
        api.execute(["INSERT INTO counters (n) VALUES (8)", "UPDATE counters SET n = 9 WHERE n = 7"])
        adapter.restore(second)
        assert dump_content(truncates_url) == after_truncate
        api.execute(["TRUNCATE TABLE counters"])  # again, and restored before any checkpoint sees it
        adapter.restore(second)
        assert dump_content(truncates_url) == after_truncate
        adapter.restore(first)
        assert dump_content(truncates_url) == before
        with pytest.raises(CannotRestore):
            adapter.restore(second)
        copies = adapter._query("SELECT COUNT(*) FROM venom_replay_copies WHERE cp > 0")[0][0]
        assert copies == 0  # the copy the second checkpoint made went with its branch


def test_partitions_other_engines_and_a_table_created_again(truncates_url, writer_process):
    # a partitioned table and an Aria one are read the slow way (INNODB_SYS_TABLES, TABLES)
    run_writer_process(truncates_url, [
        "CREATE TABLE parted (id INT AUTO_INCREMENT PRIMARY KEY, v INT) PARTITION BY HASH (id) PARTITIONS 2",
        "INSERT INTO parted (v) VALUES (1), (2), (3), (4)",
        "CREATE TABLE aria_log (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=Aria",
        "INSERT INTO aria_log (v) VALUES (1)"])
    with installed_adapter(truncates_url) as adapter:
        assert any("aria_log is not InnoDB" in note for note in adapter.notes)
        api = writer_process(truncates_url)
        before = dump_content(truncates_url)
        token = adapter.checkpoint()
        api.execute(["ALTER TABLE parted TRUNCATE PARTITION p0", "INSERT INTO parted (v) VALUES (5)",
                     "INSERT INTO aria_log (v) VALUES (2)",
                     "DROP TABLE counters", "CREATE TABLE counters (id INT AUTO_INCREMENT PRIMARY KEY, n INT)",
                     "INSERT INTO counters (n) VALUES (9)"])
        middle = adapter.checkpoint()  # sees counters' new identity and gives it its triggers back
        after_middle = dump_content(truncates_url)
        api.execute(["INSERT INTO counters (n) VALUES (10)", "TRUNCATE TABLE parted"])
        adapter.restore(middle)
        assert dump_content(truncates_url) == after_middle
        adapter.restore(token)
        assert dump_content(truncates_url) == before


def test_killed_run_after_a_truncate_is_recovered(truncates_url):
    before = dump_content(truncates_url)
    killed = open_adapter(truncates_url)
    killed.install()
    killed.checkpoint()
    run_writer_process(truncates_url, ["TRUNCATE TABLE counters", "INSERT INTO counters (n) VALUES (5)",
                                       "DELETE FROM `log-lines` WHERE line = 'b'"])
    killed.close()
    out = subprocess.run(["venom-replay", "db", "uninstall", "--db", truncates_url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "3 change(s) undone" in out.stdout  # the insert, the delete, and the truncated table
    assert dump_content(truncates_url) == before
    assert installed_objects(truncates_url) == []


def test_truncate_refuse_makes_no_copies_and_says_so(truncates_url, writer_process):
    with installed_adapter(truncates_url + "?truncate=refuse") as adapter:
        assert not [name for name in installed_objects(truncates_url) if "copy" in name]
        token = adapter.checkpoint()
        writer_process(truncates_url).execute(["TRUNCATE TABLE counters"])
        with pytest.raises(AdapterError, match="table 'counters' was truncated .*truncate=refuse"):
            adapter.restore(token)
        with pytest.raises(AdapterError, match="table 'counters' was truncated"):
            adapter.checkpoint()
    with pytest.raises(AdapterError, match="unknown truncate option 'later'"):
        open_adapter(truncates_url + "?truncate=later")


def test_missing_process_privilege_is_one_clear_line(mariadb_server, truncates_url):
    dbname = truncates_url.rsplit("/", 1)[1]
    user = mariadb_server.create_user("no_process", [f"ALL ON `{dbname}`.*"])
    with pytest.raises(AdapterError, match="lacks the PROCESS privilege") as err:
        open_adapter(mariadb_server.url(dbname, user=user)).install()
    assert "GRANT PROCESS ON *.* TO 'no_process'@'127.0.0.1'" in str(err.value)
    assert installed_objects(truncates_url) == []


# -- random writes with truncates and cascades -------------------------------------------------------

CASCADE_PROPERTY_SCHEMA = [
    "CREATE TABLE owners (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) UNIQUE)",
    "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, owner_id INT, owner_name VARCHAR(20), qty INT,"
    " FOREIGN KEY (owner_id) REFERENCES owners(id) ON DELETE CASCADE,"
    " FOREIGN KEY (owner_name) REFERENCES owners(name) ON UPDATE CASCADE ON DELETE SET NULL)",
    "CREATE TABLE notes (body VARCHAR(20), item_id INT, FOREIGN KEY (item_id) REFERENCES items(id)"
    " ON DELETE SET NULL)",  # no primary key on purpose
]


def cascade_property_write(kind: str, op: tuple) -> list:
    name, a, b = op
    pick = f"WHERE id >= {int(a)} ORDER BY id LIMIT 1"
    return {
        "owner": [f"INSERT IGNORE INTO owners (name) VALUES ('o{b % 9}')"],
        "item": [f"INSERT INTO items (owner_id, owner_name, qty) SELECT id, name, {int(b)} FROM owners {pick}"],
        "update": [f"UPDATE items SET qty = {int(b)} {pick}"],
        "rename": [f"UPDATE IGNORE owners SET name = 'o{b % 9}' {pick}"],
        "drop_owner": [f"DELETE FROM owners {pick}"],
        "drop_owners": [f"DELETE FROM owners WHERE id >= {int(a)}"],
        "note": [f"INSERT INTO notes VALUES ('b{a % 3}', (SELECT MIN(id) FROM items WHERE id >= {int(b % 13)}))"],
        "truncate_notes": ["TRUNCATE TABLE notes"],
        "truncate_items": ["SET FOREIGN_KEY_CHECKS = 0", "TRUNCATE TABLE items", "SET FOREIGN_KEY_CHECKS = 1"],
    }[name]


def cascade_property_steps(kind: str):
    from hypothesis import strategies as st

    write = st.tuples(st.sampled_from(["owner", "owner", "item", "item", "update", "rename", "drop_owner",
                                       "drop_owners", "note", "note", "truncate_notes", "truncate_items"]),
                      st.integers(0, 12), st.integers(-5, 1000))
    return st.lists(st.one_of(write, write, st.just(("checkpoint",)), st.tuples(st.just("restore"), st.integers(0, 12))),
                    max_size=20)


@pytest.mark.parametrize("examples", [pytest.param(10, id="quick"),
                                      pytest.param(150, id="long", marks=pytest.mark.slow)])
def test_random_writes_with_truncates_and_cascades_restore_exactly(mysql_url, examples, monkeypatch):
    run_writer_process(mysql_url, CASCADE_PROPERTY_SCHEMA)
    # the shared scenario (writes from another process, checkpoints, restores) with this op mix
    monkeypatch.setattr(db_servers, "property_write", cascade_property_write)
    monkeypatch.setattr(db_servers, "property_steps", cascade_property_steps)
    check_random_writes_restore_exactly(mysql_url, "mysql", examples)
