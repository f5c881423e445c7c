"""report.json: the machine-readable result of one exploration run (secrets redacted).

Top level: ``states``, ``transitions``, ``db_restored``, ``findings``, ``warnings``,
``dropped_invariants``, ``replay_agreement`` (``steps``: recorded steps replayed, ``same_status_class``:
how many answered with the recorded status class, ``recorded``: how many there are,
``first_mismatches``: the first that did not, with recorded and live status) and run facts (target,
strategy, limits, timing, ``time_cut``: phases the time limit cut short), ``invariant_errors`` (user
invariants that could not run), and ``exit_code`` with ``problems`` (outcome.py: 3 when the databases
were not restored, 2 when the target did not behave like the recording, stopped answering or an
invariant could not run, 1 findings, 0 none). ``replay_agreement`` also holds ``min_agreement``,
``like_recording`` and ``unanswered`` (the replay stopped on a target that did not answer). Each finding has
``checker``, ``message``, ``signature`` (= ``bucket``), ``count``, ``sequence`` (steps with
``template``, ``method``, ``path``, ``status``, ``example``, and for a step of the recording
``recorded_prefix`` and ``recorded_seq``, the recorded exchange it replays), ``notes`` and
``exchanges`` (each step's request and response with credentials masked). ``venom-replay reproduce``
reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.redact import mask_url_password, redact_request, redact_response

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.explorer import ExploreResult
from venom_replay.replay.findings import Finding
from venom_replay.replay.learned.model import jsonable
from venom_replay.replay.report.outcome import outcome

REPORT_VERSION = 1
BODY_CHARS = 4000


def _body_text(body: bytes) -> str:
    text = body[:BODY_CHARS].decode("utf-8", "replace")
    return text + (f"... ({len(body)} bytes)" if len(body) > BODY_CHARS else "")


def request_dict(req: Request) -> dict[str, Any]:
    r = redact_request(req)
    return {"method": r.method, "url": r.url, "path": r.path, "query": [list(p) for p in r.query],
            "headers": [list(p) for p in r.headers], "body": _body_text(r.body)}


def response_dict(resp: Response | None) -> dict[str, Any] | None:
    if resp is None:
        return None
    r = redact_response(resp)
    return {"status": r.status, "reason": r.reason, "headers": [list(p) for p in r.headers], "body": _body_text(r.body)}


def agreement_line(agreement: dict[str, Any] | None) -> str | None:
    """``recorded steps replayed with the recorded status class: 89 of 91 (97.8%)`` (None: no replay)."""
    if not agreement:
        return None
    steps, same = agreement["steps"], agreement["same_status_class"]
    share = f" ({100 * same / steps:.1f}%)" if steps else ""
    missing = agreement.get("recorded", steps) - steps
    cut = f"; {missing} more not replayed" if missing > 0 else ""
    return f"recorded steps replayed with the recorded status class: {same} of {steps}{share}{cut}"


def step_summary(step: StepResult, example: int = 0, *, recorded_prefix: bool = False,
                 recorded_seq: int | None = None) -> dict[str, Any]:
    return {
        "template": step.template.id,
        "method": step.request.method,
        "path": step.request.path,
        "status": step.response.status if step.response is not None else None,
        "example": example,
        **({"error": step.error} if step.error else {}),
        # A recorded session's step that set up the state the search started from (not explored).
        **({"recorded_prefix": True} if recorded_prefix else {}),
        # The recorded exchange a step of the recording replays (``reproduce`` sends it the same way).
        **({"recorded_seq": recorded_seq} if recorded_seq is not None else {}),
        # The value mutation the request carried (``reproduce`` applies it again).
        **({"mutation": step.mutation.as_dict()} if step.mutation is not None else {}),
    }


def finding_dict(f: Finding, number: int) -> dict[str, Any]:
    return {
        "number": number,
        "checker": f.checker,
        "message": f.message,
        "signature": f.signature,
        "bucket": f.signature,
        "count": f.count,
        "minimized": f.minimized,
        "original_length": f.original_length,
        "sequence": [step_summary(s, a.example, recorded_prefix=a.recorded_prefix, recorded_seq=a.seq)
                     for s, a in zip(f.steps, f.actions)],
        "notes": list(f.notes),
        "exchanges": [{"request": request_dict(s.request), "response": response_dict(s.response)} for s in f.steps],
        "details": jsonable(f.details),
    }


def result_dict(result: ExploreResult) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "tool": "venom-replay explore",
        "recording": result.recording,
        **({"openapi": result.openapi} if result.openapi else {}),
        "target": result.target,
        "databases": [mask_url_password(u) for u in result.databases],
        "strategy": result.strategy,
        "depth": result.depth,
        "stopped": result.stopped,
        "elapsed_seconds": round(result.elapsed, 3),
        "transitions_per_second": round(result.transitions / result.elapsed, 1) if result.elapsed > 0 else None,
        "states": result.states,
        "transitions": result.transitions,
        "confirmed_steps": result.confirmed_steps,
        "replay_agreement": result.replay_agreement,
        "time_cut": list(result.time_cut),
        "mutations": result.mutations,
        "prefix_roots": result.prefix_roots,
        **({"workers": [{**w, "databases": [mask_url_password(u) for u in w.get("databases", [])]} for w in result.workers]}
           if result.workers else {}),
        "search_seconds": round(result.search_seconds, 3),
        "phase_seconds": dict(result.phase_seconds),
        "minimize_runs": result.minimize_runs,
        "db_restored": result.db_restored,
        "checkers": result.checkers,
        "findings": [finding_dict(f, i) for i, f in enumerate(result.findings, 1)],
        "warnings": list(result.warnings),
        "suppressed": dict(result.suppressed),
        "dropped_invariants": jsonable(result.dropped_invariants),
        "invariant_errors": list(result.invariant_errors),
    }


def write_json(report: dict[str, Any], directory: Path) -> Path:
    path = Path(directory) / "report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_reports(result: ExploreResult, directory: Path) -> dict[str, Any]:
    """report.json, junit.xml, summary.md and report.html into ``directory``; returns the report."""
    from venom_replay.replay.report.html_report import write_html
    from venom_replay.replay.report.junit_report import write_junit
    from venom_replay.replay.report.markdown_report import write_markdown

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = result_dict(result)
    verdict = outcome(report)
    report["exit_code"], report["problems"] = verdict.code, list(verdict.problems)
    write_json(report, directory)
    write_junit(report, directory)
    write_markdown(report, directory)
    write_html(report, result.graph.graph, directory)
    return report
