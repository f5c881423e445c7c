"""Scale-out: the same complete search with 1, 2 and 4 workers, each on its own started copy of the API.

    python bench/bench_scale.py [--quick] [--only slow_api,shop] [--workers 1,2,4] [--ray auto]
                                [--reference-only] [--out-dir bench/results] [--keep DIR]

Writes bench/results/scale.json and scale.md (``--quick``: a short smoke run into a temporary directory
unless ``--out-dir`` is given).

Subjects, each recorded through the real recording proxy (``record --db``, so the recording keeps its
start state) and then explored with the real CLI, bfs, no value mutations, fixed prefix roots, until
the search is complete:

- slow_api: tests/apps/slow_api.py, boards and their cards on SQLite, every request waiting 20 ms
  before it answers (I/O-bound: the API's time is waiting, which replicas overlap);
- shop: the bundled demo shop with its planted bugs (CPU-bound: every request costs the API CPU time,
  and the API processes and the explorer share this machine's cores).

Per subject: a plain ``explore --target`` against one started API (the reference), then
``explore --workers N --api-cmd CMD`` for each N (each worker starts its own API on its own copy of
the database), and optionally ``--ray`` with 2 workers as Ray actors. Measured per run: states,
transitions, the findings' signatures, the search phase's seconds (report.json ``search_seconds``)
and transitions per second, the wall time of the command, and the CPU seconds it used (the explore
process and every API process it started; for the reference, the API it ran against too). A complete
bfs search from the recording's start state must give the same states and findings with any number of
workers, after a replay of the recording that agrees as often: the script says which runs differ and
exits 1 if any does (2: a run failed, or this explore has no --workers yet). ``--keep DIR`` keeps
each run's report.json for a closer look.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"
sys.path.insert(0, str(TESTS_DIR))

from support.net import free_port, wait_for_port
from support.proxy import recording_proxy

RESULTS = ROOT / "bench" / "results"
CLI = [sys.executable, "-m", "venom_replay.replay.cli"]
EXPLORE_TIMEOUT_SECONDS = 3600
PYTHON = shlex.quote(sys.executable)


@dataclass(frozen=True)
class Subject:
    name: str
    api: str
    """What the API is, for the results."""
    api_cmd: str
    """A shell command starting the API: ``{port}`` and ``{db}`` (a sqlite:/// URL) filled in. It starts with
    ``exec``, so that the shell's process is the API's: its CPU time is counted when it is waited for."""
    api_ready: str
    """A path that gets an HTTP answer once the API listens."""
    drive: Callable[[str], Any]
    """Plays the recorded traffic against a base URL (the recording proxy)."""
    search: tuple[str, ...]
    """The explore options of the complete search (the same for every run)."""


def _drive_slow_api(url: str) -> None:
    from support.slow_api_traffic import drive_slow_api

    drive_slow_api(url)


def _drive_shop(url: str) -> None:
    from venom_replay.replay.demo.traffic import run_traffic

    run_traffic(url)


def subjects(quick: bool) -> dict[str, Subject]:
    common = ("--strategy", "bfs", "--no-mutations", "--max-transitions", "1000000")
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
            api_cmd=f"exec {PYTHON} -m venom_replay.replay.demo.shop --port {{port}} --db {{db}}",
            api_ready="/ui/",
            drive=_drive_shop,
            search=(*common, "--depth", "3",
                    *(("--prefix-roots", "2", "--prefix-depth", "1") if quick
                      else ("--prefix-roots", "12", "--prefix-depth", "2"))),
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


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def run_explore(label: str, cmd: list[str], report_dir: Path, *, workers: int | None,
                api_pid: int | None = None) -> dict[str, Any]:
    """Run one explore command; its measurements and what its report.json says."""
    print(f"   {label}: {shlex.join(cmd[2:])}", flush=True)
    load = os.getloadavg()[0]
    api_cpu = _process_cpu_seconds(api_pid) if api_pid else 0.0
    children_cpu = _children_cpu_seconds()
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=EXPLORE_TIMEOUT_SECONDS,
                          check=False)
    wall = time.monotonic() - started
    cpu = _children_cpu_seconds() - children_cpu + ((_process_cpu_seconds(api_pid) - api_cpu) if api_pid else 0.0)
    report_file = report_dir / "report.json"
    if done.returncode not in (0, 1) or not report_file.exists():
        raise RunFailed(f"{label}: explore exited {done.returncode}"
                        f"{'' if report_file.exists() else ' and wrote no report.json'}:\n{done.stderr[-3000:]}")
    report = json.loads(report_file.read_text())
    search_seconds = report.get("search_seconds")
    transitions = report["transitions"]
    return {
        "label": label,
        "workers": workers,
        "exit_code": done.returncode,
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
        "load_1min_before": round(load, 2),
        "per_worker": report.get("workers"),
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
                    reference_only: bool, keep_under: Path | None) -> dict[str, Any]:
    with work_directory(subject.name, keep_under) as workdir:
        db_url = f"sqlite:///{workdir / f'{subject.name}.db'}"
        recording = workdir / f"{subject.name}.vrec"
        base = [*CLI, "explore", str(recording), "--db", db_url, *subject.search]
        runs = []
        with started_api(subject, db_url) as (url, api):
            with recording_proxy(url, recording, "--db", db_url) as proxy:
                subject.drive(proxy.url)
            report_dir = workdir / "plain"
            runs.append(run_explore("plain explore", [*base, "--target", url, "--report", str(report_dir)],
                                    report_dir, workers=None, api_pid=api.pid))
        if not reference_only:
            replicas = ["--api-cmd", subject.api_cmd, "--api-ready", subject.api_ready]
            for n in worker_counts:
                report_dir = workdir / f"workers-{n}"
                runs.append(run_explore(f"{n} worker{'s' if n > 1 else ''}",
                                        [*base, "--workers", str(n), *replicas, "--report", str(report_dir)],
                                        report_dir, workers=n))
            if ray_address:
                report_dir = workdir / "ray-2"
                runs.append(run_explore("2 Ray actors", [*base, "--workers", "2", "--ray", ray_address, *replicas,
                                                         "--report", str(report_dir)], report_dir, workers=2))
    return {"subject": subject.name, "api": subject.api, "api_cmd": subject.api_cmd,
            "search_options": list(subject.search), "runs": runs,
            "speed_up": speed_ups(runs), "differences": differences(runs)}


def speed_ups(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each run's search rate and wall time against one worker's (and against the plain explore)."""
    plain = runs[0]
    one = next((r for r in runs if r["workers"] == 1), None)

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    return {r["label"]: {"search_tps_vs_1_worker": ratio(r["search_tps"], one and one["search_tps"]),
                         "wall_vs_1_worker": ratio(one and one["wall_seconds"], r["wall_seconds"]),
                         "search_tps_vs_plain": ratio(r["search_tps"], plain["search_tps"]),
                         "wall_vs_plain": ratio(plain["wall_seconds"], r["wall_seconds"])} for r in runs}


def differences(runs: list[dict[str, Any]]) -> list[str]:
    """What makes the runs not the same complete search: an incomplete one, other states or findings."""
    first = runs[0]
    problems = [f"{r['label']}: the search stopped '{r['stopped']}', not complete" for r in runs
                if r["stopped"] != "complete"]
    problems += [f"{r['label']}: the databases were not restored" for r in runs if r["db_restored"] is False]
    for r in runs[1:]:
        if r["recorded_steps_agreeing"] != first["recorded_steps_agreeing"]:
            problems.append(f"{r['label']}: {r['recorded_steps_agreeing']} recorded steps replayed as recorded,"
                            f" {first['label']}: {first['recorded_steps_agreeing']} (not the same start)")
        if r["states"] != first["states"]:
            problems.append(f"{r['label']}: {r['states']} states, {first['label']}: {first['states']}")
        if r["findings"] != first["findings"]:
            only_here = sorted(set(r["findings"]) - set(first["findings"]))
            missing = sorted(set(first["findings"]) - set(r["findings"]))
            problems.append(f"{r['label']}: findings differ from {first['label']}'s"
                            f" (only here: {only_here or 'none'}; missing: {missing or 'none'})")
    return problems


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": model,
            "arch": platform.machine(), "python": sys.version.split()[0]}


def markdown(out: dict[str, Any]) -> str:
    m = out["machine"]
    lines = [
        "# Scale-out: one complete search with 1, 2, 4 workers",
        "",
        (f"Measured {out['measured_at']}{' (quick smoke run)' if out['quick'] else ''} on {m['cpu_model']},"
        f" {m['arch']}, `nproc` = {m['nproc']} ({m['cpu_count']} CPUs in the machine), Python {m['python']}."),
        ("Each worker starts its own copy of the API (`--api-cmd`) on its own copy of the SQLite database; the"
        " plain explore runs against one API started by the same command. Search t/s: transitions over the"
        " search phase's seconds (report.json). Wall: the whole command, API start-ups, the replay of the"
        " recording and the confirmation of findings included. CPU: user + system seconds of explore and"
        " every API process of the run; cores busy = CPU seconds / wall seconds."),
        "",
    ]
    for s in out["subjects"]:
        lines += [f"## {s['subject']}", "", f"API: {s['api']}. Search: `{' '.join(s['search_options'])}`.", "",
                  ("| run | states | transitions | findings | search s | search t/s | x vs 1 worker | wall s"
                  " | wall x vs 1 worker | CPU s | cores busy | transitions per worker |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in s["runs"]:
            x = s["speed_up"][r["label"]]
            lines.append(f"| {r['label']} | {r['states']} | {r['transitions']} | {len(r['findings'])} |"
                         f" {r['search_seconds']} | {r['search_tps']} | {x['search_tps_vs_1_worker'] or ''} |"
                         f" {r['wall_seconds']} | {x['wall_vs_1_worker'] or ''} | {r['cpu_seconds']} |"
                         f" {r['cpu_cores_busy']} | {_per_worker(r)} |")
        lines.append("")
        if s["differences"]:
            lines += ["**The runs are not the same search:**", *[f"- {d}" for d in s["differences"]], ""]
        else:
            lines += [(f"Every run reached the same {s['runs'][0]['states']} states and the same"
                      f" {len(s['runs'][0]['findings'])} findings (signatures compared)."), ""]
        lines += [_cpu_bound_note(s, m["nproc"]), ""]
    return "\n".join(lines)


def _per_worker(run: dict[str, Any]) -> str:
    """How the search's transitions fell to the workers, e.g. ``260 / 274``."""
    return " / ".join(str(w.get("transitions")) for w in run["per_worker"] or [])


def _cpu_bound_note(subject: dict[str, Any], nproc: int) -> str:
    """Why a speed-up stops where it does: the cores one worker already keeps busy bound what more can add."""
    one = next((r for r in subject["runs"] if r["workers"] == 1), subject["runs"][0])
    busy = one["cpu_cores_busy"]
    if not busy:
        return ""
    return (f"With {one['label']} the API and the explorer kept {busy} of {nproc} cores busy: however many workers"
            f" run, the search cannot go faster than about {round(nproc / busy, 1)}x on this machine, because more"
            " workers only help while cores sit idle (an API waiting on its database leaves them idle; an API"
            " computing its answers does not).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (small searches, 1 and 2 workers)")
    parser.add_argument("--only", default="slow_api,shop", help="comma-separated subjects: slow_api, shop")
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default 1,2,4; quick 1,2)")
    parser.add_argument("--ray", metavar="ADDRESS", help="also run 2 workers as Ray actors on this cluster (auto)")
    parser.add_argument("--reference-only", action="store_true", help="only the plain explore, no --workers runs")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where scale.json and scale.md go (default bench/results; quick: a temporary directory)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each subject's recording, databases and reports under DIR")
    args = parser.parse_args()
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
                           "machine": machine(), "subjects": []}
    try:
        for name in chosen:
            print(f"-- {name}", flush=True)
            row = measure_subject(table[name], worker_counts, args.ray, args.reference_only, args.keep)
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
    problems = [f"{s['subject']}: {d}" for s in out["subjects"] for d in s["differences"]]
    if problems:
        print("NOT the same search across worker counts:\n" + "\n".join(f"  {p}" for p in problems), file=sys.stderr)
        sys.exit(1)
    print("same states and findings in every run")


if __name__ == "__main__":
    main()
