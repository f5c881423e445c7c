"""Learned oracles, measured: recall on planted relation bugs, precision on their correct twins.

    python bench/bench_learned.py [--depth 4] [--scale 20]

For each API in tests/apps/learned_apis.py (over-refund, quota exceeded, negative stock, deleted notes
still listed) and for its correct twin, each in its own process on its own SQLite database:
happy-path traffic is recorded through the real recording proxy, templates are inferred, invariants
learned, and `explore` runs with the learned checker alone (SQLite rollback between branches).

- recall: planted bugs found by a finding whose invariant is the bug's relation;
- precision on the buggy APIs: findings that are about the planted bug / all findings;
- precision on the twins: explored steps (confirmation replays excluded) without a false finding /
  explored steps; every twin finding is false, since the twins are correct.
The same on an API written by someone else: the bundled demo shop (replay/demo/shop/, four planted
bugs) and its fixed twin, with its own scripted traffic; there only the learned findings are counted
(the planted bugs it can see are the double refund and the deleted items still listed).
Also the cost of learning next to template inference on a larger recording (a ratio, one run).
Writes bench/results/learned.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from apps.learned_apis import APIS  # noqa: E402
from support.http_app import running_app  # noqa: E402
from support.proxy import recording_proxy  # noqa: E402

from venom_replay.adapters.registry import open_adapter  # noqa: E402
from venom_replay.proxy.infer.inference import infer_templates  # noqa: E402
from venom_replay.replay.checkers.base import StepContext, Violation  # noqa: E402
from venom_replay.replay.explorer import Limits, explore  # noqa: E402
from venom_replay.replay.demo.shop import PLANTED_BUGS, launch  # noqa: E402
from venom_replay.replay.demo.traffic import run_traffic  # noqa: E402
from venom_replay.replay.learned.learn import LearnedChecker, learn_invariants  # noqa: E402

# What a finding must be about to count as the planted bug (a substring of the invariant).
BUG_RELATION = {
    "orders": "refunded <=",
    "quota": "used <=",
    "stock": "stock >= 0",
    "notes": "ids deleted by DELETE",
}


class CountingChecker(LearnedChecker):
    """The learned checker, counting the explored steps it checked and those it flagged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.explored_steps = 0
        self.flagged_steps = 0

    def check(self, ctx: StepContext) -> list[Violation]:
        found = super().check(ctx)
        if not ctx.replays_recorded_path:
            self.explored_steps += 1
            self.flagged_steps += bool(found)
        return found


def run_one(name: str, buggy: bool, depth: int, tmp: Path) -> dict[str, Any]:
    factory, traffic = APIS[name]
    db = tmp / f"{name}-{int(buggy)}.db"
    out = tmp / f"{name}-{int(buggy)}.vrec"
    with running_app(factory, env={"LEARNED_DB": str(db), "LEARNED_BUGGY": "1" if buggy else "0"}) as app:
        with recording_proxy(app.url, out) as proxy:
            traffic(proxy.url)
        tset = infer_templates(out)
        started = time.perf_counter()
        invariants = learn_invariants(tset, out)
        learn_seconds = time.perf_counter() - started
        checker = CountingChecker(invariants, {})
        result = explore(tset, app.url, open_adapter(f"sqlite:///{db}"), checkers=[checker],
                         limits=Limits(depth=depth, max_transitions=2000))
    findings = [
        {"invariant": f.details.get("invariant"), "template": f.details.get("label"), "support": f.details.get("support"),
         "observed": f.details.get("observed"), "sequence": [str(a) for a in f.actions]}
        for f in result.findings if f.checker == "learned"
    ]
    return {
        "api": name,
        "variant": "buggy" if buggy else "twin",
        "exchanges_recorded": sum(len(s) for s in tset.sessions.values()),
        "templates": len(tset.templates),
        "learn_seconds": round(learn_seconds, 4),
        "states": result.states,
        **_explored(invariants, checker, result, findings),
    }


def run_shop(fixed: bool, depth: int, max_transitions: int, tmp: Path) -> dict[str, Any]:
    db = tmp / f"shop-{int(fixed)}.db"
    out = tmp / f"shop-{int(fixed)}.vrec"
    shop = launch(f"sqlite:///{db}", fixed=fixed)
    try:
        with recording_proxy(shop.url, out) as proxy:
            run_traffic(proxy.url)
        tset = infer_templates(out)
        invariants = learn_invariants(tset, out)
        checker = CountingChecker(invariants, {})
        result = explore(tset, shop.url, open_adapter(f"sqlite:///{db}"), checkers=[checker],
                         limits=Limits(depth=depth, max_transitions=max_transitions))
    finally:
        shop.stop()
    findings = []
    for f in result.findings:
        as_reported = {"checker": f.checker, "sequence": [{"method": s.request.method, "path": s.request.path} for s in f.steps]}
        bugs = [b.name for b in PLANTED_BUGS if b.caught_by(as_reported)]
        findings.append({"invariant": f.details.get("invariant"), "template": f.details.get("label"),
                         "sequence": [str(a) for a in f.actions], "planted_bug": bugs[0] if bugs else None})
    return {
        "api": "demo-shop",
        "variant": "twin" if fixed else "buggy",
        "templates": len(tset.templates),
        **_explored(invariants, checker, result, findings),
    }


def _explored(invariants: list, checker: CountingChecker, result: Any, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """What one exploration with the learned checker showed: invariants, steps checked and flagged,
    findings, and the invariants the replay of the recording dropped or left unconfirmed."""
    return {
        "invariants": len(invariants),
        "invariants_by_kind": _count(i.kind for i in invariants),
        "explored_steps": checker.explored_steps,
        "flagged_steps": checker.flagged_steps,
        "transitions": result.transitions,
        "stopped": result.stopped,
        "db_restored": result.db_restored,
        "findings": findings,
        "dropped": [{"expr": d.invariant.expr, "template": d.invariant.label, "reason": d.reason} for d in checker.dropped],
        "unconfirmed": [{"expr": u.invariant.expr, "template": u.invariant.label} for u in checker.unconfirmed],
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def learning_cost(scale: int, tmp: Path) -> dict[str, Any]:
    """Inference and learning time on one larger recording (the orders traffic, `scale` rounds)."""
    factory, traffic = APIS["orders"]
    out = tmp / "scale.vrec"
    with running_app(factory, env={"LEARNED_DB": str(tmp / "scale.db")}) as app:
        with recording_proxy(app.url, out) as proxy:
            for _ in range(scale):
                traffic(proxy.url)
    started = time.perf_counter()
    tset = infer_templates(out)
    infer_seconds = time.perf_counter() - started
    started = time.perf_counter()
    invariants = learn_invariants(tset, out)
    learn_seconds = time.perf_counter() - started
    exchanges = sum(len(s) for s in tset.sessions.values())
    return {
        "exchanges": exchanges,
        "invariants": len(invariants),
        "infer_seconds": round(infer_seconds, 3),
        "learn_seconds": round(learn_seconds, 3),
        "learn_to_infer_ratio": round(learn_seconds / infer_seconds, 3) if infer_seconds else None,
        "learn_exchanges_per_second": round(exchanges / learn_seconds) if learn_seconds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=4, help="exploration depth (the notes bug needs 4 steps)")
    parser.add_argument("--scale", type=int, default=20, help="rounds of orders traffic for the learning-cost measure")
    parser.add_argument("--shop-depth", type=int, default=5, help="exploration depth on the demo shop (its bugs need a login first)")
    parser.add_argument("--shop-transitions", type=int, default=3000, help="transition budget per demo shop run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "learned.json")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-learned-") as tmpdir:
        tmp = Path(tmpdir)
        for name in APIS:
            for buggy in (True, False):
                run = run_one(name, buggy, args.depth, tmp)
                runs.append(run)
                print(f"{name:7} {run['variant']:5}: {run['invariants']:3} invariants, {run['explored_steps']:4} explored steps, "
                      f"{len(run['findings'])} findings, {len(run['dropped'])} dropped", flush=True)
        shop = [run_shop(fixed, args.shop_depth, args.shop_transitions, tmp) for fixed in (False, True)]
        for run in shop:
            print(f"shop    {run['variant']:5}: {run['invariants']:3} invariants, {run['explored_steps']:4} explored steps, "
                  f"{len(run['findings'])} findings, {len(run['dropped'])} dropped", flush=True)
        cost = learning_cost(args.scale, tmp)

    buggy = [r for r in runs if r["variant"] == "buggy"]
    twins = [r for r in runs if r["variant"] == "twin"]
    found = {r["api"]: any(BUG_RELATION[r["api"]] in (f["invariant"] or "") for f in r["findings"]) for r in buggy}
    true_findings = sum(1 for r in buggy for f in r["findings"] if BUG_RELATION[r["api"]] in (f["invariant"] or ""))
    all_buggy_findings = sum(len(r["findings"]) for r in buggy)
    twin_steps = sum(r["explored_steps"] for r in twins)
    twin_flagged = sum(r["flagged_steps"] for r in twins)
    summary = {
        "depth": args.depth,
        "bugs_planted": len(buggy),
        "bugs_found": sum(found.values()),
        "recall": round(sum(found.values()) / len(buggy), 4),
        "found_by_api": found,
        "buggy_findings": all_buggy_findings,
        "buggy_findings_about_the_bug": true_findings,
        "precision_on_buggy_findings": round(true_findings / all_buggy_findings, 4) if all_buggy_findings else None,
        "twin_explored_steps": twin_steps,
        "twin_false_findings": sum(len(r["findings"]) for r in twins),
        "twin_steps_with_false_finding": twin_flagged,
        "precision_on_twin_steps": round(1 - twin_flagged / twin_steps, 4) if twin_steps else None,
        "invariants_dropped_on_recorded_paths": sum(len(r["dropped"]) for r in runs),
        "demo_shop": {
            "depth": args.shop_depth,
            "buggy_learned_findings": len(shop[0]["findings"]),
            "buggy_learned_findings_matching_a_planted_bug": sum(1 for f in shop[0]["findings"] if f["planted_bug"]),
            "planted_bugs_caught_by_learned": sorted({f["planted_bug"] for f in shop[0]["findings"] if f["planted_bug"]}),
            "twin_explored_steps": shop[1]["explored_steps"],
            "twin_false_findings": len(shop[1]["findings"]),
            "precision_on_twin_steps": round(1 - shop[1]["flagged_steps"] / shop[1]["explored_steps"], 4) if shop[1]["explored_steps"] else None,
            "dropped": len(shop[0]["dropped"]) + len(shop[1]["dropped"]),
        },
        "learning_cost": cost,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "runs": runs + shop}, indent=2, default=str) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
