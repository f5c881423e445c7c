"""Scale-out on a real server: MLflow's tracking + auth server explored by 1 explorer and by N workers.

    python bench/bench_scale_mlflow.py [--workers 2,4] [--depth 3] [--settle SECONDS] [--out-dir bench/results]

Writes bench/results/scale_mlflow.json and scale_mlflow.md. MLflow (the pinned release of
tests/support/mlflow_harness.py, in its own virtualenv) runs with its basic-auth app on two
databases of a PostgreSQL server the bench starts; MLflow's own Python client drives it through the
recording proxy (tests/apps/mlflow_client_traffic.py). Then the same complete bfs search (no value
mutations) runs as a plain ``explore --target`` against that server, and with ``--workers N
--api-cmd CMD`` for each N: every worker gets copies of both databases (``CREATE DATABASE ...
TEMPLATE``) and its own MLflow server, started by the very command the plain run's server was
started with (``{db}`` the tracking store, ``{db2}`` the auth store, whose URL goes into the auth
app's ini file). This is the server whose depth-3 search ran at about one transition per second.

Measured per run as in bench_scale.py (the same functions): states, transitions, findings, search
seconds and transitions per second, CPU and cores busy. Exit 1 when a run's states, transitions or
findings differ from the plain run's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import (CLI, RESULTS, ROOT, RunFailed, code_version, differences, machine, run_explore,  # noqa: E402
                         speed_ups)
from support.db_servers import PostgresServer  # noqa: E402
from support.mlflow_harness import ADMIN, CLIENT_SCRIPT, MLFLOW_VERSION, ensure_mlflow_venv  # noqa: E402
from support.proxy import recording_proxy  # noqa: E402

from venom_replay.replay.explorer.phases import PHASES  # noqa: E402
from venom_replay.replay.scale.api_processes import ApiReplicas  # noqa: E402

AUTH_INI = ("[mlflow]\\ndefault_permission = NO_PERMISSIONS\\ndatabase_uri = postgresql+psycopg%s\\n"
            "admin_username = {user}\\nadmin_password = {password}\\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\\n"
            "grant_default_workspace_access = false\\n")


def mlflow_command(python: Path, workdir: Path) -> str:
    """The shell command that starts one MLflow server on ``{db}`` (tracking) and ``{db2}`` (auth), as
    tests/support/mlflow_harness.py starts it: the auth store goes into an ini file of its own per port."""
    ini = f"{shlex.quote(str(workdir))}/auth-{{port}}.ini"
    artifacts = shlex.quote(str(workdir / "artifacts"))
    fmt = shlex.quote(AUTH_INI.format(user=ADMIN[0], password=ADMIN[1]))
    return (f"TRACKING={{db}}; AUTH={{db2}}; printf {fmt} \"${{AUTH#postgresql}}\" > {ini};"
            f" MLFLOW_AUTH_CONFIG_PATH={ini} MLFLOW_FLASK_SERVER_SECRET_KEY=venom-replay-bench"
            f" MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false PYTHONWARNINGS=ignore"
            f" exec {shlex.quote(str(python))} -m mlflow server --app-name basic-auth"
            f" --backend-store-uri \"postgresql+psycopg${{TRACKING#postgresql}}\" --default-artifact-root {artifacts}"
            " --no-serve-artifacts --host 127.0.0.1 --port {port} --workers 1")


def drive(python: Path, url: str) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLFLOW_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["PYTHONWARNINGS"] = "ignore"
    done = subprocess.run([str(python), str(CLIENT_SCRIPT), url, *ADMIN], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    if done.returncode:
        raise RunFailed(f"the MLflow client session failed: {done.stderr[-2000:]}")


def measure(worker_counts: list[int], depth: int, settle: float) -> dict[str, Any]:
    python = ensure_mlflow_venv()
    server = PostgresServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="venom-scale-mlflow-") as tmp:
            workdir = Path(tmp)
            (workdir / "artifacts").mkdir()
            tracking, auth = (server.url(server.create_database(name)) for name in ("mlflow", "mlflow_auth"))
            command = mlflow_command(python, workdir)
            recording = workdir / "mlflow.vrec"
            dbs = ["--db", tracking, "--db", auth]
            search = ["--strategy", "bfs", "--no-mutations", "--max-transitions", "1000000", "--depth", str(depth)]
            base = [*CLI, "explore", str(recording), *dbs, *search]
            runs = []
            with ApiReplicas(command, [[tracking, auth]], ready_path="/health", ready_timeout=180) as (api,):
                with recording_proxy(api.target, recording, *dbs) as proxy:
                    drive(python, proxy.url)
                report_dir = workdir / "plain"
                runs.append(run_explore("plain explore", [*base, "--target", api.target, "--report", str(report_dir)],
                                        report_dir, workers=None, outside_cpu=lambda: 0.0, settle=settle))
            # The server has stopped: a template copy needs its source database to itself.
            for n in worker_counts:
                report_dir = workdir / f"workers-{n}"
                runs.append(run_explore(f"{n} worker{'s' if n > 1 else ''}",
                                        [*base, "--workers", str(n), "--api-cmd", command, "--api-ready", "/health",
                                         "--report", str(report_dir)],
                                        report_dir, workers=n, outside_cpu=lambda: 0.0, settle=settle))
    finally:
        server.stop()
    problems, _ = differences(runs, same_graph_required=True)
    return {"subject": "mlflow", "api": f"MLflow {MLFLOW_VERSION} tracking + basic-auth server, two PostgreSQL databases,"
            " driven by MLflow's own Python client", "search_options": search, "runs": runs,
            "speed_up": speed_ups(runs), "differences": problems}


def markdown(out: dict[str, Any]) -> str:
    s = out["subject"]
    lines = ["# Scale-out on a real server: MLflow", "",
             f"Measured {out['measured']} on {out['machine'].get('cpu_model', '?')}, `nproc` = {out['machine'].get('nproc')},"
             f" commit {str(out['code'].get('commit', '?'))[:7]}. {s['api']}. Search: `{' '.join(s['search_options'])}`."
             " CPU and cores busy count the explore process and the APIs it started (not the plain run's server,"
             " nor PostgreSQL).", "",
             "| run | states | transitions | findings | search s | search t/s | x vs plain | whole-run s | cores busy: run"
             " | busiest 5 s | transitions per worker |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    plain = s["runs"][0]
    for r in s["runs"]:
        ratio = round(r["search_tps"] / plain["search_tps"], 2) if r.get("search_tps") and plain.get("search_tps") else None
        per = " / ".join(str(w["transitions"]) for w in r.get("per_worker") or []) or "-"
        lines.append(f"| {r['label']} | {r['states']} | {r['transitions']} | {len(r['findings'])} |"
                     f" {r['search_seconds']} | {r['search_tps']} | {ratio} | {r['elapsed_seconds']} |"
                     f" {r.get('cpu_cores_busy')} | {r.get('peak_cores_busy')} | {per} |")
    lines += ["", "Differences from the plain run: " + ("; ".join(s["differences"]) if s["differences"] else "none"
                                                        " (same states, transitions and findings)."), "",
              "The plain run's findings (judged by hand in bench/results/precision.md, MLflow section):", ""]
    lines += [f"- `{signature}`" for signature in plain["findings"]]
    lines.append("")
    timed = [r for r in s["runs"] if r.get("phase_seconds")]
    if timed:
        lines += ["Where each run's time went (report.json `phase_seconds`; with workers the replay of the"
                  " recording is part of `start`):", ""]
        lines += [f"- {r['label']}: " + ", ".join(f"{k} {r['phase_seconds'][k]:.1f} s" for k in PHASES if k in r["phase_seconds"]) for r in timed]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="2,4", help="comma-separated worker counts (default 2,4)")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--settle", type=float, default=300.0, metavar="SECONDS",
                        help="before each run, wait at most this long for a quiet machine")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--markdown-only", action="store_true",
                        help="only rewrite scale_mlflow.md from --out-dir's scale_mlflow.json")
    args = parser.parse_args()
    if args.markdown_only:
        out = json.loads((args.out_dir / "scale_mlflow.json").read_text())
        (args.out_dir / "scale_mlflow.md").write_text(markdown(out))
        return
    import time

    subject = measure([int(n) for n in args.workers.split(",")], args.depth, args.settle)
    out = {"measured": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "code": code_version(), "subject": subject}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "scale_mlflow.json").write_text(json.dumps(out, indent=1) + "\n")
    (args.out_dir / "scale_mlflow.md").write_text(markdown(out))
    print(f"wrote {args.out_dir / 'scale_mlflow.json'} and {args.out_dir / 'scale_mlflow.md'}")
    for problem in subject["differences"]:
        print("  " + problem)
    sys.exit(1 if subject["differences"] else 0)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
