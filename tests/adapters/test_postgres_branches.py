"""PostgreSQL journal with restores across branches (what the explorer turns on): undone changes are
kept and redone, so a checkpoint on a dead branch is reachable without re-sending requests. Every
write comes from another process; content and fingerprint must equal the ones at the checkpoint."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.db_servers import (PROPERTY_SCHEMA, WriterProcess, dump_content, installed_objects,
                                property_write, run_writer_process)
from venom_replay.adapters.group import AdapterGroup
from venom_replay.adapters.registry import open_adapter

SCHEMA = [
    "CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, seen timestamptz DEFAULT now())",
    "CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " customer_id int NOT NULL REFERENCES customers(id) ON DELETE CASCADE, total numeric)",
    "CREATE TABLE lines (order_id int, sku text)",  # no primary key
    "INSERT INTO customers (email) VALUES ('a@x'), ('b@x')",
    "INSERT INTO orders (customer_id, total) VALUES (1, 5), (2, 9)",
    "INSERT INTO lines VALUES (1, 'pen'), (1, 'pen')",
]


def branch_adapter(url):
    adapter = open_adapter(url, volatile_columns=["customers.seen"])
    assert adapter.enable_branch_restore()
    adapter.install()
    return adapter


def test_restores_a_checkpoint_on_a_dead_branch_and_back(pg_url):
    run_writer_process(pg_url, SCHEMA)
    adapter = branch_adapter(pg_url)
    api = WriterProcess(pg_url)
    try:
        start = adapter.checkpoint()
        api.execute(["INSERT INTO customers (email) VALUES ('c@x')", "UPDATE orders SET total = 6 WHERE id = 1",
                     "DELETE FROM lines WHERE ctid = (SELECT min(ctid) FROM lines)"])
        left, left_fp = adapter.snapshot()
        left_dump = dump_content(pg_url)
        api.execute(["TRUNCATE lines", "UPDATE customers SET id = 10 WHERE id = 3"])  # a key changes too
        deeper, deeper_fp = adapter.snapshot()
        deeper_dump = dump_content(pg_url)
        adapter.restore(start)
        api.execute(["DELETE FROM customers WHERE id = 2", "INSERT INTO lines VALUES (7, 'ink')"])  # cascades
        right, right_fp = adapter.snapshot()
        right_dump = dump_content(pg_url)
        for token, dump, fp in [(deeper, deeper_dump, deeper_fp), (right, right_dump, right_fp),
                                (left, left_dump, left_fp), (deeper, deeper_dump, deeper_fp),
                                (right, right_dump, right_fp)]:
            assert adapter.can_restore(token)
            adapter.restore(token)
            assert dump_content(pg_url) == dump
            assert adapter.fingerprint() == fp
        # the API's next ids are the ones it would have got on that branch
        assert api.execute(["INSERT INTO customers (email) VALUES ('d@x') RETURNING id"]) == [[[3]]]  # right made none
        adapter.restore(adapter.baseline)
    finally:
        api.close()
        adapter.uninstall()
        adapter.close()
    assert installed_objects(pg_url) == []


def test_a_group_of_branch_adapters_restores_across_branches(pg_url):
    run_writer_process(pg_url, SCHEMA)
    group = AdapterGroup([open_adapter(pg_url)])
    assert group.enable_branch_restore() and group.restores_across_branches
    group.install()
    try:
        first = group.checkpoint()
        run_writer_process(pg_url, ["DELETE FROM lines"])
        second, fp = group.snapshot()
        group.restore(first)
        group.restore(second)
        assert group.fingerprint() == fp
        group.restore(first)
    finally:
        group.uninstall()
        group.close()


EXTRA_WRITES = {
    "truncate": ["TRUNCATE notes"],
    "rekey": ["UPDATE items SET id = id + 1000 WHERE id = (SELECT max(id) FROM items) AND id < 1000"],
    "burn": ["SELECT nextval('items_id_seq')"],  # a sequence moves without any row changing
}


def branch_steps():
    small = st.integers(0, 12)
    write = st.one_of(
        st.tuples(st.sampled_from(["insert", "update", "delete", "note", "unnote"]), small, st.integers(-5, 1000)),
        st.tuples(st.sampled_from(sorted(EXTRA_WRITES))))
    step = st.one_of(write, write, st.just(("checkpoint",)), st.tuples(st.just("restore"), st.integers(0, 30)))
    return st.lists(step, max_size=30)


@pytest.mark.parametrize("examples", [pytest.param(15, id="quick"),
                                      pytest.param(150, id="long", marks=pytest.mark.slow)])
def test_random_writes_and_restores_to_any_checkpoint(pg_url, examples):
    run_writer_process(pg_url, PROPERTY_SCHEMA["pg"])
    adapter = branch_adapter(pg_url)
    writer = WriterProcess(pg_url)

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=branch_steps())
    def scenario(steps):
        taken = [(adapter.baseline, dump_content(pg_url), adapter.fingerprint())]
        for step in steps:
            if step[0] == "checkpoint":
                token, fp = adapter.snapshot()
                taken.append((token, dump_content(pg_url), fp))
            elif step[0] == "restore":  # any checkpoint ever taken, dead branches included
                token, expected, fp = taken[step[1] % len(taken)]
                adapter.restore(token)
                assert dump_content(pg_url) == expected
                assert adapter.fingerprint() == fp
            elif step[0] in EXTRA_WRITES:
                writer.execute(EXTRA_WRITES[step[0]])
            else:
                writer.execute(property_write("pg", step))
        adapter.restore(taken[0][0])
        assert dump_content(pg_url) == taken[0][1]

    try:
        scenario()
    finally:
        writer.close()
        adapter.uninstall()
        adapter.close()
    assert installed_objects(pg_url) == []


def test_a_table_created_mid_run_is_found_by_the_snapshot_after_a_step(pg_url):
    run_writer_process(pg_url, SCHEMA)
    adapter = branch_adapter(pg_url)
    api = WriterProcess(pg_url)
    try:
        start, _ = adapter.snapshot()
        api.execute(["CREATE TABLE coupons (code text PRIMARY KEY, used boolean)", "INSERT INTO coupons VALUES ('A', false)"])
        with_table, fp = adapter.snapshot(then_restore=start)  # the table is tracked before the restore
        assert any("coupons" in note for note in adapter.notes)
        dump = dump_content(pg_url)
        api.execute(["UPDATE coupons SET used = true", "INSERT INTO coupons VALUES ('B', true)"])
        adapter.restore(with_table)
        assert dump_content(pg_url) == dump and adapter.fingerprint() == fp
    finally:
        api.close()
        adapter.uninstall()
        adapter.close()
    assert installed_objects(pg_url) == []


def test_the_shelf_keeps_only_what_a_checkpoint_covers(pg_url):
    """Steps whose state gets no checkpoint (the leaves of a search) are undone for good; a state with
    a checkpoint keeps its entries, also when it is left for a sibling, and is still reachable."""
    run_writer_process(pg_url, SCHEMA)
    adapter = branch_adapter(pg_url)
    api = WriterProcess(pg_url)
    try:
        start = adapter.checkpoint()
        for i in range(20):  # leaves: written, fingerprinted, undone
            api.execute([f"INSERT INTO customers (email) VALUES ('leaf{i}@x')"])
            adapter.snapshot(checkpoint=False, then_restore=start)
        assert api.execute(["SELECT count(*) FROM venom_replay.shelf"]) == [[[0]]]
        api.execute(["INSERT INTO customers (email) VALUES ('kept@x')"])
        kept, kept_fp = adapter.snapshot(checkpoint=True, then_restore=start)
        adapter.restore(kept)
        kept_dump = dump_content(pg_url)
        api.execute(["UPDATE orders SET total = 1"])  # a leaf below the kept state
        adapter.snapshot(checkpoint=False, then_restore=kept)
        adapter.restore(start)  # leave the kept state for a sibling
        api.execute(["DELETE FROM lines"])
        adapter.snapshot(checkpoint=False, then_restore=start)
        assert api.execute(["SELECT count(*) FROM venom_replay.shelf"]) == [[[1]]]  # only kept@x's insert
        adapter.restore(kept)
        assert dump_content(pg_url) == kept_dump and adapter.fingerprint() == kept_fp
        adapter.restore(adapter.baseline)
    finally:
        api.close()
        adapter.uninstall()
        adapter.close()
