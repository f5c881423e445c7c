"""The explorer on other backends: SQLite, PostgreSQL with a Redis cache beside it, the demo shop;
and the determinism probe that reports state no rollback reaches (an in-process counter)."""

from __future__ import annotations

import sqlite3

import redis

from venom_replay.adapters.group import AdapterGroup
from venom_replay.adapters.registry import open_adapter
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.replay.checkers.builtin import builtin_checkers
from venom_replay.replay.demo.traffic import run_traffic
from venom_replay.replay.explorer.run import _recorded_exchanges, explore
from support.proxy import recording_proxy

from support.orders_expectations import EXPECTED, snapshot


def run(recording, target, adapter, depth=3, **kw):
    tset = infer_templates(recording)
    try:
        return explore(tset, target, adapter, depth=depth, checkers=builtin_checkers(tset, _recorded_exchanges(tset)), **kw)
    finally:
        if adapter is not None:
            adapter.close()


def sqlite_dump(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_sqlite_bugs_found_and_file_restored(tmp_path, orders_api, record_orders):
    path = str(tmp_path / "orders.db")
    api = orders_api(f"sqlite:///{path}")
    recording = record_orders(api.url)
    before = sqlite_dump(path)
    result = run(recording, api.url, open_adapter(f"sqlite:///{path}"))
    found = {f.checker: [a.template for a in f.actions] for f in result.findings}
    for checker in ("server-error", "shape", "use-after-delete", "deleted-still-listed", "repeated-success", "access-after-revoke"):
        assert found.get(checker) == EXPECTED[checker], (checker, found)
    assert result.db_restored is True
    assert sqlite_dump(path) == before


def test_redis_cache_beside_postgres_is_restored_too(postgres_server, redis_url, orders_api, record_orders):
    db = postgres_server.url(postgres_server.create_database())
    api = orders_api(db, redis_url=redis_url)
    recording = record_orders(api.url)
    cache = redis.Redis.from_url(redis_url)
    cache_before = {k: cache.dump(k) for k in cache.keys("*")}
    db_before = snapshot(db)
    result = run(recording, api.url, AdapterGroup([open_adapter(db), open_adapter(redis_url)]))
    checkers = {f.checker for f in result.findings}
    assert {"use-after-delete", "deleted-still-listed", "repeated-success", "server-error"} <= checkers
    assert result.db_restored is True
    assert snapshot(db) == db_before
    assert {k: cache.dump(k) for k in cache.keys("*")} == cache_before
    # Both stores rolled back together: no step answered differently when run twice.
    assert not [w for w in result.warnings if "answered differently" in w], result.warnings


def test_in_process_state_is_reported_as_unreachable(tmp_path, orders_api, record_orders):
    path = str(tmp_path / "orders.db")
    api = orders_api(f"sqlite:///{path}", fixed=True, memo=True)
    recording = record_orders(api.url)
    result = run(recording, api.url, open_adapter(f"sqlite:///{path}"), depth=1)
    warnings = [w for w in result.warnings if "answered differently" in w]
    assert any("POST /orders" in w and "receipt" in w for w in warnings), result.warnings
    assert result.findings == []


def test_demo_shop_double_refund_found_and_twin_clean(demo_shop, tmp_path):
    counts = {}
    for fixed in (False, True):
        db = f"sqlite:///{tmp_path / f'shop{int(fixed)}.db'}"
        shop = demo_shop(db, fixed=fixed)
        out = tmp_path / f"shop{int(fixed)}.vrec"
        with recording_proxy(shop.url, out) as proxy:
            run_traffic(proxy.url)
        before = sqlite_dump(db[len("sqlite:///"):])
        result = run(out, shop.url, open_adapter(db))
        assert result.db_restored is True and sqlite_dump(db[len("sqlite:///"):]) == before
        counts[fixed] = result.findings
    refund = next((f for f in counts[False] if f.checker == "repeated-success"), None)
    assert refund is not None, [f.message for f in counts[False]]
    # Five steps, beyond the depth limit from the baseline: a recorded prefix (log in, order, pay, the one
    # recorded refund) set up the state the search started from, then one explored step: the second
    # refund. Minimised (the recorded reads dropped) and replayable from the baseline.
    assert [a.template for a in refund.actions] == ["POST /login", "POST /orders", "POST /orders/{order_id}/pay",
                                                     "POST /orders/{order_id}/refund", "POST /orders/{order_id}/refund"]
    assert [a.recorded_prefix for a in refund.actions] == [True, True, True, True, False]
    assert counts[True] == [], [f.message for f in counts[True]]
