"""Workers as Ray actors (`explore --ray ADDRESS`): the process pool's protocol, on a Ray cluster.

One actor per replica, each holding one ``WorkerRuntime``. The job travels by value (``WorkerJob``
carries the recording, the config and the invariants as bytes), so a node needs venom-replay
installed, not our files. A call's exception comes back as ``Failure`` data, as from a local worker;
an actor that dies (its process, its node) is a ``WorkerError`` of kind ``lost-worker``.

Ray is imported here only, and only when a pool is made: ``explore`` without ``--ray`` never needs it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.redact import mask_url_password
from venom_replay.replay.scale.messages import WorkerJob
from venom_replay.replay.scale.pool import Failure

ACTOR_CPUS = 0.5
"""A worker mostly waits on its API replica: half a CPU lets a node run two workers beside other work,
and a head started with ``--num-cpus 0`` gets none."""
PLACEMENT_TIMEOUT = 120.0
"""Seconds the cluster gets to start every actor before the run stops with the reason."""
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the head's port to accept a connection."""
STOP_TIMEOUT = 120.0
"""Seconds the actors get, when the pool closes, to restore databases a run left unrestored."""


class WorkerActor:
    """The actor's side: one ``WorkerRuntime``; each call's value or its failure as data."""

    def __init__(self, job: WorkerJob) -> None:
        from venom_replay.replay.scale.worker import WorkerRuntime

        self.runtime = WorkerRuntime(job)

    def where(self) -> tuple[str, str]:
        """The node this actor runs on: its IP address and Ray node id."""
        import ray

        return ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id()

    def call(self, method: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        try:
            return "ok", getattr(self.runtime, method)(*args)
        except BaseException as exc:  # noqa: BLE001 - sent back as data: the coordinator decides
            return "error", Failure.of(exc)

    def stop(self) -> None:
        """Before the actor is killed: restore the databases if ``finish`` never ran (an abandoned run)."""
        runtime = self.runtime
        if runtime.ex is not None and runtime._installed:
            runtime.finish()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install venom-replay[ray]") from None
    return ray


def _one_line(exc: BaseException) -> str:
    """Ray's errors span many lines (tracebacks, actor ids, advice): the first sentence of the last line,
    which says what happened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith("\t")]
    if not lines:
        return type(exc).__name__
    return lines[-1].split(". ", 1)[0].rstrip(".")


def _machine_local(url: str) -> bool:
    """An endpoint only this machine reaches: loopback, a Unix socket, a file or a directory."""
    parts = urlsplit(url)
    if parts.scheme.split("+")[0].lower() in ("sqlite", "dir"):
        return True
    host = parts.hostname
    return host is None or host == "localhost" or host == "::1" or host.startswith("127.")


def unreachable_replica(jobs: Sequence[WorkerJob], node_ips: Sequence[str], here: str) -> str | None:
    """Why a worker cannot run where the cluster put it, or None: a worker on another machine than this
    one cannot use a replica only this machine reaches (--api-cmd serves on loopback; SQLite files and
    directories are local), and would not say so: a SQLite URL opens a new, empty file there."""
    for job, ip in zip(jobs, node_ips, strict=True):
        local = next((url for url in (job.target, *job.db_urls) if _machine_local(url)), None)
        if ip != here and local is not None:
            return (f"worker {job.index + 1} runs on {ip}, but its replica's {mask_url_password(local)} is on this "
                    f"machine ({here}): on a cluster of several machines give each worker a replica its node "
                    "reaches, with --replica 'TARGET DB...'")
    return None


def _check_reachable(address: str) -> None:
    """Ray retries an address where nothing listens for many minutes: say so at once instead."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # auto, local, ray://: Ray resolves and reports those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConfigError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc}); its head is "
                          f"started with `ray start --head --port {port}`") from None


def _join(ray: Any, address: str) -> None:
    _check_reachable(address)
    try:
        # The cluster's own logs stay on the cluster: the actors' answers and failures come back as data.
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError:
        if address != "auto":
            raise ConfigError(f"--ray {address}: no Ray cluster to join") from None
        raise ConfigError("--ray auto: no Ray cluster runs on this machine (start one with `ray start --head`, "
                          "or give the head's HOST:PORT)") from None
    except (ValueError, RuntimeError) as exc:  # a malformed address, another Ray version on the cluster
        raise ConfigError(f"--ray {address}: cannot join the cluster: {_one_line(exc)}") from None


class RayPool:
    """Workers as Ray actors on the cluster at ``address`` (``auto``: the one ``ray start`` made here)."""

    def __init__(self, jobs: Sequence[WorkerJob], *, address: str,
                 placement_timeout: float = PLACEMENT_TIMEOUT) -> None:
        ray = _import_ray()
        self._ray = ray
        self.size = len(jobs)
        self.address = address
        self._calls: dict[Any, int] = {}
        self._actors: list[Any] = []
        self._running: list[Any] = []
        """The actors the cluster started (the others never ran anything)."""
        self.nodes: list[str] = []
        """Where each worker runs: its node's IP address and the start of its Ray node id."""
        self._closed = False
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            _join(ray, address)
        try:
            # SPREAD: the workers go to different nodes while the cluster has room (their load spreads).
            actor_class = ray.remote(num_cpus=ACTOR_CPUS, max_concurrency=1, max_restarts=0,
                                     scheduling_strategy="SPREAD")(WorkerActor)
            self._actors = [actor_class.remote(job) for job in jobs]
            self.nodes = self._placed(jobs, placement_timeout)
        except BaseException:
            self.close()
            raise

    def _placed(self, jobs: Sequence[WorkerJob], timeout: float) -> list[str]:
        """Wait until every actor runs: where each one does, or a one-line error saying why not."""
        ray = self._ray
        probes = [actor.where.remote() for actor in self._actors]
        ready, _pending = ray.wait(probes, num_returns=len(probes), timeout=timeout)
        placed: dict[int, tuple[str, str]] = {}
        for probe in ready:
            i = probes.index(probe)
            try:
                placed[i] = ray.get(probe)
            except ray.exceptions.RayError as exc:
                raise ConfigError(f"--ray {self.address}: worker {i + 1} could not start on the cluster: "
                                  f"{_one_line(exc)} (is venom-replay installed on every node?)") from None
            self._running.append(self._actors[i])
        if len(placed) < len(probes):
            cpus = ray.cluster_resources().get("CPU", 0)
            raise ConfigError(f"--ray {self.address}: the cluster started {len(placed)} of {len(probes)} workers within "
                              f"{timeout:.0f} s: each needs {ACTOR_CPUS} CPU and the cluster has {cpus:g} "
                              "(add nodes, or run fewer workers)")
        ips = [placed[i][0] for i in range(len(probes))]
        problem = unreachable_replica(jobs, ips, ray.util.get_node_ip_address())
        if problem is not None:
            raise ConfigError(f"--ray {self.address}: {problem}")
        return [f"{ip} ({placed[i][1][:12]})" for i, ip in enumerate(ips)]

    def submit(self, worker: int, method: str, *args: Any) -> None:
        assert worker not in self._calls.values(), f"worker {worker} is busy"
        self._calls[self._actors[worker].call.remote(method, args)] = worker

    def busy(self) -> set[int]:
        return set(self._calls.values())

    def next_done(self) -> tuple[int, Any]:
        if not self._calls:
            raise RuntimeError("no call is running")
        ray = self._ray
        ready, _pending = ray.wait(list(self._calls), num_returns=1)
        worker = self._calls.pop(ready[0])
        try:
            status, value = ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:
            raise Failure("lost-worker", f"the Ray actor ended ({_one_line(exc)})").error(worker) from None
        except ray.exceptions.RayError as exc:
            raise Failure("ray", _one_line(exc)).error(worker) from None
        if status == "error":
            raise value.error(worker)
        return worker, value

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        try:
            if self._running:  # an actor the cluster never started has nothing to restore
                stops = [actor.stop.remote() for actor in self._running]
                ray.wait(stops, num_returns=len(stops), timeout=STOP_TIMEOUT)
            if self._actors:
                for actor in self._actors:
                    try:
                        ray.kill(actor, no_restart=True)
                    except ray.exceptions.RayError:
                        pass  # already gone
        finally:
            self._calls.clear()
            if self._owns_ray and ray.is_initialized():
                ray.shutdown()
