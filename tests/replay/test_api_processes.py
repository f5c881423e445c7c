"""API replicas for `explore --workers N --api-cmd CMD` (replay/scale/api_processes.py): real processes
started from a shell command on database copies, each answering on its own port, stopped afterwards."""

from __future__ import annotations

import json
import shlex
import socket
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from venom_replay.adapters.copies import copy_database, drop_copy
from venom_replay.proxy.errors import ConfigError
from venom_replay.replay.demo.shop.database import ADMIN_PASSWORD, ADMIN_USERNAME
from venom_replay.replay.scale.api_processes import ApiReplicas, ReplicaError

PYTHON = shlex.quote(sys.executable)


@pytest.fixture(autouse=True)
def registry_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def tokens_in(db_file: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return conn.execute("SELECT count(*) FROM tokens").fetchone()[0]


def log_in(target: str) -> None:
    """A login writes a token into the database of the API that answers it."""
    login = urllib.request.Request(target + "/login", method="POST", headers={"Content-Type": "application/json"},
                                   data=json.dumps({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).encode())
    with urllib.request.urlopen(login, timeout=10) as answer:
        assert answer.status == 200


def gone(pid: int) -> bool:
    """Exited (a zombie that nobody reaped yet counts: it runs no more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_two_shops_on_their_own_copies_answer_and_are_stopped(tmp_path):
    source = tmp_path / "shop.db"
    sqlite3.connect(source).close()
    copies = [[copy_database(f"sqlite:///{source}?mode=backup", i, "a1")] for i in (0, 1)]
    command = f"{PYTHON} -m venom_replay.replay.demo.shop --port {{port}} --db sqlite:///{{db_path}}"
    try:
        started_at = time.monotonic()
        with ApiReplicas(command, copies, ready_path="/products", log_dir=tmp_path / "logs") as replicas:
            start_seconds = time.monotonic() - started_at
            assert [r.index for r in replicas] == [0, 1]
            ports = [int(r.target.rsplit(":", 1)[1]) for r in replicas]
            assert len(set(ports)) == 2 and all(r.target.startswith("http://127.0.0.1:") for r in replicas)
            assert [r.db_urls for r in replicas] == copies  # options kept for the adapters
            # A login writes a token: through replica 0 it lands in copy 0 only.
            files = [row[0].partition("?")[0][len("sqlite:///"):] for row in copies]
            log_in(replicas[0].target)
            assert [tokens_in(f) for f in files] == [1, 0]
            log_in(replicas[1].target)
            log_in(replicas[1].target)
            assert [tokens_in(f) for f in files] == [1, 2]
            processes = [r.process for r in replicas]
        assert all(p.poll() is not None for p in processes)
        assert all(refuses(port) for port in ports)
        assert "listening on" in (tmp_path / "logs" / "api-1.log").read_text()
        print(f"two demo shops started in {start_seconds:.2f} s")
    finally:
        for row in copies:
            drop_copy(row[0])


def test_a_command_that_exits_at_once_fails_in_one_line_with_its_log_tail(tmp_path):
    command = "echo preparing {port}; echo 'error: cannot open database {db}' >&2; exit 3"
    replicas = ApiReplicas(command, [["postgresql://app:s3cret@127.0.0.1:1/shop__vr_x_0"]], log_dir=tmp_path)
    with pytest.raises(ReplicaError) as raised, replicas:
        pass
    message = str(raised.value)
    assert "API replica 0 exited with code 3 before answering" in message
    assert "preparing" in message and "error: cannot open database postgresql://app:***@" in message
    assert "s3cret" not in message and "\n" not in message
    assert (tmp_path / "api-0.log").exists()  # the log the message names is kept


def test_a_replica_that_never_answers_is_stopped_with_its_children(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEP_SECONDS", "60")
    child_pid_file = tmp_path / "child.pid"
    # ${SLEEP_SECONDS} is the shell's; the background sleep is in the replica's process group.
    command = f"sleep ${{SLEEP_SECONDS}} & echo $! > {child_pid_file}; sleep ${{SLEEP_SECONDS}} # port {{port}}"
    started = time.monotonic()
    replicas = ApiReplicas(command, [[]], ready_path="health", ready_timeout=1, log_dir=tmp_path)
    with pytest.raises(ReplicaError, match=r"API replica 0 did not answer GET /health on port \d+ within 1 s: sleep"), \
            replicas:
        pass
    assert time.monotonic() - started < 8
    child = int(child_pid_file.read_text())
    assert gone(child)


def test_placeholders_are_checked_before_anything_starts(tmp_path):
    sqlite_copy = [[f"sqlite:///{tmp_path / 'a__vr_b_0.db'}"]]
    with pytest.raises(ConfigError, match=r"unknown placeholder \{dbb\}"):
        ApiReplicas("serve --port {port} --db {dbb}", sqlite_copy)
    with pytest.raises(ConfigError, match=r"must contain \{port\}"):
        ApiReplicas("serve --db {db}", sqlite_copy)
    with pytest.raises(ConfigError, match=r"\{db2\} but there are only 1 --db"):
        ApiReplicas("serve --port {port} --db {db} --cache {db2}", sqlite_copy)
    with pytest.raises(ConfigError, match=r"\{dir_path\} but no --db is a directory"):
        ApiReplicas("serve --port {port} --uploads {dir_path}", sqlite_copy)
    ApiReplicas("serve --port {port} --db {db_path} --home ${HOME}", sqlite_copy)  # ${HOME}: the shell's
