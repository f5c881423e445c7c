"""Precision of the checkers on real servers: every finding of a depth-3 exploration, per checker,
and what the value mutations cost and found.

    python bench/bench_precision.py [--depth 3] [--only kinto,kinto-permissions,mlflow,demo,demo-twin,blog,blog-twin]
                                    [--mlflow-time-limit 900]

Each subject is a real server in its own process, driven by its official client (or the bundled demo's
scripted traffic) through the real recording proxy with ``--db`` (so the recording keeps its start
state), then explored with the real CLI, with rollback, at ``--depth`` until the search is complete
(MLflow: until ``--mlflow-time-limit``, since its depth-3 search is far larger than a bench run).

- kinto: Kinto on PostgreSQL, kinto-http's bucket/collection/record session (tests/support/kinto_traffic.py);
- kinto-permissions: Kinto with its accounts plugin, an e2e permission session (groups, grants, account
  deletion; tests/support/kinto_permissions_traffic.py): its findings are Kinto's documented behaviour
  that a tester of an app built on Kinto must see;
- mlflow: MLflow's tracking and auth servers on two PostgreSQL databases, MLflow's own clients;
- demo / demo-twin: the bundled shop with its four planted bugs, and its correct twin;
- blog / blog-twin: tests/apps/blog_api.py, five planted bugs that value mutations reach, and its twin.

Mutations run as by default (after the search); each subject's ``mutations`` row gives the mutated
calls sent, their answers, the findings per mutation kind and the phase's share of the explore time.

Writes bench/results/precision.json: per subject the exploration's totals and every finding (checker,
signature, message, steps); bench/results/precision.md holds the judgement of each finding by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.db_servers import PostgresServer  # noqa: E402
from support.proxy import recording_proxy  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CLI = [sys.executable, "-m", "venom_replay.replay.cli"]


@contextmanager
def _kinto(postgres: PostgresServer, workdir: Path, *, accounts: bool) -> Iterator[tuple[str, list[str], Callable[[str], Any]]]:
    from support.fixtures_kinto import running_kinto

    with running_kinto(postgres, workdir, accounts=accounts) as server:
        if accounts:
            from support.kinto_permissions_traffic import drive_kinto_permissions as drive
        else:
            from support.kinto_traffic import drive_kinto_sdk as drive
        yield server.url, [server.db_url], drive


@contextmanager
def _mlflow(postgres: PostgresServer, workdir: Path) -> Iterator[tuple[str, list[str], Callable[[str], Any]]]:
    from support.mlflow_harness import running_mlflow

    with running_mlflow(postgres, workdir) as server:
        def drive(url: str) -> None:
            done = server.run_client(url)
            if done.returncode != 0:
                raise RuntimeError(f"the MLflow client session failed: {done.stderr[-2000:]}")

        yield server.url, [server.tracking_db_url, server.auth_db_url], drive


@contextmanager
def _blog(workdir: Path, *, planted: bool) -> Iterator[tuple[str, list[str], Callable[[str], Any]]]:
    from support.blog_traffic import drive_blog
    from support.http_app import running_app

    db_url = f"sqlite:///{workdir / 'blog.db'}"
    with running_app("apps.blog_api:create_app", env={"BLOG_DB": db_url, "BLOG_BUGS": "1" if planted else "0"}) as api:
        yield api.url, [db_url], drive_blog


@contextmanager
def _demo(workdir: Path, *, fixed: bool) -> Iterator[tuple[str, list[str], Callable[[str], Any]]]:
    from venom_replay.replay.demo.shop import launch
    from venom_replay.replay.demo.traffic import run_traffic

    db_url = f"sqlite:///{workdir / 'shop.db'}"
    shop = launch(db_url, fixed=fixed)
    try:
        yield shop.url, [db_url], run_traffic
    finally:
        shop.stop()


def run_subject(name: str, postgres: PostgresServer, depth: int, time_limit: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"venom-precision-{name}-") as tmp:
        workdir = Path(tmp)
        if name.startswith("kinto"):
            subject = _kinto(postgres, workdir, accounts=name == "kinto-permissions")
        elif name == "mlflow":
            subject = _mlflow(postgres, workdir)
        elif name.startswith("blog"):
            subject = _blog(workdir, planted=name == "blog")
        else:
            subject = _demo(workdir, fixed=name == "demo-twin")
        with subject as (url, db_urls, drive):
            recording = workdir / f"{name}.vrec"
            db_args = [arg for db in db_urls for arg in ("--db", db)]
            with recording_proxy(url, recording, *db_args) as proxy:
                drive(proxy.url)
            report_dir = workdir / "report"
            cmd = [*CLI, "explore", str(recording), "--target", url, *db_args, "--report", str(report_dir),
                   "--depth", str(depth)]
            if time_limit:
                cmd += ["--time-limit", str(time_limit)]
            started = time.monotonic()
            done = subprocess.run(cmd, check=False, capture_output=True, text=True)
            elapsed = time.monotonic() - started
            if done.returncode not in (0, 1):
                raise RuntimeError(f"{name}: explore exited {done.returncode}: {done.stderr[-3000:]}")
            report = json.loads((report_dir / "report.json").read_text())
    findings = [{"checker": f["checker"], "signature": f["signature"], "message": f["message"], "count": f["count"],
                 "mutation": (f["sequence"][-1].get("mutation") if f["sequence"] else None),
                 "steps": len(f["sequence"]),
                 "sequence": [f"{'(recorded) ' if s.get('recorded_prefix') else ''}{s['method']} {s['path']} -> {s['status']}"
                              for s in f["sequence"]]} for f in report["findings"]]
    agreement = report.get("replay_agreement") or {}
    return {
        "subject": name,
        "depth": depth,
        "stopped": report.get("stopped"),
        "seconds": round(elapsed, 1),
        "transitions": report.get("transitions"),
        "states": report.get("states"),
        "recorded_steps": agreement.get("steps"),
        "recorded_steps_same_status_class": agreement.get("same_status_class"),
        "db_restored": report.get("db_restored"),
        "findings_by_checker": dict(Counter(f["checker"] for f in findings)),
        "mutations": {**(report.get("mutations") or {}),
                      "share_of_explore_time": round((report.get("mutations") or {}).get("seconds", 0)
                                                     / report["elapsed_seconds"], 3) if report.get("elapsed_seconds") else None},
        "findings": findings,
    }


SUBJECTS = ("kinto", "kinto-permissions", "mlflow", "demo", "demo-twin", "blog", "blog-twin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--only", default=",".join(SUBJECTS), help="comma-separated subjects")
    parser.add_argument("--mlflow-time-limit", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "precision.json")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SUBJECTS))
    if unknown:
        parser.error(f"unknown subject(s) {', '.join(unknown)}; choose from {', '.join(SUBJECTS)}")
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = {row["subject"]: row for row in previous.get("subjects", [])}
    postgres = PostgresServer().start()
    try:
        for name in chosen:
            print(f"-- {name}", flush=True)
            row = run_subject(name, postgres, args.depth, args.mlflow_time_limit if name == "mlflow" else None)
            print(json.dumps({k: v for k, v in row.items() if k != "findings"}), flush=True)
            for f in row["findings"]:
                print(f"   [{f['checker']}] ({f['steps']} steps) {f['message']}", flush=True)
            rows[name] = row
            args.out.parent.mkdir(parents=True, exist_ok=True)
            ordered = [rows[s] for s in SUBJECTS if s in rows]
            args.out.write_text(json.dumps({"subjects": ordered}, indent=2) + "\n")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
