"""Rollback benchmark: restore a branch that changed 10 rows, on a ~10 MB and a ~100 MB database,
against a full restore of the 100 MB one, for PostgreSQL, MariaDB, SQLite and Redis, in one run.

    python bench/bench_rollback.py [--rounds 25] [--small-mb 10] [--large-mb 100] [--only redis ...]

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
SYSTEMS = ("postgresql", "mariadb", "sqlite", "redis")
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


def change_ten_rows(execute: Callable[..., object], rows: int, i: int, mark: str = "%s") -> None:
    """Branch ``i``'s writes of the API through ``execute(sql, params)``: 4 updates, 3 inserts and
    3 deletes of the items table (ids drawn from 1..rows). ``mark``: the driver's placeholder."""
    rnd = random.Random(i)
    for _ in range(4):
        execute(f"UPDATE items SET n = n + 1 WHERE id = {mark}", (rnd.randint(1, rows),))
    for _ in range(3):
        execute("INSERT INTO items (n, payload) VALUES (0, 'new')")
    for _ in range(3):
        execute(f"DELETE FROM items WHERE id = {mark}", (rnd.randint(1, rows),))


def size_result(adapter, db_bytes: int, restores: list[float], rounds: int) -> dict:
    """One size's row (restore and checkpoint medians); then the database is put back and the
    adapter removed."""
    row = {"db_bytes": db_bytes, "restore_ms_median": median_ms(restores),
           "checkpoint_ms_median": median_ms(timed_checkpoints(adapter, rounds))}
    adapter.restore(adapter.baseline)
    adapter.uninstall()
    adapter.close()
    return row


def size_ratios(journal: dict, sizes_mb: tuple[int, int], full: dict, full_key: str) -> dict:
    """How the incremental restore scales (large over small size) and how much slower the full
    restore of the large size is (``full_key``: e.g. template_over_journal)."""
    j_small, j_large = (journal[f"{m}MB"]["restore_ms_median"] for m in (min(sizes_mb), max(sizes_mb)))
    return {"large_over_small": round(j_large / j_small, 2),
            full_key: round(full[f"{max(sizes_mb)}MB"]["restore_ms_median"] / j_large, 1)}


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
    return {f"{key}MB": size_result(adapter, sizes[key], restores[key], rounds) for key, adapter in adapters.items()}


def timed_checkpoints(adapter, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        adapter.checkpoint()
        samples.append(time.perf_counter() - started)
    return samples


# -- PostgreSQL ------------------------------------------------------------------------------------


def postgres_items(url: str, mb: int) -> tuple[int, int]:
    """Fill ``url`` with an ``items`` table of about ``mb`` MB; (rows, database size in bytes)."""
    import psycopg

    rows = mb * 1024 * 1024 // (ROW_BYTES + 40)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL, payload text NOT NULL)")
        conn.execute("INSERT INTO items (n, payload) SELECT g, repeat(md5(g::text), %s) FROM"
                     " generate_series(1, %s) g", (ROW_BYTES // 32, rows))
        conn.execute("VACUUM ANALYZE items")
        return rows, conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def bench_postgres(sizes_mb: tuple[int, int], rounds: int) -> dict:
    import psycopg

    server = PostgresServer().start()
    try:
        out: dict = {"journal": {}}
        urls, branches, adapters, apis, sizes = {}, {}, {}, [], {}
        for mb in sizes_mb:
            db = server.create_database(f"bench_{mb}mb")
            url = urls[mb] = server.url(db)
            rows, sizes[mb] = postgres_items(url, mb)
            api = psycopg.connect(url, autocommit=True)
            apis.append(api)

            def branch(i: int, api=api, rows=rows) -> None:
                with api.transaction():
                    change_ten_rows(api.execute, rows, i)

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
        out["ratios"] = size_ratios(out["journal"], sizes_mb, out["template"], "template_over_journal")
        out["targets"] = {"journal_le_3ms": all(row["restore_ms_median"] <= 3 for row in out["journal"].values()),
                          "size_ratio_le_1_5": out["ratios"]["large_over_small"] <= 1.5,
                          "template_ge_30x": out["ratios"]["template_over_journal"] >= 30}
        return out
    finally:
        server.stop()


# -- MariaDB ----------------------------------------------------------------------------------------


def mariadb_install_costs(urls: dict) -> dict:
    """install() with the copy of every table that lets a TRUNCATE be undone, and without it
    (?truncate=refuse); {"10MB": {"copies_ms": ..., "refuse_ms": ...}, ...}."""
    out = {}
    for mb, url in urls.items():
        row = {}
        for label, suffix in (("refuse", "?truncate=refuse"), ("copies", "")):
            adapter = open_adapter(url + suffix)
            started = time.perf_counter()
            adapter.install()
            row[f"{label}_ms"] = round((time.perf_counter() - started) * 1000, 1)
            adapter.uninstall()
            adapter.close()
        out[f"{mb}MB"] = row
    return out


def bench_mariadb(sizes_mb: tuple[int, int], rounds: int) -> dict:
    import pymysql

    server = MariaDBServer().start()
    try:
        out: dict = {"journal": {}}
        apis, branches, adapters, sizes, urls = {}, {}, {}, {}, {}
        for mb in sizes_mb:
            db = server.create_database(f"bench_{mb}mb")
            url = urls[mb] = server.url(db)
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
                with api.cursor() as cur:
                    cur.execute("START TRANSACTION")
                    change_ten_rows(cur.execute, rows, i)
                    cur.execute("COMMIT")

            branches[mb] = branch
            adapters[mb] = open_adapter(url)
        out["install"] = mariadb_install_costs(urls)
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
        out["ratios"] = size_ratios(out["journal"], sizes_mb, out["full_copy"], "full_copy_over_journal")
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
            api.execute("BEGIN IMMEDIATE")
            change_ten_rows(api.execute, rows, i, mark="?")
            api.execute("COMMIT")

        url = f"sqlite:///{path}"
        adapter = open_adapter(url)
        adapter.install()
        timed_restores(adapter, branch, 3)
        restores = timed_restores(adapter, branch, rounds)
        out["triggers"][f"{mb}MB"] = size_result(adapter, path.stat().st_size, restores, rounds)
        if mb == max(sizes_mb):
            backup = open_adapter(url + "?mode=backup")
            backup.install()
            samples = timed_restores(backup, branch, 3)
            out["backup_api"] = {f"{mb}MB": {"restore_ms_median": median_ms(samples)}}
            backup.uninstall()
            backup.close()
        api.close()
    out["ratios"] = size_ratios(out["triggers"], sizes_mb, out["backup_api"], "backup_over_triggers")
    return out


# -- Redis ------------------------------------------------------------------------------------------


def bench_redis(sizes_mb: tuple[int, int], rounds: int) -> dict:
    """Both sizes on one server, installed at once and taking turns round by round, per mode; then a
    full DUMP/RESTORE of the large keyspace (the non-incremental restore) and a full rehash."""
    import redis
    from venom_replay.adapters.redis.hash import full_fingerprint

    server = RedisServer().start()
    try:
        urls, branches, layout, keys_of = {}, {}, {}, {}
        for n, mb in enumerate(sizes_mb):
            number = n + 1
            urls[mb] = server.url(number)
            api = redis.Redis(host=server.host, port=server.port, db=number)  # the API's own connection
            keys = keys_of[mb] = mb * 1024 * 1024 // 1024
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

            branches[mb] = branch
            top = server.databases - 1 - 3 * n  # each size its own baseline and spare databases
            layout[mb] = {"baseline_db": top, "spare_dbs": [top - 1, top - 2]}
        out: dict = {"keys": {f"{mb}MB": keys_of[mb] for mb in sizes_mb}}
        for mode in ("dump", "swapdb"):
            adapters = {mb: open_adapter(urls[mb], mode=mode, baseline_db=layout[mb]["baseline_db"],
                                         **({"spare_dbs": layout[mb]["spare_dbs"]} if mode == "swapdb" else {}))
                        for mb in sizes_mb}
            first_fp = {}
            for mb, adapter in adapters.items():
                adapter.install()
                started = time.perf_counter()
                adapter.fingerprint()  # the first one hashes every key
                first_fp[mb] = time.perf_counter() - started
                timed_restores(adapter, branches[mb], 3)  # warm-up
            restores = interleaved_restores(adapters, branches, rounds)
            fingerprints = {mb: [] for mb in sizes_mb}
            checkpoints = {mb: [] for mb in sizes_mb}
            for i in range(rounds):  # 10 keys changed since the previous call
                for mb, adapter in adapters.items():
                    branches[mb](2000 + i)
                    started = time.perf_counter()
                    adapter.fingerprint()
                    fingerprints[mb].append(time.perf_counter() - started)
                    branches[mb](3000 + i)
                    started = time.perf_counter()
                    adapter.checkpoint()
                    checkpoints[mb].append(time.perf_counter() - started)
            out[mode] = {f"{mb}MB": {"restore_ms_median": median_ms(restores[mb]),
                                     "fingerprint_10_keys_ms_median": median_ms(fingerprints[mb]),
                                     "checkpoint_10_keys_ms_median": median_ms(checkpoints[mb]),
                                     "first_fingerprint_ms": round(first_fp[mb] * 1000, 3)} for mb in sizes_mb}
            for adapter in adapters.values():
                adapter.restore(adapter.baseline)
                adapter.uninstall()
                adapter.close()
        large = max(sizes_mb)
        api = redis.Redis(host=server.host, port=server.port, db=sizes_mb.index(large) + 1)
        spare = server.databases - 1
        started = time.perf_counter()
        api.swapdb(sizes_mb.index(large) + 1, spare)  # the atomic part of a SWAPDB restore alone
        swap_only = time.perf_counter() - started
        api.swapdb(sizes_mb.index(large) + 1, spare)
        out["swapdb"][f"{large}MB"]["swap_only_ms"] = round(swap_only * 1000, 3)
        out["full_restore"] = {f"{large}MB": full_dump_restore(api, branches[large])}
        started = time.perf_counter()
        full_fingerprint(api)
        out["full_rehash_ms"] = {f"{large}MB": round((time.perf_counter() - started) * 1000, 3)}
        small_key, large_key = (f"{m}MB" for m in sizes_mb)
        full = out["full_restore"][large_key]["restore_ms_median"]
        out["ratios"] = {mode: {"large_over_small": round(out[mode][large_key]["restore_ms_median"]
                                                          / out[mode][small_key]["restore_ms_median"], 2),
                                "full_over_incremental": round(full / out[mode][large_key]["restore_ms_median"], 1)}
                         for mode in ("dump", "swapdb")}
        out["targets"] = {mode: {"size_ratio_le_1_5": r["large_over_small"] <= 1.5,
                                 "full_ge_30x": r["full_over_incremental"] >= 30}
                          for mode, r in out["ratios"].items()}
        return out
    finally:
        server.stop()


def full_dump_restore(api, branch: Callable[[int], None], samples: int = 3) -> dict:
    """The non-incremental way: DUMP+PTTL of every key, then FLUSHDB + RESTORE of all in one MULTI/EXEC."""
    keys = list(api.scan_iter(count=1000))
    started = time.perf_counter()
    snapshot = []
    for start in range(0, len(keys), 2000):
        pipe = api.pipeline(transaction=False)
        for key in keys[start:start + 2000]:
            pipe.dump(key)
            pipe.pttl(key)
        replies = pipe.execute()
        snapshot += [(k, max(t, 0), d) for k, d, t in zip(keys[start:start + 2000], replies[0::2], replies[1::2])]
    dump_ms = (time.perf_counter() - started) * 1000
    times = []
    for i in range(samples):
        branch(4000 + i)
        started = time.perf_counter()
        pipe = api.pipeline(transaction=True)
        pipe.flushdb()
        for key, ttl, dumped in snapshot:
            pipe.restore(key, ttl, dumped, replace=True)
        pipe.execute()
        times.append(time.perf_counter() - started)
    return {"restore_ms_median": median_ms(times), "dump_ms": round(dump_ms, 3)}


def write_markdown(results: dict, path: Path) -> None:
    pg, my, sq, rd = (results[k] for k in ("postgresql", "mariadb", "sqlite", "redis"))
    small, large = results["sizes"]
    lines = [
        "# Rollback benchmark (restore of a branch that changed 10 rows; medians in ms)",
        "",
        f"On {results['machine']}, {results['rounds']} rounds per cell. Each system measured at (1-minute load when"
        f" it started): " + ", ".join(f"{name} {r.get('measured_at', results['measured_at'])} ({r['load_1min_at_start']})"
                                      for name, r in (("PostgreSQL", pg), ("MariaDB", my), ("SQLite", sq), ("Redis", rd)))
        + ".",
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
        *[f"| Redis | {label} | {rd[mode][small]['restore_ms_median']} | {rd[mode][large]['restore_ms_median']} | "
          f"{rd['ratios'][mode]['large_over_small']}x | full DUMP/RESTORE: "
          f"{rd['full_restore'][large]['restore_ms_median']} | {rd['ratios'][mode]['full_over_incremental']}x |"
          for mode, label in (("dump", "incremental DUMP/RESTORE (`dump`)"),
                              ("swapdb", "SWAPDB + incremental refill of the spare (`swapdb`)"))],
        "",
        f"Checkpoint medians (ms), {large}: PostgreSQL {pg['journal'][large]['checkpoint_ms_median']},"
        f" MariaDB {my['journal'][large]['checkpoint_ms_median']}, SQLite {sq['triggers'][large]['checkpoint_ms_median']}.",
        *([f"MariaDB install, {small} / {large}: {my['install'][small]['copies_ms']} / {my['install'][large]['copies_ms']}"
            " ms with a copy of every table (so that a TRUNCATE can be undone), "
            f"{my['install'][small]['refuse_ms']} / {my['install'][large]['refuse_ms']} ms without (`?truncate=refuse`);"
            f" MariaDB rows measured {my.get('measured_at', results['measured_at'])} at load {my['load_1min_at_start']}."]
          if "install" in my else []),  # results of an older run lack it
        f"Redis SWAPDB alone (what the API observes, atomic): {rd['swapdb'][large]['swap_only_ms']} ms at {large}.",
        f"Redis with 10 keys changed since the previous call, {small} / {large}: fingerprint"
        f" {rd['dump'][small]['fingerprint_10_keys_ms_median']} / {rd['dump'][large]['fingerprint_10_keys_ms_median']}"
        f" ms (a full rehash of {large}: {rd['full_rehash_ms'][large]} ms), checkpoint"
        f" {rd['dump'][small]['checkpoint_10_keys_ms_median']} / {rd['dump'][large]['checkpoint_10_keys_ms_median']}"
        f" ms (`dump`), {rd['swapdb'][small]['checkpoint_10_keys_ms_median']} /"
        f" {rd['swapdb'][large]['checkpoint_10_keys_ms_median']} ms (`swapdb`); a full DUMP of {large}:"
        f" {rd['full_restore'][large]['dump_ms']} ms. Redis rows measured {rd.get('measured_at', results['measured_at'])},"
        f" {rd.get('rounds', results['rounds'])} rounds.",
        "",
        "PostgreSQL targets: journal restore <= 3 ms: "
        f"{pg['targets']['journal_le_3ms']}; within 1.5x between sizes: {pg['targets']['size_ratio_le_1_5']};"
        f" template clone >= 30x slower: {pg['targets']['template_ge_30x']}.",
        "Redis targets (restore of 10 changed keys): within 1.5x between sizes: "
        + ", ".join(f"{m} {rd['targets'][m]['size_ratio_le_1_5']}" for m in ("dump", "swapdb"))
        + "; >= 30x faster than a full DUMP/RESTORE: "
        + ", ".join(f"{m} {rd['targets'][m]['full_ge_30x']}" for m in ("dump", "swapdb")) + ".",
    ]
    path.write_text("\n".join(lines) + "\n")


def kept_results(results: dict) -> dict:
    """The stored results (for --only), which must have been measured at the same sizes."""
    stored = json.loads((RESULTS / "rollback.json").read_text())
    if stored.get("sizes") != results["sizes"]:
        sys.exit(f"--only: bench/results/rollback.json holds sizes {stored.get('sizes')}, not {results['sizes']};"
                 " rerun every system")
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--large-mb", type=int, default=100)
    parser.add_argument("--only", action="append", choices=SYSTEMS,
                        help="Rerun only this system (repeatable); the others keep their results in rollback.json.")
    args = parser.parse_args()
    sizes = (args.small_mb, args.large_mb)
    results: dict = {"sizes": [f"{m}MB" for m in sizes], "rounds": args.rounds,
                     "measured_at": time.strftime("%Y-%m-%d %H:%M"),
                     "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"}
    if args.only:
        kept_results(results)  # fail before running if the stored results do not fit
    with tempfile.TemporaryDirectory(prefix="venom-bench-") as tmp:
        for name, run in (("postgresql", lambda: bench_postgres(sizes, args.rounds)),
                          ("mariadb", lambda: bench_mariadb(sizes, args.rounds)),
                          ("sqlite", lambda: bench_sqlite(sizes, args.rounds, Path(tmp))),
                          ("redis", lambda: bench_redis(sizes, args.rounds))):
            if args.only and name not in args.only:
                continue
            started = time.perf_counter()
            load = os.getloadavg()[0]
            results[name] = run()
            results[name]["load_1min_at_start"] = round(load, 2)
            results[name].update(measured_at=time.strftime("%Y-%m-%d %H:%M"), rounds=args.rounds)
            print(f"{name}: done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            print(json.dumps(results[name]), file=sys.stderr)
    if args.only:  # read again now: another system may have been rerun meanwhile
        results = {**kept_results(results), **{name: results[name] for name in args.only}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rollback.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, RESULTS / "rollback.md")
    print((RESULTS / "rollback.md").read_text())


if __name__ == "__main__":
    main()
