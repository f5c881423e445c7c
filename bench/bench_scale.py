"""Scale-out: the same complete search with 1, 2 and 4 workers, each on its own started copy of the API.

    python bench/bench_scale.py [--quick] [--only slow_api,shop,shop_pg] [--workers 1,2,4] [--ray auto]
                                [--reference-only] [--settle SECONDS] [--out-dir bench/results] [--keep DIR]

Writes bench/results/scale.json and scale.md (``--quick``: a short smoke run into a temporary directory
unless ``--out-dir`` is given).

Subjects, each recorded through the real recording proxy (``record --db``, so the recording keeps its
start state) and then explored with the real CLI, bfs, no value mutations, fixed prefix roots, until
the search is complete:

- slow_api: tests/apps/slow_api.py, boards and their cards on SQLite, every request waiting 20 ms
  before it answers (I/O-bound: the API's time is waiting, which replicas overlap);
- shop: the bundled demo shop with its planted bugs on SQLite (CPU-bound: every request costs the API
  CPU time, and the API processes and the explorer share this machine's cores);
- shop_pg: the same shop on PostgreSQL 15, a server the bench starts in a temporary directory and
  stops at the end (its adapter restores any checkpoint; copies by ``CREATE DATABASE ... TEMPLATE``).

Per subject: a plain ``explore --target`` against one started API (the reference), then
``explore --workers N --api-cmd CMD`` for each N (each worker starts its own API on its own copy of
the database; the reference's API is stopped first, as a PostgreSQL template copy needs its source to
itself), and optionally ``--ray`` with 2 workers as Ray actors. Measured per run: states,
transitions, the findings' signatures, the search phase's seconds (report.json ``search_seconds``),
transitions per second of the search and of the whole run, the wall time of the command, the CPU
seconds it used (the explore process, every API process it started, for the reference the API it ran
against, and the PostgreSQL server's processes) and how many of the machine's cores were busy.

A complete bfs search from the recording's start state must give the same findings with any number of
workers, after a replay of the recording that agrees as often, complete and with the databases
restored. It must also give the same states and transitions, except on the shop on SQLite: SQLite's
adapter can only undo, so even one explorer re-executes paths to reach states, and each re-execution
of a login mints a new random token; which states merge then depends on where re-executions happen.
Its states and transitions are reported, not compared. The script says which runs differ and exits 1
if any does (2: a run failed, or this explore has no --workers yet). ``--keep DIR`` keeps each run's
report.json for a closer look. Before each run the bench waits, at most ``--settle`` seconds, for the
machine to be quiet: on a shared machine other work skews the timings (the results show how busy the
machine was during each run, and how much of that was the run's own).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"
sys.path.insert(0, str(TESTS_DIR))

from support.db_servers import PostgresServer, ServerUnavailable
from support.net import free_port, wait_for_port
from support.proxy import recording_proxy

RESULTS = ROOT / "bench" / "results"
CLI = [sys.executable, "-m", "venom_replay.replay.cli"]
EXPLORE_TIMEOUT_SECONDS = 3600
PYTHON = shlex.quote(sys.executable)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SATURATED = 0.9
"""A second counts as saturated when this share of the machine's CPU time was busy in it."""
PEAK_WINDOW = 5
"""Seconds over which the run's busiest stretch is measured (most of a parallel search phase)."""

SHOP_ON_SQLITE_CAVEAT = (
    "SQLite's adapter can only undo, so even one explorer re-executes paths to reach the states it expands,"
    " and every re-executed login mints a new random token: which states the search meets then depends on"
    " where the re-executions happen. One worker runs its units in the merge order, where one explorer's"
    " databases would be, and meets the plain explorer's states; N workers run units side by side and"
    " re-execute elsewhere. That is a property of undo-only rollback with an API that mints values; the"
    " shop on PostgreSQL, whose adapter restores any checkpoint so that no path is re-executed, gives the"
    " same states and transitions in every run.")
SHOP_MINTS_TOKENS = (
    "The shop answers each login with a random token, so a state reached after a login exists only on the"
    " replica that minted its token, and the worker that reached it expands it.")
SHOP_PG_SPREAD = (
    f"{SHOP_MINTS_TOKENS} PostgreSQL's adapter restores any checkpoint, so each prefix root's content (its"
    " tokens included) is moved to a worker in turn and the subtrees below the roots are spread over the"
    " workers.")
SHOP_SQLITE_PINNED = (
    f"{SHOP_MINTS_TOKENS} SQLite's adapter can only undo, so the prefix roots cannot be moved to another"
    " worker: they and everything below them stay with the first worker, the others get a few of the"
    " baseline's actions.")
CONTENDED = 0.25
"""Cores busy on the machine beyond the run's own above which a run is marked as contended."""


@dataclass(frozen=True)
class Subject:
    name: str
    api: str
    """What the API is, for the results."""
    api_cmd: str
    """A shell command starting the API: ``{port}`` and ``{db}`` (the database's URL) filled in. It starts with
    ``exec``, so that the shell's process is the API's: its CPU time is counted when it is waited for."""
    api_ready: str
    """A path that gets an HTTP answer once the API listens."""
    drive: Callable[[str], Any]
    """Plays the recorded traffic against a base URL (the recording proxy)."""
    search: tuple[str, ...]
    """The explore options of the complete search (the same for every run)."""
    database: str = "sqlite"
    """``sqlite`` (a file in the work directory) or ``postgresql`` (a server the bench starts)."""
    same_graph_required: bool = True
    """Whether every run must reach the same states and transitions (else they are reported only)."""
    graph_caveat: str = ""
    """Why the states and transitions may differ between runs, when they are not required to match."""
    work_split: str = ""
    """How this API's values decide which worker may expand a state, for the speed-up's explanation."""


def _drive_slow_api(url: str) -> None:
    from support.slow_api_traffic import drive_slow_api

    drive_slow_api(url)


def _drive_shop(url: str) -> None:
    from venom_replay.replay.demo.traffic import run_traffic

    run_traffic(url)


def subjects(quick: bool) -> dict[str, Subject]:
    common = ("--strategy", "bfs", "--no-mutations", "--max-transitions", "1000000")
    shop_search = (*common, "--depth", "3",
                   *(("--prefix-roots", "2", "--prefix-depth", "1") if quick
                     else ("--prefix-roots", "12", "--prefix-depth", "2")))
    shop_cmd = f"exec {PYTHON} -m venom_replay.replay.demo.shop --port {{port}} --db {{db}}"
    return {
        "slow_api": Subject(
            name="slow_api",
            api="tests/apps/slow_api.py (boards and cards on SQLite, 20 ms wait per request, werkzeug threaded,"
                " one planted bug: a board's delete leaves its cards)",
            api_cmd=f"exec {PYTHON} -m apps.slow_api --port {{port}} --db {{db}}",
            api_ready="/health",
            drive=_drive_slow_api,
            search=(*common, "--depth", "3",
                    *(("--prefix-roots", "0", "--prefix-depth", "1") if quick
                      else ("--prefix-roots", "4", "--prefix-depth", "3"))),
        ),
        "shop": Subject(
            name="shop",
            api="the bundled demo shop (python -m venom_replay.replay.demo.shop, planted bugs) on SQLite",
            api_cmd=shop_cmd, api_ready="/ui/", drive=_drive_shop, search=shop_search,
            same_graph_required=False, graph_caveat=SHOP_ON_SQLITE_CAVEAT, work_split=SHOP_SQLITE_PINNED,
        ),
        "shop_pg": Subject(
            name="shop_pg",
            api="the bundled demo shop (python -m venom_replay.replay.demo.shop, planted bugs) on PostgreSQL 15"
                " (a server the bench starts; fsync off)",
            api_cmd=shop_cmd, api_ready="/ui/", drive=_drive_shop, search=shop_search,
            database="postgresql", work_split=SHOP_PG_SPREAD,
        ),
    }


def child_env() -> dict[str, str]:
    """The environment of explore and the APIs it starts: tests/ importable (``apps.slow_api``)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH", "")]))
    return env


def explore_options() -> str:
    done = subprocess.run([*CLI, "explore", "--help"], capture_output=True, text=True, env=child_env(), check=True)
    return done.stdout


# -- CPU accounting -------------------------------------------------------------------------------


def _tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, of the children it has waited for (PostgreSQL's ended
    backends), and of its live descendants (Linux /proc); None once the process is gone."""
    if not Path(f"/proc/{pid}").exists():
        return None
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended between the reads: its parent's waited-for time has it
        total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS
        pending += [int(c) for c in children]
    return total


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_jiffies() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU since boot, from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


QUIET_CORES = 0.5
"""Cores busy on the machine below which it counts as quiet enough to start a run."""
QUIET_SECONDS = 5


def wait_for_quiet_machine(limit: float) -> tuple[float, float]:
    """Wait, at most ``limit`` seconds, until the machine's cores busy stayed below ``QUIET_CORES`` for
    ``QUIET_SECONDS`` (other work on a shared machine skews the timings); (seconds waited, cores busy then)."""
    cpus = os.cpu_count() or 1
    started = time.monotonic()
    while True:
        busy0, all0 = _machine_jiffies()
        time.sleep(QUIET_SECONDS)
        busy1, all1 = _machine_jiffies()
        busy = cpus * (busy1 - busy0) / (all1 - all0) if all1 > all0 else 0.0
        waited = time.monotonic() - started
        if busy < QUIET_CORES or waited >= limit:
            return round(waited, 1), round(busy, 2)


class RunSampler:
    """Cores busy while a run lasts, sampled every second: the machine's (every CPU, /proc/stat, whatever
    runs on it) and the run's own processes' (``own_cpu``: their CPU seconds so far)."""

    def __init__(self, own_cpu: Callable[[], float | None], interval: float = 1.0) -> None:
        self.own_cpu = own_cpu
        self.interval = interval
        self.samples: list[tuple[float, int, int, float]] = []
        """(monotonic time, machine busy ticks, machine ticks, the run's CPU seconds)"""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_every_interval, daemon=True)

    def _sample(self) -> None:
        own = self.own_cpu()
        if own is not None:  # None: the run has ended, its processes cannot be read any more
            self.samples.append((time.monotonic(), *_machine_jiffies(), own))

    def _sample_every_interval(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float | None]:
        """The machine's cores busy over the run, the share of its seconds that were saturated, and the busiest
        ``PEAK_WINDOW`` seconds of the run's own processes (with the machine's cores busy in that window)."""
        cpus = os.cpu_count() or 1
        s = self.samples
        if len(s) < 2:
            return {"machine_cores_busy": None, "machine_saturated_share": None,
                    "peak_cores_busy": None, "peak_machine_cores_busy": None}
        steps = [(b1 - b0) / (t1 - t0) for (_, b0, t0, _), (_, b1, t1, _) in itertools.pairwise(s) if t1 > t0]
        width = min(PEAK_WINDOW, len(s) - 1)
        windows = [(s[i + width][3] - s[i][3]) / (s[i + width][0] - s[i][0]) for i in range(len(s) - width)]
        peak = max(range(len(windows)), key=windows.__getitem__)
        a, z = s[peak], s[peak + width]
        return {"machine_cores_busy": round(cpus * (s[-1][1] - s[0][1]) / (s[-1][2] - s[0][2]), 2),
                "machine_saturated_share": round(sum(x >= SATURATED for x in steps) / len(steps), 2) if steps else None,
                "peak_cores_busy": round(windows[peak], 2),
                "peak_machine_cores_busy": round(cpus * (z[1] - a[1]) / (z[2] - a[2]), 2) if z[2] > a[2] else None}


# -- the APIs and databases -----------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: str
    server_cpu_seconds: Callable[[], float]
    """CPU seconds the database's server has used so far (SQLite has none: it runs in the API)."""


@contextmanager
def subject_database(subject: Subject, workdir: Path) -> Iterator[Database]:
    """An empty database for the subject: a SQLite file, or a database on a PostgreSQL server started here."""
    if subject.database == "sqlite":
        yield Database(f"sqlite:///{workdir / f'{subject.name}.db'}", lambda: 0.0)
        return
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        raise RunFailed(f"{subject.name}: {exc}") from exc
    server.start()
    try:
        postmaster = server.proc.pid if server.proc else None
        yield Database(server.url(server.create_database(subject.name)),
                       lambda: (_tree_cpu_seconds(postmaster) or 0.0) if postmaster else 0.0)
    finally:
        server.stop()


@contextmanager
def started_api(subject: Subject, db_url: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The API started by the very command the workers use, on ``db_url``; yields (URL, process)."""
    port = free_port()
    cmd = subject.api_cmd.format(port=port, db=shlex.quote(db_url))
    proc = subprocess.Popen(cmd, shell=True, env=child_env(), stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc, timeout=60)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- one run --------------------------------------------------------------------------------------


def run_explore(label: str, cmd: list[str], report_dir: Path, *, workers: int | None,
                outside_cpu: Callable[[], float], settle: float) -> dict[str, Any]:
    """Run one explore command; its measurements and what its report.json says. ``outside_cpu``: CPU seconds
    of the run's processes that are not explore's children (the reference's API, the database server)."""
    waited, busy_before = wait_for_quiet_machine(settle)
    print(f"   {label} (waited {waited} s for a quiet machine: {busy_before} cores busy):"
          f" {shlex.join(cmd[2:])}", flush=True)
    load = os.getloadavg()[0]
    outside_before = outside_cpu()
    children_before = _children_cpu_seconds()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    def run_cpu() -> float | None:
        explore = _tree_cpu_seconds(proc.pid)
        return None if explore is None else explore + outside_cpu() - outside_before

    with RunSampler(run_cpu) as sampler:
        try:
            stdout, stderr = proc.communicate(timeout=EXPLORE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RunFailed(f"{label}: explore still ran after {EXPLORE_TIMEOUT_SECONDS} s") from None
    wall = time.monotonic() - started
    cpu = _children_cpu_seconds() - children_before + outside_cpu() - outside_before
    report_file = report_dir / "report.json"
    if proc.returncode not in (0, 1) or not report_file.exists():
        raise RunFailed(f"{label}: explore exited {proc.returncode}"
                        f"{'' if report_file.exists() else ' and wrote no report.json'}:\n{stderr[-3000:]}"
                        f"\n(standard output's end:)\n{stdout[-2000:]}")
    report = json.loads(report_file.read_text())
    search_seconds = report.get("search_seconds")
    transitions = report["transitions"]
    return {
        "label": label,
        "workers": workers,
        "exit_code": proc.returncode,
        "stopped": report.get("stopped"),
        "db_restored": report.get("db_restored"),
        "states": report["states"],
        "transitions": transitions,
        "findings": sorted(f["signature"] for f in report["findings"]),
        "recorded_steps_agreeing": _agreement(report),
        "search_seconds": search_seconds,
        "elapsed_seconds": report["elapsed_seconds"],
        "wall_seconds": round(wall, 2),
        "search_tps": round(transitions / search_seconds, 1) if search_seconds else None,
        "whole_run_tps": round(transitions / report["elapsed_seconds"], 1) if report["elapsed_seconds"] else None,
        "cpu_seconds": round(cpu, 2),
        "cpu_cores_busy": round(cpu / wall, 2) if wall > 0 else None,
        **sampler.summary(),
        "load_1min_before": round(load, 2),
        "machine_cores_busy_before": busy_before,
        "quiet_wait_seconds": waited,
        "per_worker": report.get("workers"),
        "phase_seconds": report.get("phase_seconds"),
    }


def _agreement(report: dict[str, Any]) -> str | None:
    """``agreeing/recorded``: recorded steps that replayed with their recorded status class."""
    agreement = report.get("replay_agreement") or {}
    return f"{agreement['same_status_class']}/{agreement['steps']}" if agreement.get("steps") else None


class RunFailed(RuntimeError):
    pass


@contextmanager
def work_directory(name: str, keep_under: Path | None) -> Iterator[Path]:
    """A directory for one subject's recording, databases and reports; kept under ``keep_under`` if given."""
    if keep_under is not None:
        keep_under.mkdir(parents=True, exist_ok=True)
        yield Path(tempfile.mkdtemp(prefix=f"{name}-", dir=keep_under))
        return
    with tempfile.TemporaryDirectory(prefix=f"venom-scale-{name}-") as tmp:
        yield Path(tmp)


def measure_subject(subject: Subject, worker_counts: list[int], ray_address: str | None,
                    reference_only: bool, keep_under: Path | None, settle: float) -> dict[str, Any]:
    with work_directory(subject.name, keep_under) as workdir, subject_database(subject, workdir) as db:
        recording = workdir / f"{subject.name}.vrec"
        base = [*CLI, "explore", str(recording), "--db", db.url, *subject.search]
        runs = []
        with started_api(subject, db.url) as (url, api):
            with recording_proxy(url, recording, "--db", db.url) as proxy:
                subject.drive(proxy.url)
            report_dir = workdir / "plain"
            runs.append(run_explore("plain explore", [*base, "--target", url, "--report", str(report_dir)],
                                    report_dir, workers=None,
                                    outside_cpu=lambda: (_tree_cpu_seconds(api.pid) or 0.0) + db.server_cpu_seconds(),
                                    settle=settle))
        # The API has stopped: a PostgreSQL template copy needs the source database to itself.
        if not reference_only:
            replicas = ["--api-cmd", subject.api_cmd, "--api-ready", subject.api_ready]
            for n in worker_counts:
                report_dir = workdir / f"workers-{n}"
                runs.append(run_explore(f"{n} worker{'s' if n > 1 else ''}",
                                        [*base, "--workers", str(n), *replicas, "--report", str(report_dir)],
                                        report_dir, workers=n, outside_cpu=db.server_cpu_seconds, settle=settle))
            if ray_address:
                report_dir = workdir / "ray-2"
                runs.append(run_explore("2 Ray actors", [*base, "--workers", "2", "--ray", ray_address, *replicas,
                                                         "--report", str(report_dir)], report_dir, workers=2,
                                        outside_cpu=db.server_cpu_seconds, settle=settle))
    problems, informational = differences(runs, subject.same_graph_required)
    return {"subject": subject.name, "api": subject.api, "api_cmd": subject.api_cmd, "database": subject.database,
            "search_options": list(subject.search), "same_graph_required": subject.same_graph_required,
            "graph_caveat": subject.graph_caveat or None, "work_split": subject.work_split or None, "runs": runs,
            "speed_up": speed_ups(runs), "differences": problems, "informational_differences": informational}


def speed_ups(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each run's search and whole-run rates and wall time against one worker's (and against the plain explore)."""
    plain = runs[0]
    one = next((r for r in runs if r["workers"] == 1), None)

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    return {r["label"]: {"search_tps_vs_1_worker": ratio(r["search_tps"], one and one["search_tps"]),
                         "whole_run_tps_vs_1_worker": ratio(r["whole_run_tps"], one and one["whole_run_tps"]),
                         "wall_vs_1_worker": ratio(one and one["wall_seconds"], r["wall_seconds"]),
                         "search_tps_vs_plain": ratio(r["search_tps"], plain["search_tps"]),
                         "wall_vs_plain": ratio(plain["wall_seconds"], r["wall_seconds"])} for r in runs}


def differences(runs: list[dict[str, Any]], same_graph_required: bool) -> tuple[list[str], list[str]]:
    """(what makes the runs not the same complete search, what differs where sameness is not required):
    an incomplete search, databases not restored, another start or other findings are always the first;
    other states or transitions are the first only where ``same_graph_required``."""
    first = runs[0]
    problems = [f"{r['label']}: the search stopped '{r['stopped']}', not complete" for r in runs
                if r["stopped"] != "complete"]
    problems += [f"{r['label']}: the databases were not restored" for r in runs if r["db_restored"] is False]
    informational: list[str] = []
    for r in runs[1:]:
        if r["recorded_steps_agreeing"] != first["recorded_steps_agreeing"]:
            problems.append(f"{r['label']}: {r['recorded_steps_agreeing']} recorded steps replayed as recorded,"
                            f" {first['label']}: {first['recorded_steps_agreeing']} (not the same start)")
        for what in ("states", "transitions"):
            if r[what] != first[what]:
                (problems if same_graph_required else informational).append(
                    f"{r['label']}: {r[what]} {what}, {first['label']}: {first[what]}")
        if r["findings"] != first["findings"]:
            only_here = sorted(set(r["findings"]) - set(first["findings"]))
            missing = sorted(set(first["findings"]) - set(r["findings"]))
            problems.append(f"{r['label']}: findings differ from {first['label']}'s"
                            f" (only here: {only_here or 'none'}; missing: {missing or 'none'})")
    return problems, informational


def code_version() -> dict[str, Any]:
    """The commit measured and the files that differed from it when the bench started (read-only git)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.rstrip() if done.returncode == 0 else ""  # status lines start with a space

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "changed_files": changed}


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": model,
            "arch": platform.machine(), "python": sys.version.split()[0]}


# -- scale.md -------------------------------------------------------------------------------------


def markdown(out: dict[str, Any]) -> str:
    m = out["machine"]
    lines = [
        "# Scale-out: one complete search with 1, 2, 4 workers",
        "",
        (f"Measured {out['measured_at']}{' (quick smoke run)' if out['quick'] else ''} on {m['cpu_model']},"
         f" {m['arch']}, `nproc` = {m['nproc']} ({m['cpu_count']} CPUs in the machine), Python {m['python']}"
         f"{_code_line(out.get('code'))}."),
        "",
        ("Each worker starts its own copy of the API (`--api-cmd`) on its own copy of the database (SQLite:"
         " the backup API; PostgreSQL: `CREATE DATABASE ... TEMPLATE` on the same server); the plain explore"
         " runs against one API started by the same command, which is stopped before the worker runs."
         " Search t/s: transitions over the search phase's seconds (report.json). Whole-run t/s: transitions"
         " over the run's seconds (report.json `elapsed_seconds`: the replay of the recording, the search and"
         " the confirmation of findings). Wall: the whole command, API start-ups included. CPU: user + system"
         " seconds of explore, every API process of the run and the PostgreSQL server's processes; cores busy:"
         " run = CPU seconds / wall seconds; cores busy: machine = every CPU of the machine over the run"
         " (/proc/stat: whatever ran, other users' work included); busiest"
         f" {PEAK_WINDOW} s: the run's processes' CPU seconds in the {PEAK_WINDOW} seconds of the run in which"
         " they used the most (sampled every second), and the machine's in the same seconds. The machine's"
         " cores busy beyond the run's are other work on this shared machine: before each run the bench"
         f" waits (at most {out.get('settle_seconds', 0):g} s) until fewer than {QUIET_CORES} cores were busy for"
         f" {QUIET_SECONDS} s, but other work can start during a run."),
        "",
    ]
    for s in out["subjects"]:
        lines += _subject_markdown(s, m["nproc"])
    return "\n".join(lines)


def _code_line(code: dict[str, Any] | None) -> str:
    if not code or not code.get("commit"):
        return ""
    changed = code.get("changed_files") or []
    return f", commit {code['commit'][:7]}" + (f" with local changes to {', '.join(changed)}" if changed else "")


def _subject_markdown(s: dict[str, Any], nproc: int) -> list[str]:
    lines = [f"## {s['subject']}", "", f"API: {s['api']}. Search: `{' '.join(s['search_options'])}`.", "",
             ("| run | states | transitions | findings | search s | search t/s | search x vs 1 worker | whole-run t/s"
              " | whole-run x vs 1 worker | wall s | CPU s | cores busy: run | cores busy: machine"
              f" | busiest {PEAK_WINDOW} s: run / machine | transitions per worker |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in s["runs"]:
        x = s["speed_up"][r["label"]]
        contended = (_contention(r) or 0.0) > CONTENDED
        lines.append(f"| {r['label']}{' *' if contended else ''} | {r['states']} | {r['transitions']} |"
                     f" {len(r['findings'])} |"
                     f" {r['search_seconds']} | {r['search_tps']} | {x['search_tps_vs_1_worker'] or ''} |"
                     f" {r['whole_run_tps']} | {x['whole_run_tps_vs_1_worker'] or ''} | {r['wall_seconds']} |"
                     f" {r['cpu_seconds']} | {r['cpu_cores_busy']} | {r.get('machine_cores_busy')} |"
                     f" {r.get('peak_cores_busy')} / {r.get('peak_machine_cores_busy')} | {_per_worker(r)} |")
    lines.append("")
    contended = [f"{r['label']} {_contention(r)}" for r in s["runs"] if (_contention(r) or 0.0) > CONTENDED]
    if contended:
        lines += [("\\* Other work on this shared machine kept cores busy during the run (cores beyond the run's"
                   f" own: {', '.join(contended)}): its timings are less certain."), ""]
    first = s["runs"][0]
    findings = _count(len(first["findings"]), "finding")
    if s["differences"]:
        lines += ["**The runs are not the same search:**", *[f"- {d}" for d in s["differences"]], ""]
    elif s["same_graph_required"]:
        lines += [(f"Every run reached the same {first['states']} states, {first['transitions']} transitions and"
                   f" {findings} (signatures compared)."), ""]
    else:
        lines += [f"Every run reported the same {findings} (signatures compared).", ""]
    if not s["same_graph_required"]:
        counts = ", ".join(f"{r['label']} {r['states']} / {r['transitions']}" for r in s["runs"])
        lines += [(f"States / transitions, reported and not compared: {counts}"
                   f" ({'they differ' if s['informational_differences'] else 'the same in every run'})."
                   f" {s['graph_caveat']}"), ""]
    lines += [_speed_note(s, nproc), ""]
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _per_worker(run: dict[str, Any]) -> str:
    """How the search's transitions fell to the workers, e.g. ``260 / 274``."""
    return " / ".join(str(w.get("transitions")) for w in run["per_worker"] or [])


def _busy(run: dict[str, Any]) -> str:
    return (f"{run['cpu_cores_busy']} cores busy over the command and {run.get('peak_cores_busy')} in its busiest"
            f" {PEAK_WINDOW} s (the machine: {run.get('machine_cores_busy')} and {run.get('peak_machine_cores_busy')})")


def _speed_note(subject: dict[str, Any], nproc: int) -> str:
    """What bounds the speed-up, from the runs' numbers: the cores the runs kept busy, how the search's
    transitions fell to the workers, and how much of the run the search is."""
    runs = [r for r in subject["runs"] if r["workers"]]
    if not runs:
        return ""
    one, most = runs[0], max(runs, key=lambda r: r["workers"])
    x = subject["speed_up"][most["label"]]
    processes = "explore, the workers, their APIs" + (" and PostgreSQL" if subject.get("database") == "postgresql" else "")
    note = (f"Why this speed-up: the run's processes ({processes}) share {nproc} cores. With {one['label']} they kept"
            f" {_busy(one)}; with {most['label']} {_busy(most)}, for a search {x['search_tps_vs_1_worker']}x as fast"
            " as 1 worker's.")
    if one.get("peak_cores_busy"):
        note += (f" More workers only use the cores one worker leaves idle: with {one['peak_cores_busy']} of {nproc}"
                 f" busy at its peak, about {round(nproc / one['peak_cores_busy'], 1)}x is the most they can give"
                 f" here (and the run's CPU seconds grew from {one['cpu_seconds']} to {most['cpu_seconds']}).")
    shares = [w.get("transitions") or 0 for w in most["per_worker"] or []]
    if shares and sum(shares):
        note += (f" Of the {sum(shares)} search transitions of {most['label']} the busiest worker ran {max(shares)}"
                 f" ({round(100 * max(shares) / sum(shares))}%).")
    if subject.get("work_split"):
        note += f" {subject['work_split']}"
    if most["search_seconds"] and most["elapsed_seconds"]:
        note += (f" The whole run gains less than the search: the search is {most['search_seconds']} s of the"
                 f" {most['elapsed_seconds']} s of {most['label']} (the rest: starting the replicas, replaying the"
                 " recording, shrinking and confirming the findings).")
    return note


def _contention(run: dict[str, Any]) -> float | None:
    """Cores busy on the machine beyond the run's own: other work on the shared machine."""
    machine, own = run.get("machine_cores_busy"), run.get("cpu_cores_busy")
    return round(machine - own, 2) if machine is not None and own is not None else None


def rewrite_markdown(out_dir: Path, table: dict[str, Subject]) -> None:
    """scale.md again from scale.json's measurements; the subjects' descriptions (what bounds their work
    split, why their states may differ) are refreshed from ``table``, the measurements are left as they are."""
    out = json.loads((out_dir / "scale.json").read_text())
    for row in out["subjects"]:
        subject = table.get(row["subject"])
        if subject is not None:
            row.update(api=subject.api, graph_caveat=subject.graph_caveat or None, work_split=subject.work_split or None)
    (out_dir / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
    (out_dir / "scale.md").write_text(markdown(out))
    print(f"wrote {out_dir / 'scale.md'} (and the descriptions in {out_dir / 'scale.json'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (small searches, 1 and 2 workers)")
    parser.add_argument("--only", default="slow_api,shop,shop_pg",
                        help="comma-separated subjects: slow_api, shop, shop_pg")
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default 1,2,4; quick 1,2)")
    parser.add_argument("--ray", metavar="ADDRESS", help="also run 2 workers as Ray actors on this cluster (auto)")
    parser.add_argument("--reference-only", action="store_true", help="only the plain explore, no --workers runs")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where scale.json and scale.md go (default bench/results; quick: a temporary directory)")
    parser.add_argument("--settle", type=float, default=300.0, metavar="SECONDS",
                        help="before each run, wait at most this long for the machine to be quiet (default 300)")
    parser.add_argument("--markdown-only", action="store_true",
                        help="only rewrite scale.md from the measurements in --out-dir's scale.json (default"
                             " bench/results), with the subjects' descriptions as this script has them")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each subject's recording, databases and reports under DIR")
    args = parser.parse_args()
    if args.markdown_only:
        rewrite_markdown(args.out_dir or RESULTS, subjects(args.quick))
        return
    table = subjects(args.quick)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(table))
    if unknown:
        parser.error(f"unknown subject(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    worker_counts = [int(n) for n in (args.workers or ("1,2" if args.quick else "1,2,4")).split(",")]
    if not args.reference_only:
        options = explore_options()
        missing = [o for o in ("--workers", "--api-cmd", "--api-ready") + (("--ray",) if args.ray else ())
                   if o not in options]
        if missing:
            parser.exit(2, f"error: this venom-replay explore has no {', '.join(missing)} option yet; the worker runs"
                           " cannot be measured. Run with --reference-only to measure the plain explore alone.\n")
    out_dir = args.out_dir or (Path(tempfile.mkdtemp(prefix="venom-scale-quick-")) if args.quick else RESULTS)
    out: dict[str, Any] = {"benchmark": "one complete bfs search with 1, 2, 4 workers, each on its own API replica",
                           "measured_at": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick,
                           "settle_seconds": args.settle, "code": code_version(),
                           "machine": machine(), "subjects": []}
    try:
        for name in chosen:
            print(f"-- {name}", flush=True)
            row = measure_subject(table[name], worker_counts, args.ray, args.reference_only, args.keep, args.settle)
            for r in row["runs"]:
                print(json.dumps({k: v for k, v in r.items() if k not in ("findings", "per_worker")}), flush=True)
            out["subjects"].append(row)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
    (out_dir / "scale.md").write_text(markdown(out))
    print(f"wrote {out_dir / 'scale.json'} and {out_dir / 'scale.md'}")
    for s in out["subjects"]:
        for note in s["informational_differences"]:
            print(f"  {s['subject']} (reported, not compared): {note}")
    problems = [f"{s['subject']}: {d}" for s in out["subjects"] for d in s["differences"]]
    if problems:
        print("NOT the same search across worker counts:\n" + "\n".join(f"  {p}" for p in problems), file=sys.stderr)
        sys.exit(1)
    print("the same search in every run (findings everywhere; states and transitions where they must match)")


if __name__ == "__main__":
    main()
