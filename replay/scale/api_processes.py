"""The API replicas of `explore --workers N --api-cmd CMD`: one API process per set of database copies,
each on its own loopback port, started together and stopped together.

The command is a shell string with placeholders, filled per replica (values shell-quoted, so write
them bare): ``{port}`` a free loopback port (the replica's target is ``http://127.0.0.1:{port}``),
``{db}`` the URL of the copy of the first --db, ``{db2}``, ``{db3}``... the others, ``{db_path}`` the file
of the first SQLite copy, ``{dir_path}`` the folder of the first dir:// copy. The URLs the API gets
carry no venom-replay options (``?mode=`` and the like are for our adapters, not for the API).
``${VAR}`` is left to the shell.

A replica is ready when GET ``ready_path`` gets any HTTP answer (any status). Every process runs in
its own session: stopping sends SIGTERM to its whole process group, and SIGKILL after 5 s.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from venom_replay.adapters.registry import database_kind, split_options
from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.proxy.redact import mask_url_password

PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
EXTRA_DB = re.compile(r"db([2-9]|[1-9][0-9]+)")
STOP_GRACE_S = 5.0
LOG_TAIL_LINES = 5
POLL_S = 0.05


class ReplicaError(VenomError):
    """An API replica that did not start."""


@dataclass
class ApiReplica:
    index: int
    target: str
    db_urls: list[str]
    """The copies' URLs as our adapters open them (options kept)."""
    process: subprocess.Popen | None
    log_path: Path | None = None


def api_url(copy_url: str) -> str:
    """The copy's URL as the API gets it: without our query options."""
    return split_options(copy_url)[0]


def _placeholder_values(copies: list[str], port: int) -> dict[str, str]:
    values = {"port": str(port)}
    for number, url in enumerate(copies, start=1):
        values["db" if number == 1 else f"db{number}"] = api_url(url)
    for url in copies:
        kind, clean = database_kind(url), api_url(url)
        if kind == "sqlite":
            values.setdefault("db_path", clean[len("sqlite:///"):])
        elif kind == "dir":
            values.setdefault("dir_path", clean[len("dir://"):])
    return values


def check_command(command: str, db_count: int, kinds: set[str]) -> None:
    """One-line errors for placeholders that no replica could fill."""
    names = PLACEHOLDER.findall(command)
    if "port" not in names:
        raise ConfigError(f"--api-cmd must contain {{port}} (each replica listens on a port of its own): {command}")
    for name in names:
        if name in ("port", "db"):
            continue
        if EXTRA_DB.fullmatch(name):
            if int(name[2:]) > db_count:
                raise ConfigError(f"--api-cmd uses {{{name}}} but there are only {db_count} --db")
        elif name == "db_path" and "sqlite" not in kinds:
            raise ConfigError("--api-cmd uses {db_path} but no --db is a SQLite file (sqlite:///...)")
        elif name == "dir_path" and "dir" not in kinds:
            raise ConfigError("--api-cmd uses {dir_path} but no --db is a directory (dir:///...)")
        elif name not in ("db_path", "dir_path"):
            raise ConfigError(f"--api-cmd: unknown placeholder {{{name}}}: use {{port}}, {{db}}, {{db2}}...,"
                              " {db_path} or {dir_path}")
    if "db" in names and not db_count:
        raise ConfigError("--api-cmd uses {db} but no --db is given")


def fill_command(command: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), command)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago (held together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, errors="replace") as log:
            kept = deque((line.strip() for line in log if line.strip()), maxlen=lines)
    except OSError:
        return "no log"
    return " | ".join(kept) or "no output"


class ApiReplicas:
    """Start one API process per row of ``copies`` (a row: one copy URL per --db, in --db order);
    entering waits until each answers, leaving stops them all."""

    def __init__(self, command: str, copies: list[list[str]], *, ready_path: str = "/",
                 ready_timeout: float = 60.0, log_dir: Path | None = None,
                 on_start: Callable[[int], None] | None = None) -> None:
        """``on_start(pid)`` is told each process as it starts (the registry of copies notes it, so that
        `db recover` can stop the APIs of a run that was killed)."""
        if len({len(row) for row in copies}) > 1:
            raise ConfigError("every API replica needs one copy of each --db")
        check_command(command, len(copies[0]) if copies else 0,
                      {database_kind(url) for row in copies for url in row})
        self.command = command
        self.copies = copies
        self.ready_path = ready_path if ready_path.startswith("/") else "/" + ready_path
        self.ready_timeout = ready_timeout
        self.log_dir = log_dir
        self.on_start = on_start
        self._own_log_dir: Path | None = None
        self._logs: list[IO[bytes]] = []
        self._stopped = False
        self.replicas: list[ApiReplica] = []

    # ---------------------------------------------------------------- start

    def __enter__(self) -> list[ApiReplica]:
        try:
            self._start_all()
            with ThreadPoolExecutor(max_workers=max(1, len(self.replicas))) as pool:
                failures = [error for error in pool.map(self._wait_ready, self.replicas) if error]
            if failures:
                raise ReplicaError(failures[0])
        except BaseException:
            self.stop(keep_logs=True)  # the error names a log: it must still be there
            raise
        return list(self.replicas)

    def _start_all(self) -> None:
        if self.log_dir is None:
            self._own_log_dir = Path(tempfile.mkdtemp(prefix="venom-replay-api-"))
        log_dir = self.log_dir or self._own_log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        for index, (row, port) in enumerate(zip(self.copies, free_ports(len(self.copies)))):
            log_path = log_dir / f"api-{index}.log"
            log = open(log_path, "wb")  # noqa: SIM115 -- the process writes to it until stop() closes it
            self._logs.append(log)
            process = subprocess.Popen(fill_command(self.command, _placeholder_values(row, port)), shell=True,
                                       start_new_session=True, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
            self.replicas.append(ApiReplica(index, f"http://127.0.0.1:{port}", list(row), process, log_path))
            if self.on_start is not None:
                self.on_start(process.pid)

    def _port(self, replica: ApiReplica) -> int:
        return int(replica.target.rsplit(":", 1)[1])

    def _wait_ready(self, replica: ApiReplica) -> str | None:
        """None once the replica answers over HTTP; else the one-line reason it will not."""
        assert replica.process is not None and replica.log_path is not None
        port = self._port(replica)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = replica.process.poll()
            if code is not None:
                return (f"API replica {replica.index} exited with code {code} before answering on port {port}"
                        f" (log {replica.log_path}): {mask_url_password(log_tail(replica.log_path))}")
            if self._answers(port):
                if replica.process.poll() is None:
                    return None
                continue  # another program answered on that port; ours is gone: report its exit
            if time.monotonic() > deadline:
                shown = mask_url_password(fill_command(self.command, _placeholder_values(replica.db_urls, port)))
                return (f"API replica {replica.index} did not answer GET {self.ready_path} on port {port} within"
                        f" {self.ready_timeout:g} s: {shown}")
            time.sleep(POLL_S)

    def _answers(self, port: int) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", self.ready_path)
            connection.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    # ---------------------------------------------------------------- stop

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, *, keep_logs: bool = False) -> None:
        """SIGTERM to every replica's process group, SIGKILL to what is left after 5 s (once: a second
        call must not signal a group id that a new process may have taken since)."""
        if self._stopped:
            return
        self._stopped = True
        running = [r.process for r in self.replicas if r.process is not None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in running:
            _signal_group(process, signal.SIGKILL)  # the leader's children too, even if the leader quit
            process.wait()
        for process in running:
            _wait_group_gone(process, deadline=time.monotonic() + STOP_GRACE_S)
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._own_log_dir is not None and not keep_logs:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None


def _wait_group_gone(process: subprocess.Popen, *, deadline: float) -> None:
    """Until no member of the replica's process group is left: the leader's wait() does not wait for the
    API it started, which may still hold its port for a moment after the kill."""
    _wait_gone(process.pid, deadline)


def _wait_gone(group: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if not _group_exists(group):
            return True
        time.sleep(0.01)
    return not _group_exists(group)


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    _signal_group_id(process.pid, sig)


def _signal_group_id(group: int, sig: int) -> None:
    # start_new_session: the group id is the leader's pid, and stays taken while any member lives.
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_leftover_groups(groups: list[tuple[int, int | None]]) -> int:
    """Stop the API process groups a killed run left running (SIGTERM, SIGKILL after 5 s); how many were
    still running. A group is ours while it exists: its id (the leader's pid) cannot be given to another
    process while any member lives; a living leader must also have the start time we noted."""
    from venom_replay.adapters.copies.registry import process_alive, process_start_time

    ours = [pid for pid, started in groups if _group_exists(pid)
            and (process_start_time(pid) is None or process_alive(pid, started))]
    for pid in ours:
        _signal_group_id(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for pid in ours:
        if not _wait_gone(pid, deadline):
            _signal_group_id(pid, signal.SIGKILL)
            _wait_gone(pid, time.monotonic() + STOP_GRACE_S)
    return len(ours)
