"""A database that cannot be used is one line naming it (password masked) and exit code 2, never a
traceback: a server that is down, a database or role that does not exist, for explore and reproduce."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.net import free_port
from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "r.vrec"
    with RecordingWriter(path, target="http://127.0.0.1:9") as writer:
        for i in (1, 2):
            writer.write_exchange(Exchange(
                seq=0, session="s", started=float(i), ended=i + 0.1,
                request=Request("POST", "http", "127.0.0.1", 9, "/items", headers=[("Content-Type", "application/json")], body=b'{"n": 1}'),
                response=Response(201, headers=[("Content-Type", "application/json")], body=b'{"id": %d}' % i)))
    return path


def _assert_one_line(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "secret" not in done.stderr + done.stdout
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "redis"])
def test_a_server_that_is_down(recording, tmp_path, scheme):
    url = {"postgresql": f"postgresql://app:secret@127.0.0.1:{free_port()}/shop",
           "mysql": f"mysql://app:secret@127.0.0.1:{free_port()}/shop",
           "redis": f"redis://:secret@127.0.0.1:{free_port()}/0"}[scheme]
    done = cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--db", url, "--report", "out", cwd=tmp_path)
    _assert_one_line(done, url.replace("secret", "***"))
    assert not (tmp_path / "out" / "report.json").exists()


def test_a_missing_database_and_a_missing_role(recording, tmp_path, postgres_server, mariadb_server):
    for url in (postgres_server.url("no_such_db").replace("postgres@", "postgres:secret@"),
                postgres_server.url("postgres", user="no_such_role"),
                mariadb_server.url("no_such_db").replace("root@", "root:secret@")):
        done = cli("explore", str(recording), "--target", "http://127.0.0.1:9", "--db", url, "--report", "out", cwd=tmp_path)
        _assert_one_line(done, "cannot connect")


def test_reproduce_with_a_database_that_is_down(recording, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"recording": str(recording), "target": "http://127.0.0.1:9", "databases": [],
                                  "findings": [{"number": 1, "checker": "server-error", "signature": "s", "message": "m",
                                                "sequence": [{"template": "POST /items", "example": 0, "method": "POST",
                                                              "path": "/items", "status": 500}]}]}))
    url = f"postgresql://app:secret@127.0.0.1:{free_port()}/shop"
    done = cli("reproduce", str(report), "1", "--target", "http://127.0.0.1:9", "--db", url, cwd=tmp_path)
    _assert_one_line(done, url.replace("secret", "***"))
