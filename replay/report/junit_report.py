"""JUnit XML for CI: one test case per finding bucket (a failure), plus one for the run itself.

CI systems show each bucket as a failed test named after its signature, with the minimal sequence as
the failure text; a run with no findings is one passing test case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def sequence_text(finding: dict[str, Any]) -> str:
    lines = [f"{i}. {s['method']} {s['path']} -> {s['status'] if s['status'] is not None else s.get('error', 'error')}"
             for i, s in enumerate(finding["sequence"], 1)]
    return "\n".join(lines)


def junit_xml(report: dict[str, Any]) -> str:
    findings = report["findings"]
    suite = ET.Element("testsuite", {
        "name": "venom-replay explore",
        "tests": str(len(findings) + 1),
        "failures": str(len(findings)),
        "errors": "0" if report.get("db_restored") is not False else "1",
        "time": str(report.get("elapsed_seconds", 0)),
    })
    run = ET.SubElement(suite, "testcase", {"classname": "venom-replay", "name": "exploration run",
                                            "time": str(report.get("elapsed_seconds", 0))})
    if report.get("db_restored") is False:
        ET.SubElement(run, "error", {"message": "the databases were not restored to their pre-run content"})
    out = ET.SubElement(run, "system-out")
    out.text = (f"{report['states']} states, {report['transitions']} transitions, stopped: {report.get('stopped')}, "
                f"db_restored: {report.get('db_restored')}\n" + "\n".join(f"warning: {w}" for w in report.get("warnings", [])))
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
