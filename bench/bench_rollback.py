"""Rollback benchmark: restore a branch that changed 10 rows, on a ~10 MB and a ~100 MB database,
against a full restore of the 100 MB one, for PostgreSQL, MariaDB, SQLite and Redis, in one run.

    python bench/bench_rollback.py [--rounds 25] [--small-mb 10] [--large-mb 100]

Writes bench/results/rollback.json and bench/results/rollback.md. The 10 changed rows come from a
separate connection (the "API"): 4 updates, 3 inserts, 3 deletes (Redis: 10 keys changed).
Targets (PostgreSQL): journal restore median <= 3 ms, large/small <= 1.5x, template clone >= 30x slower.
The two sizes of one system take turns round by round (PostgreSQL, MariaDB), so that the drifting
load of a shared machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.db_servers import MariaDBServer, PostgresServer, RedisServer  # noqa: E402
from venom_replay.adapters.registry import open_adapter  # noqa: E402

ROW_BYTES = 200
RESULTS = ROOT / "bench" / "results"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def timed_restores(adapter, write_branch: Callable[[int], None], rounds: int) -> list[float]:
    """checkpoint, let the API change 10 rows, time restore(); repeated."""
    samples = []
    for i in range(rounds):
        token = adapter.checkpoint()
        write_branch(i)
        started = time.perf_counter()
        adapter.restore(token)
        samples.append(time.perf_counter() - started)
    return samples


def interleaved_restores(adapters: dict, branches: dict, rounds: int) -> dict:
    """timed_restores for several databases, taking turns round by round, so that the drifting load of
    a shared machine weighs on every size alike; {key: samples}."""
    samples: dict = {key: [] for key in adapters}
    for i in range(rounds):
        for key, adapter in adapters.items():
            samples[key] += timed_restores(adapter, lambda _, key=key, i=i: branches[key](1000 + i), 1)
    return samples


def journal_results(adapters: dict, branches: dict, sizes: dict, rounds: int) -> dict:
    """Install each size's adapter, warm it up, time restores (sizes taking turns) and checkpoints,
    then put every database back and remove the adapters; {"10MB": {...}, ...}."""
    for key, adapter in adapters.items():
        adapter.install()
        timed_restores(adapter, branches[key], 3)  # warm-up: plans, caches
    restores = interleaved_restores(adapters, branches, rounds)
    out = {}
    for key, adapter in adapters.items():
        out[f"{key}MB"] = {"db_bytes": sizes[key], "restore_ms_median": median_ms(restores[key]),
                           "checkpoint_ms_median": median_ms(timed_checkpoints(adapter, rounds))}
        adapter.restore(adapter.baseline)
        adapter.uninstall()
        adapter.close()
    return out


def timed_checkpoints(adapter, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        adapter.checkpoint()
        samples.append(time.perf_counter() - started)
    return samples


# -- PostgreSQL ------------------------------------------------------------------------------------


def bench_postgres(sizes_mb: tuple[int, int], rounds: int) -> dict:
    import psycopg

    server = PostgresServer().start()
    try:
        out: dict = {"journal": {}}
        urls, branches, adapters, apis, sizes = {}, {}, {}, [], {}
        for mb in sizes_mb:
            db = server.create_database(f"bench_{mb}mb")
            url = urls[mb] = server.url(db)
            rows = mb * 1024 * 1024 // (ROW_BYTES + 40)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL, payload text NOT NULL)")
                conn.execute("INSERT INTO items (n, payload) SELECT g, repeat(md5(g::text), %s) FROM"
                             " generate_series(1, %s) g", (ROW_BYTES // 32, rows))
                conn.execute("VACUUM ANALYZE items")
                sizes[mb] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            api = psycopg.connect(url, autocommit=True)
            apis.append(api)

            def branch(i: int, api=api, rows=rows) -> None:
                rnd = random.Random(i)
                with api.transaction():
                    for _ in range(4):
                        api.execute("UPDATE items SET n = n + 1 WHERE id = %s", (rnd.randint(1, rows),))
                    for _ in range(3):
                        api.execute("INSERT INTO items (n, payload) VALUES (0, 'new')")
                    for _ in range(3):
                        api.execute("DELETE FROM items WHERE id = %s", (rnd.randint(1, rows),))

            branches[mb] = branch
            adapters[mb] = open_adapter(url)
        out["journal"] = journal_results(adapters, branches, sizes, rounds)
        for api in apis:
            api.close()
        large = max(sizes_mb)
        url = urls[large]
        template = open_adapter(url, mode="template")
        template.install()
        api_url = url

        def branch_reconnect(i: int) -> None:  # template mode cut the pool off: the API reconnects
            with psycopg.connect(api_url, autocommit=True) as api:
                api.execute("UPDATE items SET n = n + 1 WHERE id = %s", (i + 1,))

        samples = timed_restores(template, branch_reconnect, max(3, rounds // 5))
        out["template"] = {f"{large}MB": {"restore_ms_median": median_ms(samples)}}
        template.uninstall()
        template.close()
        j_small = out["journal"][f"{min(sizes_mb)}MB"]["restore_ms_median"]
        j_large = out["journal"][f"{large}MB"]["restore_ms_median"]
        out["ratios"] = {"large_over_small": round(j_large / j_small, 2),
                         "template_over_journal": round(out["template"][f"{large}MB"]["restore_ms_median"] / j_large, 1)}
        out["targets"] = {"journal_le_3ms": j_large <= 3 and j_small <= 3,
                          "size_ratio_le_1_5": out["ratios"]["large_over_small"] <= 1.5,
                          "template_ge_30x": out["ratios"]["template_over_journal"] >= 30}
        return out
    finally:
        server.stop()


# -- MariaDB ----------------------------------------------------------------------------------------


def bench_mariadb(sizes_mb: tuple[int, int], rounds: int) -> dict:
    import pymysql

    server = MariaDBServer().start()
    try:
        out: dict = {"journal": {}}
        apis, branches, adapters, sizes = {}, {}, {}, {}
        for mb in sizes_mb:
            db = server.create_database(f"bench_{mb}mb")
            url = server.url(db)
            rows = mb * 1024 * 1024 // (ROW_BYTES + 40)
            api = apis[mb] = pymysql.connect(host=server.host, port=server.port, user="root", database=db,
                                             autocommit=True)
            with api.cursor() as cur:
                cur.execute("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL, payload TEXT NOT NULL)")
                cur.execute(f"INSERT INTO items (n, payload) SELECT seq, REPEAT(MD5(seq), {ROW_BYTES // 32})"
                            f" FROM seq_1_to_{rows}")
                cur.execute("ANALYZE TABLE items")
                cur.fetchall()
                cur.execute("SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES"
                            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items'")
                sizes[mb] = cur.fetchone()[0]

            def branch(i: int, api=api, rows=rows) -> None:
                rnd = random.Random(i)
                with api.cursor() as cur:
                    cur.execute("START TRANSACTION")
                    for _ in range(4):
                        cur.execute("UPDATE items SET n = n + 1 WHERE id = %s", (rnd.randint(1, rows),))
                    for _ in range(3):
                        cur.execute("INSERT INTO items (n, payload) VALUES (0, 'new')")
                    for _ in range(3):
                        cur.execute("DELETE FROM items WHERE id = %s", (rnd.randint(1, rows),))
                    cur.execute("COMMIT")

            branches[mb] = branch
            adapters[mb] = open_adapter(url)
        out["journal"] = journal_results(adapters, branches, sizes, rounds)
        mb = max(sizes_mb)  # full restore for comparison: reload the table from a snapshot copy
        with apis[mb].cursor() as cur:
            cur.execute("CREATE TABLE items_snapshot LIKE items")
            cur.execute("INSERT INTO items_snapshot SELECT * FROM items")
            samples = []
            for i in range(3):
                branches[mb](i)
                started = time.perf_counter()
                cur.execute("TRUNCATE items")
                cur.execute("INSERT INTO items SELECT * FROM items_snapshot")
                samples.append(time.perf_counter() - started)
            cur.execute("DROP TABLE items_snapshot")
        out["full_copy"] = {f"{mb}MB": {"restore_ms_median": median_ms(samples)}}
        for api in apis.values():
            api.close()
        small, large = (f"{m}MB" for m in sizes_mb)
        j_small, j_large = (out["journal"][k]["restore_ms_median"] for k in (small, large))
        out["ratios"] = {"large_over_small": round(j_large / j_small, 2),
                         "full_copy_over_journal": round(out["full_copy"][large]["restore_ms_median"] / j_large, 1)}
        return out
    finally:
        server.stop()


# -- SQLite -----------------------------------------------------------------------------------------


def bench_sqlite(sizes_mb: tuple[int, int], rounds: int, workdir: Path) -> dict:
    out: dict = {"triggers": {}}
    for mb in sizes_mb:
        path = workdir / f"bench_{mb}mb.db"
        rows = mb * 1024 * 1024 // (ROW_BYTES + 20)
        api = sqlite3.connect(path, isolation_level=None)
        api.execute("PRAGMA journal_mode = WAL")
        api.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, n INT NOT NULL, payload TEXT NOT NULL)")
        api.execute("BEGIN")
        api.executemany("INSERT INTO items (n, payload) VALUES (?, ?)",
                        ((i, f"{i:08d}" * (ROW_BYTES // 8)) for i in range(rows)))
        api.execute("COMMIT")
        api.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        def branch(i: int, api=api, rows=rows) -> None:
            rnd = random.Random(i)
            api.execute("BEGIN IMMEDIATE")
            for _ in range(4):
                api.execute("UPDATE items SET n = n + 1 WHERE id = ?", (rnd.randint(1, rows),))
            for _ in range(3):
                api.execute("INSERT INTO items (n, payload) VALUES (0, 'new')")
            for _ in range(3):
                api.execute("DELETE FROM items WHERE id = ?", (rnd.randint(1, rows),))
            api.execute("COMMIT")

        url = f"sqlite:///{path}"
        adapter = open_adapter(url)
        adapter.install()
        timed_restores(adapter, branch, 3)
        restores = timed_restores(adapter, branch, rounds)
        out["triggers"][f"{mb}MB"] = {"db_bytes": path.stat().st_size, "restore_ms_median": median_ms(restores),
                                      "checkpoint_ms_median": median_ms(timed_checkpoints(adapter, rounds))}
        adapter.restore(adapter.baseline)
        adapter.uninstall()
        adapter.close()
        if mb == max(sizes_mb):
            backup = open_adapter(url + "?mode=backup")
            backup.install()
            samples = timed_restores(backup, branch, 3)
            out["backup_api"] = {f"{mb}MB": {"restore_ms_median": median_ms(samples)}}
            backup.uninstall()
            backup.close()
        api.close()
    small, large = (f"{m}MB" for m in sizes_mb)
    j_small, j_large = (out["triggers"][k]["restore_ms_median"] for k in (small, large))
    out["ratios"] = {"large_over_small": round(j_large / j_small, 2),
                     "backup_over_triggers": round(out["backup_api"][large]["restore_ms_median"] / j_large, 1)}
    return out


# -- Redis ------------------------------------------------------------------------------------------


def bench_redis(sizes_mb: tuple[int, int], rounds: int) -> dict:
    import redis

    server = RedisServer().start()
    try:
        out: dict = {"swapdb": {}, "dump": {}}
        for number, mb in enumerate(sizes_mb, start=1):
            url = server.url(number)
            api = redis.Redis(host=server.host, port=server.port, db=number)
            keys = mb * 1024 * 1024 // 1024
            value = b"x" * 1000
            for start in range(0, keys, 5000):
                pipe = api.pipeline(transaction=False)
                for k in range(start, min(keys, start + 5000)):
                    pipe.set(f"item:{k}", value)
                pipe.execute()

            def branch(i: int, api=api, keys=keys) -> None:
                rnd = random.Random(i)
                for _ in range(10):
                    api.set(f"item:{rnd.randrange(keys)}", b"changed")

            for mode in ("swapdb", "dump"):
                adapter = open_adapter(url, mode=mode)
                adapter.install()
                samples = timed_restores(adapter, branch, max(3, rounds // 5))
                out[mode][f"{mb}MB"] = {"keys": keys, "restore_ms_median": median_ms(samples),
                                        "checkpoint_ms_median": median_ms(timed_checkpoints(adapter, 3))}
                adapter.restore(adapter.baseline)
                adapter.uninstall()
                adapter.close()
            # the atomic part of a SWAPDB restore alone (what the API can observe)
            spare = server.databases - 2
            started = time.perf_counter()
            api.swapdb(number, spare)
            out["swapdb"][f"{mb}MB"]["swap_only_ms"] = round((time.perf_counter() - started) * 1000, 3)
            api.swapdb(number, spare)
            api.flushdb()
        return out
    finally:
        server.stop()


def write_markdown(results: dict, path: Path) -> None:
    pg, my, sq, rd = (results[k] for k in ("postgresql", "mariadb", "sqlite", "redis"))
    small, large = results["sizes"]
    lines = [
        "# Rollback benchmark (restore of a branch that changed 10 rows; medians in ms)",
        "",
        f"Measured {results['measured_at']} on {results['machine']}, {results['rounds']} rounds per cell;"
        f" 1-minute load when each system started: PostgreSQL {pg['load_1min_at_start']}, MariaDB"
        f" {my['load_1min_at_start']}, SQLite {sq['load_1min_at_start']}, Redis {rd['load_1min_at_start']}.",
        "",
        f"| system | mode | {small} | {large} | large/small | full restore of {large} | full / incremental |",
        "|---|---|---|---|---|---|---|",
        f"| PostgreSQL | trigger journal | {pg['journal'][small]['restore_ms_median']} | "
        f"{pg['journal'][large]['restore_ms_median']} | {pg['ratios']['large_over_small']}x | template clone: "
        f"{pg['template'][large]['restore_ms_median']} | {pg['ratios']['template_over_journal']}x |",
        f"| MariaDB | generated triggers | {my['journal'][small]['restore_ms_median']} | "
        f"{my['journal'][large]['restore_ms_median']} | {my['ratios']['large_over_small']}x | table reload: "
        f"{my['full_copy'][large]['restore_ms_median']} | {my['ratios']['full_copy_over_journal']}x |",
        f"| SQLite | generated triggers | {sq['triggers'][small]['restore_ms_median']} | "
        f"{sq['triggers'][large]['restore_ms_median']} | {sq['ratios']['large_over_small']}x | backup API: "
        f"{sq['backup_api'][large]['restore_ms_median']} | {sq['ratios']['backup_over_triggers']}x |",
        f"| Redis | SWAPDB (+ refill of the spare) | {rd['swapdb'][small]['restore_ms_median']} | "
        f"{rd['swapdb'][large]['restore_ms_median']} | - | DUMP/RESTORE: {rd['dump'][large]['restore_ms_median']} | - |",
        "",
        f"Checkpoint medians (ms), {large}: PostgreSQL {pg['journal'][large]['checkpoint_ms_median']},"
        f" MariaDB {my['journal'][large]['checkpoint_ms_median']}, SQLite {sq['triggers'][large]['checkpoint_ms_median']}.",
        f"Redis SWAPDB alone (what the API observes, atomic): {rd['swapdb'][large]['swap_only_ms']} ms at {large}.",
        "",
        "PostgreSQL targets: journal restore <= 3 ms: "
        f"{pg['targets']['journal_le_3ms']}; within 1.5x between sizes: {pg['targets']['size_ratio_le_1_5']};"
        f" template clone >= 30x slower: {pg['targets']['template_ge_30x']}.",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--large-mb", type=int, default=100)
    args = parser.parse_args()
    sizes = (args.small_mb, args.large_mb)
    results: dict = {"sizes": [f"{m}MB" for m in sizes], "rounds": args.rounds,
                     "measured_at": time.strftime("%Y-%m-%d %H:%M"),
                     "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory(prefix="venom-bench-") as tmp:
        for name, run in (("postgresql", lambda: bench_postgres(sizes, args.rounds)),
                          ("mariadb", lambda: bench_mariadb(sizes, args.rounds)),
                          ("sqlite", lambda: bench_sqlite(sizes, args.rounds, Path(tmp))),
                          ("redis", lambda: bench_redis(sizes, args.rounds))):
            started = time.perf_counter()
            load = os.getloadavg()[0]
            results[name] = run()
            results[name]["load_1min_at_start"] = round(load, 2)
            print(f"{name}: done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            print(json.dumps(results[name]), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rollback.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, RESULTS / "rollback.md")
    print((RESULTS / "rollback.md").read_text())


if __name__ == "__main__":
    main()
