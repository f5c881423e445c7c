"""Benchmark: checkpoint + restore of a file tree (``dir:///``) with 10 changed files per step.

    python bench/bench_files.py [--sizes 1000,10000,50000] [--rounds 50]   # writes bench/results/files.json

Goal (issue 17): checkpoint and restore of 10 changed files in a 10,000-file tree under 5 ms each,
flat in tree size. Per tree size: a tree of N files of 1 KiB (100 per folder) is installed, then each
round takes a checkpoint, rewrites 10 files (4 rewritten, 3 created, 2 deleted, 1 chmod), takes a
checkpoint (which copies what changed) and restores the first one. The writes themselves are not
timed. Medians and 95th percentiles over the rounds; install time (one full read) is reported too.

The alternative to inotify, a scan of the tree comparing mtime, size and inode per path, is timed too
(``stat_scan_ms``: one os.walk + lstat of every path, no hashing): that is the least a scanning
checkpoint would cost per step, and it grows with the tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from venom_replay.adapters.registry import open_adapter

ROOT = Path(__file__).resolve().parents[1]


def make_tree(root: str, files: int) -> list[str]:
    names = []
    for i in range(files):
        folder = os.path.join(root, f"d{i // 100:04d}")
        if i % 100 == 0:
            os.mkdir(folder)
        path = os.path.join(folder, f"f{i:06d}.bin")
        with open(path, "wb") as handle:
            handle.write(os.urandom(1024))
        names.append(path)
    return names


def change_ten(root: str, names: list[str], rng: random.Random, round_no: int) -> None:
    picked = rng.sample(names, 7)
    for path in picked[:4]:
        with open(path, "wb") as handle:
            handle.write(os.urandom(1024))
    for n in range(3):
        with open(os.path.join(root, "d0000", f"new-{round_no}-{n}.bin"), "wb") as handle:
            handle.write(os.urandom(1024))
    for path in picked[4:6]:
        os.unlink(path)
    os.chmod(picked[6], 0o600)


def stat_scan_ms(root: str) -> float:
    started = time.perf_counter()
    seen: dict[str, tuple[int, int, int]] = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            seen[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench(size: int, rounds: int) -> dict[str, float | int]:
    base = tempfile.mkdtemp(prefix="venom-files-bench-")
    root = os.path.join(base, "uploads")
    os.mkdir(root)
    try:
        names = make_tree(root, size)
        adapter = open_adapter(f"dir://{root}")
        started = time.perf_counter()
        adapter.install()
        install_ms = (time.perf_counter() - started) * 1000
        rng = random.Random(size)
        checkpoints, restores = [], []
        for round_no in range(rounds):
            before = adapter.checkpoint()
            change_ten(root, names, rng, round_no)
            started = time.perf_counter()
            adapter.checkpoint()
            checkpoints.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            adapter.restore(before)
            restores.append((time.perf_counter() - started) * 1000)
        adapter.restore(adapter.baseline)
        adapter.uninstall()
        scans = [stat_scan_ms(root) for _ in range(5)]
        return {"files": size, "rounds": rounds, "install_ms": round(install_ms, 1),
                "stat_scan_ms_median": round(statistics.median(scans), 2),
                "checkpoint_ms_median": round(statistics.median(checkpoints), 3),
                "checkpoint_ms_p95": round(percentile(checkpoints, 0.95), 3),
                "restore_ms_median": round(statistics.median(restores), 3),
                "restore_ms_p95": round(percentile(restores, 0.95), 3)}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = bench(size, args.rounds)
        print(json.dumps(row))
        results.append(row)
    out = ROOT / "bench" / "results" / "files.json"
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "goal_ms": 5.0, "changed_files_per_step": 10, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
