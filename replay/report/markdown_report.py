"""summary.md: a short Markdown summary for pull requests and chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from venom_replay.replay.report.json_report import agreement_line


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_summary(report: dict[str, Any]) -> str:
    findings = report["findings"]
    lines = [
        "# venom-replay explore",
        "",
        f"Target `{report['target']}`, recording `{report.get('recording') or '-'}`, strategy {report['strategy']}, depth {report['depth']}.",
        "",
        "| states | transitions | findings | db restored | stopped | time |",
        "|---:|---:|---:|:---:|:---|---:|",
        f"| {report['states']} | {report['transitions']} | {len(findings)} | {report['db_restored']} | {report['stopped']} | {report.get('elapsed_seconds', 0)} s |",
        "",
    ]
    agreement = agreement_line(report.get("replay_agreement"))
    if agreement:
        lines += [agreement[0].upper() + agreement[1:] + ".", ""]
        mismatches = report["replay_agreement"].get("first_mismatches") or []
        if mismatches:
            lines += ["| recorded step | session | call | recorded | live |", "|---:|:---|:---|---:|---:|"]
            lines += [f"| {m['seq']} | {_cell(m['session'])} | `{_cell(m['method'])} {_cell(m['path'])}` | "
                      f"{m['recorded_status']} | {m['live_status'] if m['live_status'] is not None else _cell(m.get('error', '-'))} |"
                      for m in mismatches]
            lines.append("")
    if findings:
        lines += ["## Findings", ""]
        for f in findings:
            lines.append(f"### {f['number']}. {_cell(f['checker'])}: {_cell(f['message'])}")
            lines.append("")
            lines.append(f"Bucket `{f['signature']}`, seen {f['count']} time(s). Minimal sequence:")
            lines.append("")
            for i, s in enumerate(f["sequence"], 1):
                mark = " *(recorded prefix)*" if s.get("recorded_prefix") else ""
                lines.append(f"{i}. `{s['method']} {s['path']}` → {s['status']}{mark}")
            lines.append("")
            lines += [f"Note: {_cell(n)}." for n in f.get("notes", [])]
            lines.append(f"Reproduce: `venom-replay reproduce report.json {f['number']}`")
            lines.append("")
    else:
        lines += ["No findings.", ""]
    if report.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {_cell(w)}" for w in report["warnings"]] + [""]
    dropped = report.get("dropped_invariants") or []
    if dropped:
        lines += [f"{len(dropped)} learned invariant(s) dropped because the recorded sessions break them.", ""]
    return "\n".join(lines)


def write_markdown(report: dict[str, Any], directory: Path) -> Path:
    path = Path(directory) / "summary.md"
    path.write_text(markdown_summary(report), encoding="utf-8")
    return path
