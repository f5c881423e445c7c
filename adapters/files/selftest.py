"""`venom-replay db check --db dir:///path`: rollback self-test on the user's tree.

A child process (as an API would) creates, rewrites, deletes, chmods and links files in a scratch
folder ``venom_replay_check`` inside the tree; the adapter restores; the scratch folder is read back
and compared. The scratch folder and the store are removed at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.files.adapter import FileTreeAdapter, root_from_url
from venom_replay.adapters.files.entries import read_entry, walk
from venom_replay.adapters.selftest import CheckResult

SCRATCH = "venom_replay_check"

WRITER = """
import os, sys
folder, n = sys.argv[1], int(sys.argv[2])
open(os.path.join(folder, f"new-{n}.bin"), "wb").write(os.urandom(64))
open(os.path.join(folder, "kept.txt"), "a").write(f"round {n}\\n")
os.chmod(os.path.join(folder, "kept.txt"), 0o600 + n % 2 * 0o40)
if os.path.exists(os.path.join(folder, "gone.txt")):
    os.unlink(os.path.join(folder, "gone.txt"))
os.makedirs(os.path.join(folder, f"dir-{n}", "deep"))
os.symlink("kept.txt", os.path.join(folder, f"link-{n}"))
"""


def read_scratch(folder: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for rel in walk(folder):
        got = read_entry(os.path.join(folder, rel))
        if got is not None:
            found[rel] = (got[0].kind, got[0].mode, got[0].digest, got[0].target)
    return found


def run_tree_check(url: str, *, rounds: int = 5, progress: Callable[[str], None] = lambda _: None) -> CheckResult:
    folder = os.path.join(root_from_url(url), SCRATCH)
    os.makedirs(folder, exist_ok=False)
    with open(os.path.join(folder, "kept.txt"), "w") as handle:
        handle.write("start\n")
    with open(os.path.join(folder, "gone.txt"), "w") as handle:
        handle.write("to be deleted\n")
    adapter = FileTreeAdapter(url)
    problems: list[str] = []
    checkpoint_times: list[float] = []
    restore_times: list[float] = []
    try:
        progress("installing")
        adapter.install()
        expected_fp = adapter.fingerprint()
        for round_no in range(1, rounds + 1):
            before = read_scratch(folder)
            started = time.perf_counter()
            token = adapter.checkpoint()
            checkpoint_times.append((time.perf_counter() - started) * 1000)
            subprocess.run([sys.executable, "-c", WRITER, folder, str(round_no)], check=True)
            if read_scratch(folder) == before:
                problems.append("the separate process's writes were not visible")
            started = time.perf_counter()
            adapter.restore(token)
            restore_times.append((time.perf_counter() - started) * 1000)
            after = read_scratch(folder)
            if after != before:
                changed = sorted(set(after.items()) ^ set(before.items()))[:3]
                problems.append(f"round {round_no}: the tree after restore differs: {changed!r}")
            if adapter.fingerprint() != expected_fp:
                problems.append(f"round {round_no}: fingerprint after restore differs from the checkpoint's")
            progress(f"round {round_no}/{rounds}: restore {restore_times[-1]:.2f} ms")
        notes = list(adapter.notes)
    finally:
        try:
            if adapter.baseline is not None:
                adapter.restore(adapter.baseline)
            adapter.uninstall()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if not restore_times:
        raise AdapterError("self-test did not complete a round")
    return CheckResult(url=url, mode="inotify", exact=not problems, rounds=rounds,
                       checkpoint_ms=statistics.median(checkpoint_times),
                       restore_ms=statistics.median(restore_times), problems=problems, notes=notes)
