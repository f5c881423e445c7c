"""A recording with a damaged stretch in the middle: graph and explore still work from the records
around it and say what was skipped (the reader's report reaches every command that learns from it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=240)


def _damaged_recording(path: Path, target: str) -> None:
    spans = []
    with RecordingWriter(path, target=target) as writer:
        for i in range(1, 9):
            start = path.stat().st_size
            writer.write_exchange(Exchange(
                seq=0, session="s", started=float(i), ended=i + 0.1,
                request=Request("GET", "http", "127.0.0.1", 80, "/items", headers=[("Accept", "application/json")]),
                response=Response(200, headers=[("Content-Type", "application/json")], body=b"[]")))
            spans.append(start)
    data = bytearray(path.read_bytes())
    data[spans[4]:spans[4] + 16] = bytes(16)
    path.write_bytes(bytes(data))


def test_graph_and_explore_say_what_was_skipped(crud_api, tmp_path):
    recording = tmp_path / "r.vrec"
    _damaged_recording(recording, crud_api.url)

    graph = cli("graph", str(recording), cwd=tmp_path)
    assert graph.returncode == 0, graph.stderr
    assert "skipped" in graph.stderr and "unreadable bytes at offset" in graph.stderr, graph.stderr

    explored = cli("explore", str(recording), "--target", crud_api.url, "--report", "out", "--depth", "1", cwd=tmp_path)
    assert explored.returncode in (0, 1), explored.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any("unreadable bytes at offset" in w for w in report["warnings"]), report["warnings"]
