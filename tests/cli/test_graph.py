"""`venom-replay graph` on a recording made through the real proxy in front of a real API."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import requests

from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.graph.transition import build_transition_graph
from venom_replay.graph.unseen import count_unseen, iter_unseen
from venom_replay.proxy.infer.inference import infer_templates


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "venom_replay.replay.cli", "graph", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


def drive(url: str) -> None:
    """Three clients: create/read/update/delete in different orders, one of them lists."""
    for session, ops in {"alice": "cgud", "bob": "cgl", "carol": "cugd"}.items():
        client = requests.Session()
        client.headers["X-Venom-Session"] = session
        item = None
        for op in ops:
            if op == "c":
                item = client.post(f"{url}/items", json={"name": f"pen-{session}", "price": 3}, timeout=10).json()["id"]
            elif op == "g":
                client.get(f"{url}/items/{item}", timeout=10)
            elif op == "u":
                client.put(f"{url}/items/{item}", json={"price": 4}, timeout=10)
            elif op == "d":
                client.delete(f"{url}/items/{item}", timeout=10)
            else:
                client.get(f"{url}/items", timeout=10)


@pytest.fixture(scope="module")
def crud_recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("graph-cli") / "crud.vrec"
    with running_app("apps.crud_api:create_app") as app, recording_proxy(app.url, out) as proxy:
        drive(proxy.url)
    return out


def test_exports_in_the_format_the_extension_names(crud_recording, tmp_path):
    for name in ("crud.html", "crud.graphml"):
        result = run_cli(str(crud_recording), "-o", str(tmp_path / name), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"wrote {tmp_path / name}: 5 templates, 3 sessions")
    back = nx.read_graphml(tmp_path / "crud.graphml", force_multigraph=True)
    assert "POST /items" in {d["label"] for _, d in back.nodes(data=True)}
    assert "<svg" in (tmp_path / "crud.html").read_text()


def test_unseen_json_matches_the_library(crud_recording, tmp_path):
    result = run_cli(str(crud_recording), "--unseen", "--depth", "3", "--limit", "7", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    g = build_transition_graph(infer_templates(crud_recording))
    assert payload["counts"] == {str(k): n for k, n in count_unseen(g, 3).items()}
    assert payload["unseen"] == [list(s) for s in itertools.islice(iter_unseen(g, 3), 7)]
    assert set(payload["counts"]) == {"1", "2", "3"} and payload["counts"]["3"] > 0
    everything = run_cli(str(crud_recording), "--unseen", "--depth", "2", "--limit", "0", "--json", cwd=tmp_path)
    listed = json.loads(everything.stdout)
    assert len(listed["unseen"]) == sum(listed["counts"].values())


def test_unseen_text_shows_counts_and_the_first_orderings(crud_recording, tmp_path):
    result = run_cli(str(crud_recording), "--unseen", "--depth", "2", "--limit", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    g = build_transition_graph(infer_templates(crud_recording))
    counts = count_unseen(g, 2)
    assert lines[0] == f"unseen orderings up to 2 steps: {sum(counts.values())}"
    assert lines[1:3] == [f"  length 1: {counts[1]}", f"  length 2: {counts[2]}"]
    first = list(itertools.islice(iter_unseen(g, 2), 3))
    assert lines[-3:] == [f"  {i}. {'  →  '.join(seq)}" for i, seq in enumerate(first, 1)]


def test_an_unknown_extension_is_one_line_listing_the_formats(crud_recording, tmp_path):
    result = run_cli(str(crud_recording), "-o", str(tmp_path / "graph.png"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and ".graphml, .dot" in result.stderr and ".html" in result.stderr
    assert not (tmp_path / "graph.png").exists()


def test_a_missing_recording_is_one_line(tmp_path):
    result = run_cli(str(tmp_path / "nope.vrec"), "-o", str(tmp_path / "g.html"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.vrec'}: no such file"


def test_help_has_an_example(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "venom-replay graph shop.vrec -o shop.html" in result.stdout
