"""Redis adapters (incremental DUMP/RESTORE and SWAPDB) and adapter groups; writes come from another
process, which the adapter learns about from keyspace notifications (or a DBSIZE check and a rescan
for what publishes nothing, such as FLUSHDB)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
import redis
from support.db_servers import (
    PROPERTY_SCHEMA,
    check_killed_run_recovered,
    check_random_writes_restore_exactly,
    dump_content,
    installed_objects,
    run_writer_process,
)
from venom_replay.adapters.base import AdapterError, CannotRestore
from venom_replay.adapters.group import AdapterGroup
from venom_replay.adapters.redis.hash import full_fingerprint
from venom_replay.adapters.registry import open_adapter

SETTING = "notify-keyspace-events"

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
    check_killed_run_recovered(redis_url, [["FLUSHDB"], ["SET", "junk", "1"]])
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

# -- incremental tracking -----------------------------------------------------------------------------


def setting(url: str) -> str:
    return redis.Redis.from_url(url).config_get(SETTING)[SETTING]


def state(adapter, url: str, volatile: tuple[str, ...] = ()) -> tuple[dict, str]:
    """What the database holds and the adapter's fingerprint, which must equal a full rehash."""
    fingerprint = adapter.fingerprint()
    assert fingerprint == full_fingerprint(redis.Redis.from_url(url), volatile)
    return dump_content(url), fingerprint


BRANCHES = {
    "types": [["SET", "user:1", "ann-2"], ["HSET", "cart:1", "pen", "9", "cap", "1"], ["HDEL", "cart:1", "ink"],
              ["RPUSH", "queue", "j3"], ["LPOP", "queue"], ["ZADD", "rank", "7", "bob"], ["SADD", "tags", "c"],
              ["SREM", "tags", "a"], ["INCR", "hits"], ["APPEND", "user:1", "!"]],
    "deletes": [["DEL", "user:1", "tags"], ["RENAME", "queue", "queue:old"], ["EXPIRE", "rank", "500"],
                ["PERSIST", "session:1"], ["SET", "temp", "t", "PX", "600000"]],
    "flushdb": [["FLUSHDB"], ["SET", "after-flush", "1"], ["HSET", "cart:1", "only", "1"]],
    "rename": [["RENAME", "cart:1", "cart:2"], ["SET", "user:1", "other"], ["ZREM", "rank", "ann"]],
}


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_branches_of_every_kind_of_write_restore_exactly(redis_server, redis_url, writer_process, mode):
    run_writer_process(redis_url, SEED)
    adapter = open_adapter(redis_url, mode=mode, **({"spare_dbs": list(range(48, 62))} if mode == "swapdb" else {}))
    adapter.install()
    api = writer_process(redis_url)
    saved = {"baseline": (adapter.baseline, state(adapter, redis_url))}
    for name, writes in BRANCHES.items():  # each branch starts from the baseline; "rename" after "types"
        adapter.restore(saved["types"][0] if name == "rename" else adapter.baseline)
        api.execute(writes)
        saved[name] = (adapter.checkpoint(), state(adapter, redis_url))
    assert len({fp for _, (_, fp) in saved.values()}) == len(saved)
    for name in ["types", "flushdb", "baseline", "rename", "deletes", "types", "rename", "flushdb", "baseline"]:
        token, expected = saved[name]
        adapter.restore(token)  # to ancestors and across branches
        assert state(adapter, redis_url) == expected, name
        if name == "flushdb":  # a flush before the restore must be caught too
            api.execute([["FLUSHDB"], ["SET", "stray", "1"]])
            adapter.restore(token)
            assert state(adapter, redis_url) == expected
    adapter.uninstall()
    adapter.close()
    spare_ok(redis_server, redis_url)
    assert setting(redis_url) == ""


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_keys_expiring_between_checkpoints(redis_url, writer_process, mode):
    api = writer_process(redis_url)
    api.execute([["SET", "keep", "1"], ["SET", "long", "l", "EX", "600"]])
    adapter = open_adapter(redis_url, mode=mode)
    adapter.install()
    api.execute([["SET", "short", "s", "PX", "300"]])
    with_short = adapter.checkpoint()
    fp_with_short = adapter.fingerprint()
    time.sleep(0.45)
    assert api.execute([["EXISTS", "short"]]) == [0]  # expired (and deleted: Redis publishes "expired")
    without_short = (adapter.checkpoint(), state(adapter, redis_url))
    assert without_short[1][1] != fp_with_short
    adapter.restore(with_short)
    client = redis.Redis.from_url(redis_url)
    if mode == "dump":  # the TTL left at the checkpoint comes back, and runs out again
        assert 0 < client.pttl("short") <= 300
        assert adapter.fingerprint() == fp_with_short
        time.sleep(0.35)
        assert api.execute([["EXISTS", "short"]]) == [0]
    else:  # a spare keeps absolute expiry times: a key that has expired since stays expired
        assert client.exists("short") == 0
    assert adapter.fingerprint() == full_fingerprint(client)
    assert 590_000 < client.pttl("long") <= 600_000
    adapter.restore(without_short[0])
    assert state(adapter, redis_url) == without_short[1]
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_fingerprint_equals_a_full_rehash_after_random_changes(redis_url, writer_process, mode):
    rnd = random.Random(11)
    volatile = ("sess:*",)
    run_writer_process(redis_url, SEED)
    adapter = open_adapter(redis_url, mode=mode, volatile_keys=list(volatile))
    adapter.install()
    api = writer_process(redis_url)
    client = redis.Redis.from_url(redis_url)
    tokens = [adapter.baseline]
    for _ in range(40):
        k = rnd.randrange(8)
        api.execute(rnd.choice([
            [["SET", f"s{k}", str(rnd.random())]], [["DEL", f"s{k}", f"h{k}"]], [["HSET", f"h{k}", "f", str(k)]],
            [["SADD", f"set{k}", str(rnd.randrange(5))]], [["RPUSH", f"l{k}", "x"]], [["ZINCRBY", "z", "1", str(k)]],
            [["SET", f"sess:{k}", str(rnd.random())]], [["RENAME", "z", f"z{k}"]] if client.exists("z") else [],
            [["SET", f"t{k}", "v", "PX", "100000"]], [["FLUSHDB"]] if rnd.random() < 0.2 else []]))
        if rnd.random() < 0.3:
            tokens.append(adapter.checkpoint())
        if rnd.random() < 0.2:  # swapdb: spares evicted the oldest checkpoints
            adapter.restore(rnd.choice([t for t in tokens if adapter.can_restore(t)]))
        assert adapter.fingerprint() == full_fingerprint(client, volatile)
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()


def command_calls(client: redis.Redis, command: str) -> int:
    return client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_checkpoints_and_restores_touch_only_the_changed_keys(redis_server, redis_url, writer_process, mode):
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for n in range(3000):
        pipe.set(f"item:{n}", "x" * 100)
    pipe.execute()
    adapter = open_adapter(redis_url, mode=mode, **({"spare_dbs": [50, 51]} if mode == "swapdb" else {}))
    adapter.install()
    api = writer_process(redis_url)
    adapter.fingerprint()
    api.execute([["SET", "item:1", "changed"], ["DEL", "item:2"], ["HSET", "new", "f", "1"]])
    client.config_resetstat()
    second = adapter.checkpoint()
    assert command_calls(client, "dump") == (3 if mode == "dump" else 0)
    fingerprint = adapter.fingerprint()
    assert command_calls(client, "type") == 3 and fingerprint == full_fingerprint(client)
    client.config_resetstat()
    adapter.restore(adapter.baseline)
    if mode == "dump":  # item:1 and item:2 come back, the new hash goes
        assert command_calls(client, "restore") == 2 and command_calls(client, "del") == 1
    else:  # one SWAPDB, then the spare gets back the three keys that differ
        assert command_calls(client, "swapdb") == 1 and command_calls(client, "copy") == 3
    api.execute([["SET", "item:3", "again"]])
    client.config_resetstat()
    third = adapter.checkpoint()  # swapdb: the spare of `second` is reused, refilled with 4 keys
    assert command_calls(client, "dump") + command_calls(client, "copy") == (1 if mode == "dump" else 4)
    assert command_calls(client, "flushdb") == 0
    for token in (second, third, adapter.baseline):
        if adapter.can_restore(token):
            adapter.restore(token)
    assert client.get("item:1") == b"x" * 100 and client.exists("new") == 0
    adapter.uninstall()
    adapter.close()
    spare_ok(redis_server, redis_url)


def test_long_history_and_cross_branch_restores(redis_url, writer_process):
    """More checkpoints than one delta walk covers (redis_history.SPAN), restored in random order."""
    adapter = open_adapter(redis_url)
    adapter.install()
    api = writer_process(redis_url)
    saved = [(adapter.baseline, dump_content(redis_url))]
    rnd = random.Random(5)
    for n in range(75):
        if rnd.random() < 0.15:  # branch off from an earlier checkpoint
            adapter.restore(rnd.choice(saved)[0])
        api.execute([["SET", f"k{n % 9}", str(n)], ["HSET", "h", f"f{n % 4}", str(n)]] +
                    ([["DEL", f"k{rnd.randrange(9)}"]] if n % 5 == 0 else []))
        saved.append((adapter.checkpoint(), dump_content(redis_url)))
    for token, content in rnd.sample(saved, 25):
        adapter.restore(token)
        assert dump_content(redis_url) == content
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()


# -- notify-keyspace-events ---------------------------------------------------------------------------


def test_notification_setting_is_put_back_after_two_adapters(redis_server, redis_url, writer_process):
    client = redis.Redis.from_url(redis_url)
    client.config_set(SETTING, "Ex")
    other_url = redis_server.url(redis_server.create_database())
    try:
        first = open_adapter(redis_url)
        first.install()
        enabled = setting(redis_url)
        assert set("AKE") <= set(enabled)  # A covers x (expired)
        second = open_adapter(other_url, baseline_db=62)
        second.install()
        first.uninstall()
        first.close()
        assert setting(redis_url) == enabled  # the second adapter still needs the notifications
        token = second.checkpoint()
        writer_process(other_url).execute([["SET", "x", "1"], ["RPUSH", "l", "a"]])
        second.restore(token)
        assert dump_content(other_url) == {}
        second.uninstall()
        second.close()
        assert setting(redis_url) == "xE"  # exactly what it was before the first install
    finally:
        client.config_set(SETTING, "")
        redis_server.drop_database(other_url.rsplit("/", 1)[1])


def test_killed_run_leaves_setting_and_data_to_recover(redis_url):
    run_writer_process(redis_url, SEED)
    before = dump_content(redis_url)
    script = ("import sys, time\nfrom venom_replay.adapters.registry import open_adapter\n"
              "a = open_adapter(sys.argv[1]); a.install(); print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, redis_url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        run_writer_process(redis_url, [["FLUSHDB"], ["SET", "junk", "1"]])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert set("AK") <= set(setting(redis_url))
    out = subprocess.run(["venom-replay", "db", "recover", "--db", redis_url], capture_output=True, text=True,
                         timeout=60, check=False)
    assert "baseline restored" in out.stdout, out.stderr
    assert dump_content(redis_url) == before
    assert setting(redis_url) == ""


def test_without_config_set_every_operation_reads_everything(redis_server, redis_url, writer_process):
    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser("venom_limited", enabled=True, nopass=True, keys=["~*"], channels=["&*"],
                      commands=["+@all", "-config|set"])
    limited_url = redis_url.replace("redis://", "redis://venom_limited@")
    try:
        run_writer_process(redis_url, SEED)
        adapter = open_adapter(limited_url, mode="dump")
        adapter.install()
        assert any("keyspace notifications unavailable" in note for note in adapter.notes)
        before = state(adapter, redis_url)
        token = adapter.checkpoint()
        writer_process(redis_url).execute(BRANCHES["types"] + BRANCHES["deletes"])
        assert adapter.fingerprint() == full_fingerprint(admin)
        adapter.restore(token)
        assert state(adapter, redis_url) == before
        adapter.uninstall()
        adapter.close()
        assert setting(redis_url) == ""
    finally:
        admin.acl_deluser("venom_limited")


def test_dropped_subscription_is_noticed(redis_url, writer_process):
    run_writer_process(redis_url, SEED)
    adapter = open_adapter(redis_url)
    adapter.install()
    before = state(adapter, redis_url)
    token = adapter.checkpoint()
    client = redis.Redis.from_url(redis_url)
    client.client_kill_filter(_type="pubsub")  # as the output buffer limit would
    writer_process(redis_url).execute(BRANCHES["types"])
    adapter.restore(token)
    assert state(adapter, redis_url) == before
    assert set("AK") <= set(setting(redis_url))  # still subscribed, again
    writer_process(redis_url).execute([["SET", "late", "1"]])
    assert adapter.fingerprint() == full_fingerprint(client)
    adapter.restore(token)
    adapter.uninstall()
    adapter.close()
    assert setting(redis_url) == ""


@pytest.mark.parametrize("mode", ["dump", "swapdb"])
def test_swapdb_by_the_api_with_a_database_of_the_same_size_is_noticed(redis_server, redis_url, writer_process, mode):
    """SWAPDB publishes no keyspace event and, between databases of the same size, leaves DBSIZE as it
    was: the server's SWAPDB counter tells."""
    other_db = redis_server.create_database()
    try:
        run_writer_process(redis_url, [["SET", "user:1", "ann"], ["SET", "user:2", "bob"]])
        run_writer_process(redis_server.url(other_db), [["SET", "report:1", "x"], ["SET", "report:2", "y"]])
        adapter = open_adapter(redis_url, mode=mode)
        adapter.install()
        before = dump_content(redis_url)
        try:
            token, fingerprint = adapter.snapshot(checkpoint=True)
            api = writer_process(redis_url)
            api.execute([["SWAPDB", redis_url.rsplit("/", 1)[1], str(other_db)]])
            assert dump_content(redis_url) != before
            _, after_swap = adapter.snapshot(checkpoint=False)
            assert after_swap != fingerprint  # the state changed and the fingerprint says so
            adapter.restore(token)
            assert dump_content(redis_url) == before
        finally:
            adapter.restore(adapter.baseline)
            adapter.uninstall()
            adapter.close()
        assert dump_content(redis_url) == before
    finally:
        run_writer_process(redis_server.url(other_db), [["FLUSHDB"]])
        redis_server.drop_database(other_db)
