"""Where the workers run: local processes (``ProcessPool``) or Ray actors (``ray_pool.RayPool``), behind
one small interface the coordinator uses.

Each worker holds one ``WorkerRuntime`` and runs one call at a time. ``submit`` starts a call without
waiting; ``next_done`` returns the first call that finished, whichever worker ran it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from venom_replay.adapters.base import AdapterError, ConnectionLost
from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.replay.scale.messages import WorkerJob


class WorkerPool(Protocol):
    size: int

    def submit(self, worker: int, method: str, *args: Any) -> None:
        """Start ``method(*args)`` on ``worker`` (which runs nothing else now)."""

    def next_done(self) -> tuple[int, Any]:
        """Wait for a submitted call to finish: (worker, its return value); its error is raised here."""

    def busy(self) -> set[int]:
        """The workers running a call now."""

    def close(self) -> None:
        """Stop every worker (after ``finish`` was called on each, or when the run is abandoned)."""


def call_all(pool: WorkerPool, method: str, args: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
    """``method`` on every worker at once (``args[i]`` for worker i); the values in worker order. The
    first error is raised after every call has ended (no worker is left mid-call)."""
    for i in range(pool.size):
        pool.submit(i, method, *(args[i] if args else ()))
    values: list[Any] = [None] * pool.size
    error: BaseException | None = None
    for _ in range(pool.size):
        try:
            worker, value = pool.next_done()
            values[worker] = value
        except WorkerError as exc:
            error = error or exc
    if error is not None:
        raise error
    return values


def call_one(pool: WorkerPool, worker: int, method: str, *args: Any) -> Any:
    """``method(*args)`` on one worker (no other call in flight), waiting for its value."""
    pool.submit(worker, method, *args)
    done, value = pool.next_done()
    assert done == worker
    return value


@dataclass(slots=True)
class Failure:
    """A worker's exception, carried back as data (its class may not unpickle on the coordinator)."""

    kind: str
    message: str
    lost_database: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        kind = ("lost" if isinstance(exc, ConnectionLost) else "adapter" if isinstance(exc, AdapterError)
                else "config" if isinstance(exc, ConfigError) else "venom" if isinstance(exc, VenomError)
                else "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__)
        return cls(kind, str(exc), getattr(exc, "lost_database", None))

    def error(self, worker: int) -> WorkerError:
        return WorkerError(worker, self)


class WorkerError(VenomError):
    """A call failed on a worker; ``failure.kind`` says how (``config``, ``adapter``, ``lost``, ...)."""

    def __init__(self, worker: int, failure: Failure) -> None:
        known = failure.kind in ("config", "venom", "adapter", "lost", "lost-worker")
        text = failure.message if known else f"{failure.kind}: {failure.message}"
        super().__init__(f"worker {worker + 1}: {text}")
        self.worker = worker
        self.failure = failure
        self.lost_database = failure.lost_database

    def as_user_error(self) -> VenomError:
        """The error as the single-process run would have raised it."""
        cls = {"config": ConfigError, "adapter": AdapterError, "lost": AdapterError}.get(self.failure.kind, VenomError)
        exc = cls(str(self))
        if self.failure.lost_database is not None:
            exc.lost_database = self.failure.lost_database  # type: ignore[attr-defined]
        return exc


def serve(conn: multiprocessing.connection.Connection, job: WorkerJob) -> None:
    """A worker process's life: run the calls that come in on ``conn`` until told to stop."""
    from venom_replay.replay.scale.worker import WorkerRuntime

    # Ctrl-C reaches the whole process group: the coordinator decides when this worker restores and stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runtime = WorkerRuntime(job)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            message = None
        if message is None:
            if runtime.ex is not None and runtime._installed:
                runtime.finish()  # the coordinator went away: our databases are restored all the same
            return
        method, args = message
        try:
            conn.send(("ok", getattr(runtime, method)(*args)))
        except BaseException as exc:  # sent back as data: the coordinator decides
            conn.send(("error", Failure.of(exc)))


class ProcessPool:
    """Workers as local processes (spawned: a fresh interpreter, no inherited connections)."""

    def __init__(self, jobs: Sequence[WorkerJob]) -> None:
        context = multiprocessing.get_context("spawn")
        self.size = len(jobs)
        self._conns: list[multiprocessing.connection.Connection] = []
        self._procs: list[Any] = []
        self._busy: set[int] = set()
        self._failed: dict[int, Failure] = {}
        """Calls that could not be sent (the worker's process is gone): answered by ``next_done``."""
        for job in jobs:
            ours, theirs = context.Pipe()
            proc = context.Process(target=serve, args=(theirs, job), name=f"venom-replay-worker-{job.index + 1}", daemon=True)
            proc.start()
            theirs.close()
            self._conns.append(ours)
            self._procs.append(proc)

    def submit(self, worker: int, method: str, *args: Any) -> None:
        assert worker not in self._busy, f"worker {worker} is busy"
        self._busy.add(worker)
        try:
            self._conns[worker].send((method, args))
        except OSError:  # its process is gone: the call fails like any other, in next_done
            self._failed[worker] = self._lost(worker)

    def _lost(self, worker: int) -> Failure:
        self._procs[worker].join(timeout=1)
        return Failure("lost-worker", f"its process ended (exit code {self._procs[worker].exitcode})")

    def busy(self) -> set[int]:
        return set(self._busy)

    def next_done(self) -> tuple[int, Any]:
        if not self._busy:
            raise RuntimeError("no call is running")
        if self._failed:
            worker, failure = self._failed.popitem()
            self._busy.discard(worker)
            raise failure.error(worker)
        by_conn = {self._conns[i]: i for i in self._busy}
        ready = multiprocessing.connection.wait(list(by_conn))
        worker = by_conn[ready[0]]  # type: ignore[index]
        self._busy.discard(worker)
        try:
            status, value = self._conns[worker].recv()
        except (EOFError, OSError):
            raise self._lost(worker).error(worker) from None
        if status == "error":
            raise value.error(worker)
        return worker, value

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for proc in self._procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for conn in self._conns:
            conn.close()
