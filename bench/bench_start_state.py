"""Start-state benchmark (PostgreSQL journal mode): what `record --db` and `explore` pay for it.

    python bench/bench_start_state.py [--rounds 3] [--small-mb 10] [--large-mb 100]

Per size (an ``items`` table from bench_rollback's generator):
- export: ``save_start_state`` into a ``.start`` file (COPY out, msgpack, fsync), and its size;
- import after a recording: the "API" (another connection) then changed 1500 rows (500 updates,
  500 inserts, 500 deletes); the adapter installed, the start state imported from the file, and the
  restore of the checkpoint taken before the import (what ``finish`` pays to give the data back);
- import into an emptied table (every row written: the worst case).
Medians over ``--rounds``. Writes bench/results/start_state.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rollback import postgres_items  # noqa: E402
from support.db_servers import PostgresServer  # noqa: E402
from venom_replay.adapters.registry import open_adapter  # noqa: E402
from venom_replay.replay.start_state import read_start_state, save_start_state  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHANGED = 500  # rows per kind of write the "API" makes during the recording


def _seconds(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def recording_writes(url: str, rows: int) -> None:
    """What the traffic of a recording did, from another connection: updates, inserts, deletes."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as api:
        api.execute("UPDATE items SET n = -n WHERE mod(id, %s) = 0 AND id <= %s", (max(1, rows // 2 // CHANGED), rows // 2))
        api.execute("INSERT INTO items (n, payload) SELECT g, 'made by the recording' FROM generate_series(1, %s) g",
                    (CHANGED,))
        api.execute("DELETE FROM items WHERE id IN (SELECT id FROM items WHERE id > %s ORDER BY id LIMIT %s)",
                    (rows // 2, CHANGED))


def timed_import(url: str, recording: Path) -> tuple[float, float, dict]:
    """(import seconds, seconds to restore the content before it, what the import changed)."""
    start = read_start_state(recording)
    binding = start.bind([url])
    adapter = open_adapter(url)
    adapter.install()
    try:
        before = adapter.checkpoint()
        t0 = time.perf_counter()
        stats = adapter.import_content(binding.parts_for(adapter))
        imported = time.perf_counter() - t0
        t0 = time.perf_counter()
        adapter.restore(before)
        restored = time.perf_counter() - t0
    finally:
        adapter.uninstall()
        adapter.close()
    return imported, restored, {"removed": stats.removed, "added": stats.added}


def bench_size(server: PostgresServer, mb: int, rounds: int, workdir: Path) -> dict:
    import psycopg

    url = server.url(server.create_database(f"start_{mb}mb"))
    rows, db_bytes = postgres_items(url, mb)
    exports, file_bytes = [], 0
    for i in range(rounds):
        recording = workdir / f"{mb}mb-{i}.vrec"
        t0 = time.perf_counter()
        save_start_state(recording, [url])
        exports.append(time.perf_counter() - t0)
        file_bytes = Path(f"{recording}.start").stat().st_size
    recording_writes(url, rows)
    after_recording = [timed_import(url, workdir / f"{mb}mb-{i}.vrec") for i in range(rounds)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM items")
    emptied = [timed_import(url, workdir / f"{mb}mb-{i}.vrec") for i in range(rounds)]
    return {
        "rows": rows, "database_bytes": db_bytes, "start_file_bytes": file_bytes,
        "export_s_median": _seconds(exports),
        "after_recording": {"changed": after_recording[0][2], "import_s_median": _seconds([r[0] for r in after_recording]),
                            "restore_before_import_s_median": _seconds([r[1] for r in after_recording])},
        "into_empty_table": {"changed": emptied[0][2], "import_s_median": _seconds([r[0] for r in emptied]),
                             "restore_before_import_s_median": _seconds([r[1] for r in emptied])},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--large-mb", type=int, default=100)
    args = parser.parse_args()
    results: dict = {"system": "postgresql 15, journal mode", "rounds": args.rounds,
                     "measured_at": time.strftime("%Y-%m-%d %H:%M"), "load_1min_at_start": round(os.getloadavg()[0], 2),
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    server = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="venom-bench-start-") as tmp:
            for mb in (args.small_mb, args.large_mb):
                started = time.perf_counter()
                results[f"{mb}MB"] = bench_size(server, mb, args.rounds, Path(tmp))
                print(f"{mb} MB: done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "start_state.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
