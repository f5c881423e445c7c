"""Faults and bad input as a user meets them: the real command line, its exit code, one line that says
what is wrong (never a traceback), and nothing lost.

The rows of issue 15 gathered here: a recording damaged in the middle (every command says what it
skipped; `record --append` keeps every good record after the damage), databases that cannot be
reached (the URL named, its password masked), every configuration section refused alike (unknown
section or key with the nearest known one, a wrong type, with file and key), and a recording of
several hosts (an unknown `--host`). The replay of a forward recording of two hosts against a live
target is tests/proxy/test_multi_host.py; the reader's own property over thousands of damaged files
is tests/proxy/test_recording_damage.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.net import free_port
from support.proxy import recording_proxy
from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response, read_recording

RECORDS = 12


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The run failed with ``code`` and said why in exactly one line, without a traceback."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def _orders_recording(path: Path, host: str = "127.0.0.1", port: int = 9) -> list[tuple[int, int]]:
    """RECORDS creates of one API; the byte span of each record."""
    spans = []
    with RecordingWriter(path, target=f"http://{host}:{port}") as writer:
        for i in range(1, RECORDS + 1):
            start = path.stat().st_size
            writer.write_exchange(Exchange(
                seq=0, session="s", started=float(i), ended=i + 0.1,
                request=Request("POST", "http", host, port, "/items", headers=[("Content-Type", "application/json")],
                                body=b'{"name": "n%d"}' % i),
                response=Response(201, headers=[("Content-Type", "application/json")], body=b'{"id": %d}' % i)))
            spans.append((start, path.stat().st_size))
    return spans


def _damage(path: Path, offset: int, kind: str, noise: bytes) -> None:
    data = bytearray(path.read_bytes())
    if kind == "type-byte":
        data[offset] = 0xC1  # a byte msgpack never uses
    else:
        data[offset:offset + 16] = noise if kind == "random" else bytes(16)
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- recordings


def test_a_missing_file_and_a_file_that_is_no_recording(tmp_path):
    missing = one_error_line(cli("templates", "nope.vrec", cwd=tmp_path))
    assert "nope.vrec" in missing and "no such file" in missing
    (tmp_path / "notes.txt").write_text("not a recording\n" * 20)
    for command in ("show", "graph"):
        line = one_error_line(cli(command, "notes.txt", cwd=tmp_path))
        assert "notes.txt" in line


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["type-byte", "random", "zeros"]), which=st.integers(2, RECORDS - 1),
       noise=st.binary(min_size=16, max_size=16))
def test_a_record_damaged_in_the_middle_costs_only_itself_and_is_reported(tmp_path_factory, kind, which, noise):
    folder = tmp_path_factory.mktemp("damaged")
    path = folder / "r.vrec"
    spans = _orders_recording(path)
    start, _ = spans[which - 1]
    _damage(path, start, kind, noise)

    shown = cli("show", str(path), "--json", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["exchanges"] == RECORDS - 1 and not summary["torn_tail"]  # the records after it were read
    assert [s["offset"] for s in summary["skipped"]] == [start]

    learned = cli("templates", str(path), "--json", cwd=folder)
    assert learned.returncode == 0, learned.stderr
    data = json.loads(learned.stdout)
    assert sum(t["count"] for t in data["templates"]) == RECORDS - 1
    assert f"unreadable bytes at offset {start}" in " ".join(learned.stderr.split())


def test_record_append_after_a_damaged_middle_keeps_every_good_record(crud_api, tmp_path):
    path = tmp_path / "r.vrec"
    spans = _orders_recording(path, port=crud_api.port)
    _damage(path, spans[RECORDS // 2][0], "zeros", b"")
    before = path.read_bytes()
    kept = [ex.seq for ex in read_recording(path).exchanges]
    assert len(kept) == RECORDS - 1

    with recording_proxy(crud_api.url, path, "--append") as proxy:
        client = requests.Session()
        client.trust_env = False
        assert client.get(proxy.url + "/items").status_code == 200
    assert proxy.proc.returncode == 0, proxy.stderr
    assert path.read_bytes()[:len(before)] == before  # not one byte of the file was removed
    after = read_recording(path)
    assert [ex.seq for ex in after.exchanges] == [*kept, RECORDS + 1]
    assert after.exchanges[-1].request.path == "/items" and after.skipped


# ---------------------------------------------------------------- databases


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_database_that_cannot_be_reached_is_one_line_naming_it(tmp_path, scheme):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    url = f"{scheme}://app:s3cret@127.0.0.1:{free_port()}/shop"
    line = one_error_line(cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--db", url,
                              "--report", "out", cwd=tmp_path))
    assert url.replace("s3cret", "***") in line and "cannot connect" in line
    assert "s3cret" not in line
    assert not (tmp_path / "out" / "report.json").exists()


def test_a_database_url_of_an_unknown_kind(tmp_path):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    line = one_error_line(cli("explore", str(recording), "--target", "http://127.0.0.1:9",
                              "--db", "oracle://app:s3cret@127.0.0.1/shop", "--report", "out", cwd=tmp_path))
    assert "oracle" in line and "s3cret" not in line


# ---------------------------------------------------------------- configuration

BAD_CONFIGS = [
    # (file text, command, what the one line says after "<file>: ")
    ("[explore]\ndepht = 4\n", "explore", "[explore] unknown key 'depht' (did you mean depth?)"),
    ('[explore]\ndepth = "four"\n', "explore", "[explore] depth = 'four': expected a whole number"),
    ("[explore]\ntimeout = true\n", "explore", "[explore] timeout = True: expected a number"),
    ("[templates]\nignroe = []\n", "templates", "[templates] unknown key 'ignroe' (did you mean ignore?)"),
    ("[templates]\nhost = 3\n", "graph", "[templates] host = 3: expected a string"),
    ("[learned]\nmin_suport = 3\n", "explore", "[learned] unknown key 'min_suport' (did you mean min_support?)"),
    ("[learned]\nmin_support = 2.5\n", "invariants", "[learned] min_support = 2.5: expected a whole number"),
    ("[invariants]\nsqll = []\n", "explore", "[invariants] unknown key 'sqll' (did you mean sql?)"),
    ("[[invariants.sql]]\nname = 'one'\nqeury = 'SELECT 1'\n", "explore",
     "[invariants] sql entry 1: unknown key 'qeury' (did you mean query?)"),
    ("[explroe]\ndepth = 4\n", "graph", "unknown section [explroe] (did you mean [explore]?)"),
    ("depth = 4\n", "templates", "depth must be inside a section (did you mean [explore] depth?)"),
]


def _run_with_config(command: str, recording: Path, cwd: Path) -> subprocess.CompletedProcess:
    if command == "explore":
        return cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--report", "out", cwd=cwd)
    return cli(command, str(recording), cwd=cwd)


@pytest.mark.parametrize(("text", "command", "expected"), BAD_CONFIGS, ids=[e for _, _, e in BAD_CONFIGS])
def test_every_config_section_is_checked_alike(tmp_path, text, command, expected):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    config = tmp_path / "venom.toml"
    config.write_text(text)
    line = one_error_line(_run_with_config(command, recording, tmp_path))
    assert line == f"error: {config}: {expected}"
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_pyproject_sections_are_checked_and_named_as_written(tmp_path):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "shop"\n[tool.venom-replay.explore]\ndepht = 4\n')
    line = one_error_line(_run_with_config("explore", recording, tmp_path))
    assert line == f"error: {pyproject}: [tool.venom-replay.explore] unknown key 'depht' (did you mean depth?)"


def test_a_correct_config_with_every_section_is_accepted(tmp_path):
    recording = tmp_path / "r.vrec"
    _orders_recording(recording)
    (tmp_path / "venom.toml").write_text(
        '[templates]\nhost = "127.0.0.1:9"\nignore = ["GET /health"]\n'
        "[explore]\ndepth = 2\ntimeout = 2.5\nlearned = false\n"
        '[[invariants.sql]]\nname = "none"\nquery = "SELECT 1 WHERE 1 = 0"\n'
        "[learned]\nmin_support = 4\nmin_confidence = 0.6\n")
    done = cli("templates", str(recording), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [t["id"] for t in json.loads(done.stdout)["templates"]] == ["POST /items"]


# ---------------------------------------------------------------- recordings of several hosts


def test_a_host_the_recording_does_not_hold_is_one_line_before_anything_runs(tmp_path):
    recording = tmp_path / "two.vrec"
    with RecordingWriter(recording) as writer:
        for host, port, path in (("127.0.0.1", 9, "/items"), ("127.0.0.1", 9, "/items"), ("pay.example", 443, "/charges")):
            writer.write_exchange(Exchange(
                seq=0, session="c", started=1.0, ended=1.1,
                request=Request("POST", "http", host, port, path, headers=[("Content-Type", "application/json")], body=b"{}"),
                response=Response(201, headers=[("Content-Type", "application/json")], body=b'{"id": 1}')))
    line = one_error_line(cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--host", "shop.example",
                              "--report", "out", cwd=tmp_path))
    assert line == ("error: --host shop.example: the recording holds no answered calls to it; "
                    "it holds 127.0.0.1:9 (2), pay.example:443 (1)")
    assert not (tmp_path / "out" / "report.json").exists()
