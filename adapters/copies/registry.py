"""The registry of database copies: which run made which copy, and whether that run still lives.

One JSON file per run under ``$XDG_STATE_HOME/venom-replay/copies/`` (default
``~/.local/state/venom-replay/copies/``): the pid (and its start time, so a reused pid does not pass
for the run) of the process that made the run's first copy, and per copy the identities of the copy
and of its source, plus the extra Redis database indexes the copy's own adapter uses; and the API
processes the run started on its copies (their process groups: a killed run cannot stop them, so
`db recover` does). No URL and no password is stored: ``leftover_copies`` rebuilds the URLs from
the one the user gives. A run's file goes with its last copy.

A copy is recorded BEFORE it is made, so a run killed in the middle of a copy still leaves a trace.
Every change happens under an exclusive lock on the directory, so that two runs (or threads) never
claim the same Redis database index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.registry import DatabaseIdentity

LOCK_FILE = ".lock"


def registry_directory() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "venom-replay" / "copies"


@dataclass(frozen=True)
class CopyEntry:
    copy: DatabaseIdentity
    source: DatabaseIdentity
    reserved: tuple[int, ...] = ()
    """Redis: the database indexes the copy's adapter keeps its baseline (and spares) in."""

    def as_json(self) -> dict:
        return {"copy": list(self.copy), "source": list(self.source), "reserved": list(self.reserved)}

    @classmethod
    def from_json(cls, data: dict) -> CopyEntry:
        return cls(DatabaseIdentity(*data["copy"]), DatabaseIdentity(*data["source"]),
                   tuple(int(i) for i in data.get("reserved", ())))


@dataclass
class RunRecord:
    run_id: str
    pid: int
    pid_started: int | None
    copies: list[CopyEntry] = field(default_factory=list)
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    """(pid, start time) of each API process group the run started on its copies."""

    def alive(self) -> bool:
        return process_alive(self.pid, self.pid_started)


def process_start_time(pid: int) -> int | None:
    """The process' start time in clock ticks since boot (/proc), or None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])  # field 22: starttime


def process_alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    if started is None:
        return True
    now = process_start_time(pid)
    return now is None or now == started  # another start time: the pid was reused by a new process


@contextlib.contextmanager
def locked() -> Iterator[Path]:
    """The registry directory, held exclusively for the block."""
    folder = registry_directory()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AdapterError(f"cannot write the registry of database copies in {folder}: {exc.strerror}") from exc
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
        yield folder
    finally:
        os.close(lock)


def _run_file(folder: Path, run_id: str) -> Path:
    return folder / f"{run_id}.json"


def _read(path: Path) -> RunRecord | None:
    try:
        data = json.loads(path.read_text())
        return RunRecord(data["run_id"], int(data["pid"]), data.get("pid_started"),
                         [CopyEntry.from_json(c) for c in data.get("copies", [])],
                         [(int(pid), started) for pid, started in data.get("processes", [])])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or half-written by a killed run: nothing it says can be trusted


def _write(folder: Path, run: RunRecord) -> None:
    path = _run_file(folder, run.run_id)
    if not run.copies:
        path.unlink(missing_ok=True)
        return
    data = {"run_id": run.run_id, "pid": run.pid, "pid_started": run.pid_started,
            "copies": [c.as_json() for c in run.copies], "processes": [list(p) for p in run.processes]}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1))
    temporary.replace(path)  # atomic: a reader never sees half a file


def runs_in(folder: Path) -> list[RunRecord]:
    return [run for path in sorted(folder.glob("*.json")) if (run := _read(path)) is not None]


def runs() -> list[RunRecord]:
    folder = registry_directory()
    return runs_in(folder) if folder.is_dir() else []


def record_copies(run_id: str, entries: list[CopyEntry], *, folder: Path | None = None) -> None:
    """Claim copies for the run (before they are made); a new run file names this process as the
    run's. A copy some run already claims is refused. Pass ``folder`` when holding the lock."""
    if folder is None:
        with locked() as held:
            record_copies(run_id, entries, folder=held)
        return
    for other in runs_in(folder):
        for entry in entries:
            if entry.copy in (e.copy for e in other.copies):
                raise AdapterError(f"cannot copy {entry.source} to {entry.copy.name}: run {other.run_id} already"
                                   " made that copy (drop it first, or pick another run id)")
    pid = os.getpid()
    run = _read(_run_file(folder, run_id)) or RunRecord(run_id, pid, process_start_time(pid))
    run.copies += entries
    _write(folder, run)


def record_process(run_id: str, pid: int) -> None:
    """Note an API process (the leader of its own process group) the run started on its copies; a run
    that made no copy has nothing to recover, so nothing is noted."""
    with locked() as folder:
        run = _read(_run_file(folder, run_id))
        if run is not None:
            run.processes.append((pid, process_start_time(pid)))
            _write(folder, run)


def forget_copy(copy: DatabaseIdentity) -> CopyEntry | None:
    """Remove a copy from whichever run recorded it; the entry it had, if any."""
    with locked() as folder:
        for run in runs_in(folder):
            entry = next((e for e in run.copies if e.copy == copy), None)
            if entry is not None:
                run.copies.remove(entry)
                _write(folder, run)
                return entry
    return None


def entry_for(copy: DatabaseIdentity) -> CopyEntry | None:
    return next((e for run in runs() for e in run.copies if e.copy == copy), None)
