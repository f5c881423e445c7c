"""JUnit XML for CI: one test case per finding bucket (a failure), plus the run's own checks.

CI systems show each bucket as a failed test named after its signature, with the minimal sequence as
the failure text. The run itself is three test cases that pass on a sound run: "exploration run"
(an error when the run could not say anything about the API: see outcome.py), "databases restored"
(a failure when the databases' content differs from before the run) and "target behaves like the
recording" (a failure when too few recorded steps replayed with their recorded status class). The
suite's properties carry ``db_restored``, the replay agreement and the exit code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from venom_replay.replay.report.json_report import agreement_line
from venom_replay.replay.report.outcome import outcome


def sequence_text(finding: dict[str, Any]) -> str:
    lines = [f"{i}. {s['method']} {s['path']} -> {s['status'] if s['status'] is not None else s.get('error', 'error')}"
             for i, s in enumerate(finding["sequence"], 1)]
    return "\n".join(lines)


def junit_xml(report: dict[str, Any]) -> str:
    findings = report["findings"]
    verdict = outcome(report)
    restored = report.get("db_restored")
    agreement = report.get("replay_agreement") or {}
    unlike = verdict.unlike_recording is not None
    run_problems = verdict.run_errors
    suite = ET.Element("testsuite", {
        "name": "venom-replay explore",
        "tests": str(len(findings) + 3),
        "failures": str(len(findings) + (restored is False) + unlike),
        "errors": "1" if run_problems else "0",
        "time": str(report.get("elapsed_seconds", 0)),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("db_restored", restored), ("exit_code", verdict.code),
                        ("replay_agreement", agreement_line(agreement or None) or "not replayed")):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})

    run = ET.SubElement(suite, "testcase", {"classname": "venom-replay", "name": "exploration run",
                                            "time": str(report.get("elapsed_seconds", 0))})
    if run_problems:
        ET.SubElement(run, "error", {"message": run_problems[0]}).text = "\n".join(run_problems)
    out = ET.SubElement(run, "system-out")
    out.text = (f"{report['states']} states, {report['transitions']} transitions, stopped: {report.get('stopped')}, "
                f"db_restored: {restored}\n" + "\n".join(f"warning: {w}" for w in report.get("warnings", [])))

    db_case = ET.SubElement(suite, "testcase", {"classname": "venom-replay", "name": "databases restored"})
    if restored is False:
        ET.SubElement(db_case, "failure", {"message": verdict.not_restored or "", "type": "db_restored"})
    elif restored is None:
        ET.SubElement(db_case, "skipped", {"message": "no database given"})

    target_case = ET.SubElement(suite, "testcase", {"classname": "venom-replay", "name": "target behaves like the recording"})
    if unlike:
        ET.SubElement(target_case, "failure", {"message": verdict.unlike_recording or "", "type": "replay_agreement"})
    elif not agreement:
        ET.SubElement(target_case, "skipped", {"message": "the recording was not replayed"})

    for f in findings:
        case = ET.SubElement(suite, "testcase", {"classname": f"venom-replay.{f['checker']}", "name": f["signature"]})
        failure = ET.SubElement(case, "failure", {"message": f["message"], "type": f["checker"]})
        failure.text = f"{f['message']}\nseen {f['count']} time(s); minimal sequence:\n{sequence_text(f)}"
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(report: dict[str, Any], directory: Path) -> Path:
    path = Path(directory) / "junit.xml"
    path.write_text(junit_xml(report), encoding="utf-8")
    return path
