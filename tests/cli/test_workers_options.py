"""`explore --workers/--api-cmd/--replica`: combinations that cannot work are one line and exit 2, before
any database is copied or any API started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "venom_replay.replay.cli"]


@pytest.mark.parametrize("args, says", [
    (["--workers", "2"], "--workers needs replicas"),
    (["--api-cmd", "app --port {port} --db {dbx}", "--db", "sqlite:///{tmp}/shop.db"], "unknown placeholder {dbx}"),
    (["--api-cmd", "app --db {db}", "--db", "sqlite:///{tmp}/shop.db"], "{port}"),
    (["--replica", "notaurl"], "--replica 'notaurl': its first word must be the replica's URL"),
    (["--replica", "http://127.0.0.1:1 sqlite:///a.db", "--replica", "http://127.0.0.1:2"], "same number of database URLs"),
    (["--workers", "3", "--replica", "http://127.0.0.1:1", "--replica", "http://127.0.0.1:2"], "one worker per replica"),
    (["--api-cmd", "app {port}", "--replica", "http://127.0.0.1:1"], "exclude each other"),
    ([], "--target is required"),
])
def test_impossible_combinations_are_one_line(shop_recording: Path, tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "shop.db").write_bytes(b"")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run([*CLI, "explore", str(shop_recording), *args, "--report", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not [p for p in tmp_path.iterdir() if "__vr_" in p.name]  # nothing was copied
