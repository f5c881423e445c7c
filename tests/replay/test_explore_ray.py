"""`explore --ray ADDRESS`: the workers as Ray actors (replay/scale/ray_pool.py) on a real Ray cluster the
tests start on this machine: a head without CPUs and two worker nodes, each one `ray start --block` in its
own process group, all stopped at the end.

The demo shop's traffic is recorded through the real proxy; the real CLI explores it with two replicas
of the shop (--api-cmd on copies of one SQLite database), once with local worker processes and once with
Ray actors: the same findings, both workers busy, one actor on each worker node, every database restored.

The tests that need Ray (`pip install venom-replay[ray]`) are skipped without it; the one-line error a
user without Ray gets is checked either way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.net import free_port, wait_for_port
from support.proxy import recording_proxy
from venom_replay.proxy.config import load_config
from venom_replay.replay.demo.shop.process import launch
from venom_replay.replay.demo.traffic import run_traffic
from venom_replay.replay.options import ExploreOptions
from venom_replay.replay.scale.pool import WorkerError
from venom_replay.replay.scale.session import Replica, make_jobs

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="--ray needs Ray: pip install venom-replay[ray]")

CLI = [sys.executable, "-m", "venom_replay.replay.cli"]
SHOP_CMD = f"exec {shlex.quote(sys.executable)} -m venom_replay.replay.demo.shop --port {{port}} --db {{db}}"
# A small complete bfs search that finds four of the shop's planted bugs (about 17 s with two workers).
SEARCH = ("--strategy", "bfs", "--no-mutations", "--depth", "1", "--prefix-roots", "12", "--prefix-depth", "2",
          "--max-transitions", "1000000")
NODE_START_SECONDS = 90
# Ray turns 127.0.0.1 into the machine's routable address: another loopback address keeps the cluster here.
NODE_IP = "127.0.0.2"


def _ray_cli() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else shutil.which("ray") or "ray"


# ---------------------------------------------------------------- processes, read from /proc


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a process; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                yield int(entry.name), *stat


def _live_in_groups(groups: set[int]) -> list[str]:
    return [f"{pid} {_cmdline(pid)[:120]}" for pid, state, _ppid, group in _processes()
            if group in groups and state != "Z"]


# ---------------------------------------------------------------- the cluster


@dataclass
class LocalCluster:
    address: str
    temp_dir: Path
    head: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def nodes(self) -> list[subprocess.Popen]:
        return [self.head, *self.workers]

    def raylet_of(self, node: subprocess.Popen) -> int | None:
        for pid, _state, ppid, _group in _processes():
            if ppid == node.pid and "raylet/raylet" in _cmdline(pid):
                return pid
        return None


def _ray_start(temp_dir: Path, name: str, *args: str) -> subprocess.Popen:
    """One node: `ray start --block` in its own process group (it stops its node's processes on SIGTERM).
    Every port a second node on this machine would collide on is a free one; everything on loopback."""
    ports = [("--dashboard-agent-listen-port", free_port()), ("--dashboard-agent-grpc-port", free_port()),
             ("--metrics-export-port", free_port()), ("--runtime-env-agent-port", free_port())]
    cmd = [_ray_cli(), "start", *args, "--block", "--disable-usage-stats", "--node-ip-address", NODE_IP,
           "--object-store-memory", str(100 << 20), *(f"{k}={v}" for k, v in ports)]
    log = (temp_dir / f"{name}.log").open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=_env(temp_dir))


def _env(temp_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["XDG_STATE_HOME"] = str(temp_dir / "state")  # the registry of database copies: the test's own
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def _wait_for_raylet(temp_dir: Path, number: int, node: subprocess.Popen) -> None:
    """Nodes started at the same time on one machine pick the same socket names: one at a time."""
    socket_file = temp_dir / "session_latest" / "sockets" / f"raylet.{number}"
    deadline = time.monotonic() + NODE_START_SECONDS
    while not socket_file.exists():
        assert node.poll() is None, (temp_dir / f"node{number}.log").read_text()[-3000:]
        assert time.monotonic() < deadline, f"worker node {number} did not start in {NODE_START_SECONDS} s"
        time.sleep(0.2)


def _wait_for_nodes(cluster: LocalCluster, count: int) -> list[dict]:
    """The cluster's live nodes as a driver sees them, once ``count`` have joined."""
    probe = ("import json, logging, sys, time, ray\n"
             "ray.init(address=sys.argv[1], logging_level=logging.WARNING)\n"
             "deadline = time.monotonic() + float(sys.argv[3])\n"
             "while True:\n"
             "    alive = [n for n in ray.nodes() if n['Alive']]\n"
             "    if len(alive) >= int(sys.argv[2]) or time.monotonic() > deadline: break\n"
             "    time.sleep(0.2)\n"
             "print(json.dumps([{'ip': n['NodeManagerAddress'], 'cpus': n['Resources'].get('CPU', 0)} for n in alive]))\n"
             "ray.shutdown()\n")
    done = subprocess.run([sys.executable, "-c", probe, cluster.address, str(count), str(NODE_START_SECONDS)],
                          check=False, capture_output=True, text=True, timeout=NODE_START_SECONDS + 60, env=_env(cluster.temp_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stop(cluster: LocalCluster) -> list[str]:
    """Stop the nodes (workers first); what still runs in their process groups afterwards."""
    for node in reversed(cluster.nodes):
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
    for node in reversed(cluster.nodes):
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=10)
    groups = {node.pid for node in cluster.nodes}
    deadline = time.monotonic() + 15
    while (left := _live_in_groups(groups)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for node in cluster.nodes:
        if _live_in_groups({node.pid}):
            os.killpg(node.pid, signal.SIGKILL)
    return left


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalCluster]:
    # A short folder: Ray's Unix sockets live under it, and their paths have a length limit.
    temp_dir = Path(tempfile.mkdtemp(prefix="vr-ray-", dir="/tmp"))
    port = free_port()
    started = time.monotonic()
    head = _ray_start(temp_dir, "head", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                      f"--temp-dir={temp_dir}")
    cluster = LocalCluster(f"{NODE_IP}:{port}", temp_dir, head)
    try:
        wait_for_port(port, host=NODE_IP, proc=head, timeout=NODE_START_SECONDS)
        for number in (1, 2):
            cluster.workers.append(_ray_start(temp_dir, f"node{number}", f"--address={cluster.address}", "--num-cpus=1"))
            _wait_for_raylet(temp_dir, number, cluster.workers[-1])
        nodes = _wait_for_nodes(cluster, 3)
        assert sorted(n["cpus"] for n in nodes) == [0, 1, 1] and {n["ip"] for n in nodes} == {NODE_IP}, nodes
        print(f"Ray cluster of 3 nodes started in {time.monotonic() - started:.1f} s")
        yield cluster
    finally:
        left = _stop(cluster)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not left, f"still running after the cluster stopped: {left}"


# ---------------------------------------------------------------- the recording


@pytest.fixture(scope="module")
def shop_recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo traffic recorded through the proxy, and a database with the content it started from."""
    folder = tmp_path_factory.mktemp("ray-shop")
    shop = launch(f"sqlite:///{folder / 'recorded.db'}")
    try:
        with recording_proxy(shop.url, folder / "shop.vrec") as proxy:
            run_traffic(proxy.url)
    finally:
        shop.stop()
    launch(f"sqlite:///{folder / 'base.db'}").stop()  # a fresh shop's content: the recording's start
    return folder / "shop.vrec", folder / "base.db"


def _dump(db_file: Path) -> list[str]:
    with sqlite3.connect(db_file) as conn:
        return list(conn.iterdump())


def _explore(recording: Path, base_db: Path, report_dir: Path, env: dict[str, str], *extra: str,
             while_running: threading.Event | None = None) -> tuple[dict, str]:
    cmd = [*CLI, "explore", str(recording), "--workers", "2", "--api-cmd", SHOP_CMD, "--api-ready", "/ui/",
           "--db", f"sqlite:///{base_db}", "--report", str(report_dir), *SEARCH, *extra]
    started = time.monotonic()
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=240, env=env)
    print(f"explore {' '.join(extra) or '(worker processes)'}: {time.monotonic() - started:.1f} s")
    if while_running is not None:
        while_running.set()
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # 1: findings (the shop's bugs)
    return json.loads((report_dir / "report.json").read_text()), done.stdout + done.stderr


class ActorWatch(threading.Thread):
    """Notes, while a run goes on, which node's raylet each worker actor process runs under."""

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.done = threading.Event()
        self.actors: dict[int, int] = {}
        """Actor process -> the pid of the `ray start` of its node."""

    def run(self) -> None:
        raylets = {}
        while not self.done.is_set():
            for node in self.cluster.nodes:
                if node.pid not in raylets.values():
                    raylet = self.cluster.raylet_of(node)
                    if raylet is not None:
                        raylets[raylet] = node.pid
            for pid, state, ppid, _group in _processes():
                if ppid in raylets and state != "Z" and _cmdline(pid).startswith("ray::WorkerActor"):
                    self.actors[pid] = raylets[ppid]
            self.done.wait(0.1)


# ---------------------------------------------------------------- the tests


def _explore_on_replicas_never_reached(recording: Path, folder: Path, address: str, *, without_ray: bool = False
                                       ) -> subprocess.CompletedProcess:
    """An explore that stops before any worker starts: its replicas are never called."""
    # With ``without_ray``, `import ray` fails in the run as it does where Ray is not installed.
    hide_ray = "sys.modules['ray'] = None; " if without_ray else ""
    run_cli = f"import sys; {hide_ray}from venom_replay.replay.cli import main; sys.argv[0] = 'venom-replay'; main()"
    replica = f"http://127.0.0.1:9 sqlite:///{folder / 'copy.db'}"
    return subprocess.run([sys.executable, "-c", run_cli, "explore", str(recording), "--ray", address,
                           "--replica", replica, "--replica", replica, "--report", str(folder / "report")],
                          check=False, capture_output=True, text=True, timeout=120, env=_env(folder))


@needs_ray
def test_auto_without_a_cluster_on_this_machine_says_how_to_start_one(shop_recording, tmp_path: Path, monkeypatch):
    # Before the tests' cluster starts (auto finds any cluster whose processes run here).
    if any("gcs_server" in _cmdline(pid) for pid, *_rest in _processes()):
        pytest.skip("a Ray cluster runs on this machine")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    done = _explore_on_replicas_never_reached(shop_recording[0], tmp_path, "auto")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    expected = ("error: --ray auto: no Ray cluster runs on this machine (start one with `ray start --head`, or "
                "give the head's HOST:PORT)")
    assert done.stderr.strip().splitlines() == [expected]


@needs_ray
def test_ray_actors_find_what_worker_processes_find(ray_cluster: LocalCluster, shop_recording, tmp_path: Path):
    recording, base_db = shop_recording
    before = _dump(base_db)
    env = _env(tmp_path)

    local, _ = _explore(recording, base_db, tmp_path / "local", env)
    watch = ActorWatch(ray_cluster)
    watch.start()
    on_ray, output = _explore(recording, base_db, tmp_path / "ray", env, "--ray", ray_cluster.address,
                              while_running=watch.done)
    watch.join(timeout=5)

    signatures = sorted(f["signature"] for f in local["findings"])
    assert signatures, "the shop's planted bugs give findings"
    assert sorted(f["signature"] for f in on_ray["findings"]) == signatures
    for report in (local, on_ray):
        assert report["stopped"] == "complete" and report["db_restored"] is True, report["warnings"]
        assert len(report["workers"]) == 2, report["workers"]
        assert all(w["transitions"] > 0 and w["db_restored"] is True for w in report["workers"]), report["workers"]
    # One actor on each worker node (the head has no CPU for them); none on the head.
    worker_nodes = {node.pid for node in ray_cluster.workers}
    assert len(watch.actors) == 2 and set(watch.actors.values()) == worker_nodes, watch.actors
    assert "Traceback" not in output and "(raylet)" not in output and "(pid=" not in output  # the cluster's logs stay there
    # The user's database untouched, the replicas' copies removed.
    assert _dump(base_db) == before
    assert not list(base_db.parent.glob("base__vr_*")), list(base_db.parent.iterdir())


def _jobs(recording: Path, base_db: Path, count: int) -> list:
    """Jobs whose replicas are never reached: the tests below never call ``start``."""
    from venom_replay.replay.session import load_recording_once

    config = load_config(None)
    loaded = load_recording_once(recording, config)
    replicas = [Replica("http://127.0.0.1:9", [f"sqlite:///{base_db}"])] * count
    return make_jobs(loaded, replicas, ExploreOptions.from_config(config), invariants=None, auth=())


@needs_ray
def test_a_lost_actor_and_a_failing_call_come_back_as_worker_errors(ray_cluster: LocalCluster, shop_recording):
    """The pool on its own, driven from this process as the coordinator drives it."""
    import ray
    from venom_replay.replay.scale.ray_pool import RayPool

    pool = RayPool(_jobs(*shop_recording, 2), address=ray_cluster.address)
    try:
        assert ray.is_initialized() and pool.size == 2 and len(set(pool.nodes)) == 2, pool.nodes
        # A call that fails inside the worker: its exception as data, raised here as the process pool raises it.
        pool.submit(0, "expand", None)
        with pytest.raises(WorkerError) as failed:
            pool.next_done()
        assert failed.value.worker == 0 and failed.value.failure.kind == "AssertionError"
        assert pool.busy() == set()
        # An actor that dies: the next call on it is a lost worker, in one line.
        ray.kill(pool._actors[1], no_restart=True)
        pool.submit(1, "finish")
        with pytest.raises(WorkerError) as lost:
            pool.next_done()
        assert lost.value.worker == 1 and lost.value.failure.kind == "lost-worker"
        message = str(lost.value)
        assert message == "worker 2: the Ray actor ended (The actor is dead because it was killed by `ray.kill`)"
        assert "\n" not in message
        # The other worker still answers.
        pool.submit(0, "finish")
        worker, summary = pool.next_done()
        assert worker == 0 and summary.db_restored is None  # never started: nothing to restore
    finally:
        pool.close()
    assert not ray.is_initialized()  # the pool joined the cluster, so it leaves it


@needs_ray
def test_more_workers_than_the_cluster_can_place_fail_in_one_line(ray_cluster: LocalCluster, shop_recording):
    import ray
    from venom_replay.proxy.errors import ConfigError
    from venom_replay.replay.scale.ray_pool import RayPool

    # Two worker nodes of one CPU each hold four workers of half a CPU: the fifth never starts.
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        RayPool(_jobs(*shop_recording, 5), address=ray_cluster.address, placement_timeout=5)
    assert re.fullmatch(rf"--ray {re.escape(ray_cluster.address)}: the cluster started [0-4] of 5 workers within 5 s: "
                        r"each needs 0\.5 CPU and the cluster has 2 \(add nodes, or run fewer workers\)",
                        str(refused.value)), refused.value
    assert not ray.is_initialized()  # the pool left the cluster on its way out
    assert time.monotonic() - started < 30  # no wait for the actor that never started
    # Its actors were removed: the cluster has its CPUs back for the next run.
    pool = RayPool(_jobs(*shop_recording, 4), address=ray_cluster.address, placement_timeout=60)
    try:
        assert len(pool.nodes) == 4
    finally:
        pool.close()


def test_without_ray_installed_the_error_is_one_line(shop_recording, tmp_path: Path):
    done = _explore_on_replicas_never_reached(shop_recording[0], tmp_path, "auto", without_ray=True)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == ["error: --ray needs Ray: pip install venom-replay[ray]"]


@needs_ray
def test_an_address_where_no_cluster_answers_fails_at_once(shop_recording, tmp_path: Path):
    address = f"127.0.0.2:{free_port()}"  # Ray itself would retry it for many minutes
    started = time.monotonic()
    done = _explore_on_replicas_never_reached(shop_recording[0], tmp_path, address)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    port = address.rsplit(":", 1)[1]
    assert done.stderr.strip().splitlines() == [(f"error: --ray {address}: no Ray cluster answers there (Connection "
                                                 f"refused); its head is started with `ray start --head --port {port}`")]
    assert time.monotonic() - started < 30


def test_a_worker_on_another_machine_is_refused_a_replica_only_this_machine_reaches():
    """Where the cluster put each worker against what its replica's URLs reach (pure logic: node addresses
    of a cluster of several machines, which this machine cannot host)."""
    from venom_replay.replay.scale.messages import JobFile, WorkerJob
    from venom_replay.replay.scale.ray_pool import unreachable_replica

    def job(index: int, target: str, *db_urls: str) -> WorkerJob:
        return WorkerJob(recording=JobFile("shop.vrec", b""), start_state=None, config=None, openapi=None,
                         invariants=None, auth=(), options=None, target=target, db_urls=list(db_urls), index=index)

    here = "10.1.0.1"
    started = [job(0, "http://127.0.0.1:8001", "sqlite:////tmp/shop__vr_a1_0.db"),
               job(1, "http://127.0.0.1:8002", "sqlite:////tmp/shop__vr_a1_1.db")]
    assert unreachable_replica(started, [here, here], here) is None  # every worker on this machine
    assert unreachable_replica(started, [here, "10.1.0.2"], here) == (
        "worker 2 runs on 10.1.0.2, but its replica's http://127.0.0.1:8002 is on this machine (10.1.0.1): on a "
        "cluster of several machines give each worker a replica its node reaches, with --replica 'TARGET DB...'")
    networked = [job(0, "http://shop-1.ci:8000", "postgresql://app:s3cret@db-1.ci/shop", "redis://cache-1.ci:6379/0"),
                 job(1, "http://shop-2.ci:8000", "postgresql://app:s3cret@db-2.ci/shop", "redis://cache-2.ci:6379/0")]
    assert unreachable_replica(networked, ["10.1.0.2", "10.1.0.3"], here) is None
    local_dbs = [job(0, "http://shop-1.ci:8000", "postgresql://app:s3cret@localhost/shop"),
                 job(1, "http://shop-2.ci:8000", "dir:///srv/uploads"),
                 job(2, "http://shop-3.ci:8000", "postgresql:///shop?host=/var/run/postgresql")]
    found = [unreachable_replica([j], ["10.1.0.2"], here) for j in local_dbs]
    assert all(found) and "s3cret" not in found[0] and "postgresql://app:***@localhost/shop" in found[0]
    assert "dir:///srv/uploads" in found[1] and "postgresql:///shop" in found[2]
