"""Redis adapters (DUMP/RESTORE and SWAPDB) and adapter groups; writes come from another process."""

from __future__ import annotations

import pytest
from support.db_servers import (
    PROPERTY_SCHEMA,
    check_random_writes_restore_exactly,
    dump_content,
    installed_objects,
    run_writer_process,
)
from venom_replay.adapters.base import AdapterError, CannotRestore
from venom_replay.adapters.group import AdapterGroup
from venom_replay.adapters.registry import open_adapter

SEED = [["SET", "user:1", "ann"], ["HSET", "cart:1", "pen", "2", "ink", "1"], ["SADD", "tags", "a", "b"],
        ["RPUSH", "queue", "j1", "j2"], ["ZADD", "rank", "1.5", "ann"], ["SET", "session:1", "tok", "EX", "300"]]


def spare_ok(redis_server, url):
    """The databases our adapters used as spares are empty again."""
    import redis

    for db in range(48, redis_server.databases):
        assert redis.Redis(host=redis_server.host, port=redis_server.port, db=db).dbsize() == 0, db


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_undoes_writes_of_another_process(redis_server, redis_url, writer_process, mode):
    run_writer_process(redis_url, SEED)
    adapter = open_adapter(redis_url, mode=mode, volatile_keys=["session:*"])
    adapter.install()
    before = dump_content(redis_url)
    fingerprint = adapter.fingerprint()
    token = adapter.checkpoint()
    api = writer_process(redis_url)
    api.execute([["SET", "user:2", "bob"], ["DEL", "user:1"], ["HSET", "cart:1", "pen", "5"], ["SREM", "tags", "a"],
                 ["LPOP", "queue"], ["ZINCRBY", "rank", "2", "ann"], ["PERSIST", "session:1"]])
    assert dump_content(redis_url) != before
    adapter.restore(token)
    assert dump_content(redis_url) == before  # TTLs included: session:1 expires again
    assert adapter.fingerprint() == fingerprint
    assert api.execute([["GET", "user:1"]]) == ["ann"]  # the API's open connection sees it at once
    api.execute([["SET", "session:1", "other"]])
    assert adapter.fingerprint() == fingerprint  # volatile keys are left out
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()
    spare_ok(redis_server, redis_url)


def test_restores_across_branches(redis_url):
    adapter = open_adapter(redis_url, mode="swapdb")
    adapter.install()
    first = adapter.checkpoint()
    run_writer_process(redis_url, [["SET", "branch", "a"]])
    on_branch = dump_content(redis_url)
    second = adapter.checkpoint()
    adapter.restore(first)
    adapter.restore(second)
    assert dump_content(redis_url) == on_branch
    adapter.uninstall()
    adapter.close()


def test_spare_database_in_use_is_refused(redis_server, redis_url):
    run_writer_process(redis_server.url(63), [["SET", "someone-elses", "1"]])
    try:
        with pytest.raises(AdapterError, match="database 63 is not empty and not ours"):
            open_adapter(redis_url).install()
    finally:
        run_writer_process(redis_server.url(63), [["FLUSHDB"]])


def test_killed_run_recovered_on_next_install(redis_server, redis_url):
    run_writer_process(redis_url, SEED)
    before = dump_content(redis_url)
    killed = open_adapter(redis_url)
    killed.install()
    run_writer_process(redis_url, [["FLUSHDB"], ["SET", "junk", "1"]])
    killed.close()
    adapter = open_adapter(redis_url)
    adapter.install()
    assert dump_content(redis_url) == before
    assert any("killed run" in note for note in adapter.notes)
    adapter.uninstall()
    adapter.close()
    spare_ok(redis_server, redis_url)


def test_group_checkpoints_a_database_and_a_cache_together(pg_url, redis_url):
    run_writer_process(pg_url, PROPERTY_SCHEMA["pg"])
    group = AdapterGroup([open_adapter(pg_url), open_adapter(redis_url, mode="swapdb")])
    group.install()
    before = (dump_content(pg_url), dump_content(redis_url))
    token = group.checkpoint()
    fingerprint = group.fingerprint()
    run_writer_process(pg_url, ["INSERT INTO items (name, qty) VALUES ('x', 1)"])
    run_writer_process(redis_url, [["SET", "cache:items", "[1]"]])
    assert group.fingerprint() != fingerprint
    second = group.checkpoint()
    group.restore(token)
    assert (dump_content(pg_url), dump_content(redis_url)) == before
    assert group.fingerprint() == fingerprint
    # the journal member cannot go back to the dead branch, so the group refuses before touching Redis
    assert not group.can_restore(second)
    with pytest.raises(CannotRestore):
        group.restore(second)
    assert not group.restores_across_branches
    group.uninstall()
    group.close()
    assert installed_objects(pg_url) == []


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
@pytest.mark.parametrize("examples", [pytest.param(15, id="quick"),
                                      pytest.param(200, id="long", marks=pytest.mark.slow)])
def test_random_writes_restore_exactly(redis_server, redis_url, mode, examples):
    check_random_writes_restore_exactly(redis_url, "redis", examples, mode=mode)
    spare_ok(redis_server, redis_url)