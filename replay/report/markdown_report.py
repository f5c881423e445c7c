"""summary.md: a short Markdown summary for pull requests and chat.

Paths, messages, session names and errors come from the target and the user's invariants: each is
written as text (``md_text``) or as a code span (``md_code``), so that no value can end a table cell,
start a heading or list, open a link or image, or reach a renderer as HTML (``<script>``, ``<img
onerror>``). Lines the tool writes itself (counts, the agreement line) are written as they are.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from venom_replay.replay.report.json_report import agreement_line
from venom_replay.replay.report.outcome import outcome

_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]()!|~#])")
"""Characters that start emphasis, code, links, images, tables, strikethrough or headings; a backslash
before any ASCII punctuation makes CommonMark print it as it is."""
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c]+")


def _one_line(value: Any) -> str:
    return _LINE_BREAKS.sub(" ", str(value))


def md_text(value: Any) -> str:
    """``value`` as literal Markdown text on one line: HTML special characters as entities (a renderer
    prints them, never parses them), Markdown punctuation backslash-escaped (``|`` included, so it is
    safe in a table cell)."""
    return _MD_PUNCTUATION.sub(r"\\\1", html.escape(_one_line(value), quote=False))


def md_code(value: Any, *, in_table: bool = False) -> str:
    """``value`` as a code span on one line: fenced by more backticks than it holds in a row, so a
    backtick inside cannot close it. Inside a code span nothing is parsed (no HTML, no links); only a
    table's ``|`` needs its escape, which GFM removes before the span is read."""
    text = _one_line(value)
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _call(step: dict[str, Any]) -> str:
    return f"{step['method']} {step['path']}"


def _status(value: Any) -> str:
    return str(value) if isinstance(value, int) else md_text(value if value is not None else "-")


def phases_line(phase_seconds: dict[str, float] | None) -> str:
    """``start 0.4 s, replay 3.1 s, search 12.0 s, ...`` (empty when there are none)."""
    return ", ".join(f"{md_text(p)} {s:.1f} s" for p, s in (phase_seconds or {}).items())


def markdown_summary(report: dict[str, Any]) -> str:
    findings = report["findings"]
    verdict = outcome(report)
    lines = [
        "# venom-replay explore",
        "",
        (f"Target {md_code(report['target'])}, recording {md_code(report.get('recording') or '-')}, "
         f"strategy {md_text(report['strategy'])}, depth {report['depth']}."),
        "",
        "| states | transitions | findings | db restored | stopped | time |",
        "|---:|---:|---:|:---:|:---|---:|",
        (f"| {report['states']} | {report['transitions']} | {len(findings)} | {_restored(report['db_restored'])} | "
         f"{md_text(report['stopped'])} | {report.get('elapsed_seconds', 0)} s |"),
        "",
    ]
    phases = phases_line(report.get("phase_seconds"))
    if phases:
        lines += [f"Time by phase: {phases}.", ""]
    if verdict.problems:
        lines += [f"**Exit code {verdict.code}.**", ""] + [f"- **{md_text(p)}**" for p in verdict.problems] + [""]
    agreement = agreement_line(report.get("replay_agreement"))
    if agreement:
        lines += [agreement[0].upper() + agreement[1:] + ".", ""]
        mismatches = report["replay_agreement"].get("first_mismatches") or []
        if mismatches:
            lines += ["| recorded step | session | call | recorded | live |", "|---:|:---|:---|---:|---:|"]
            lines += [f"| {m['seq']} | {md_text(m['session'])} | {md_code(_call(m), in_table=True)} | "
                      f"{_status(m['recorded_status'])} | "
                      f"{_status(m['live_status'] if m['live_status'] is not None else m.get('error', '-'))} |"
                      for m in mismatches]
            lines.append("")
    if findings:
        lines += ["## Findings", ""]
        for f in findings:
            lines.append(f"### {f['number']}. {md_text(f['checker'])}: {md_text(f['message'])}")
            lines.append("")
            lines.append(f"Bucket {md_code(f['signature'])}, seen {f['count']} time(s). Minimal sequence:")
            lines.append("")
            for i, s in enumerate(f["sequence"], 1):
                mark = " *(recorded prefix)*" if s.get("recorded_prefix") else ""
                status = s["status"] if s["status"] is not None else s.get("error", "no answer")
                lines.append(f"{i}. {md_code(_call(s))} → {_status(status)}{mark}")
            lines.append("")
            lines += [f"Note: {md_text(n)}." for n in f.get("notes", [])]
            lines.append(f"Reproduce: `venom-replay reproduce report.json {f['number']}`")
            lines.append("")
    else:
        lines += ["No findings.", ""]
    if report.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {md_text(w)}" for w in report["warnings"]] + [""]
    dropped = report.get("dropped_invariants") or []
    if dropped:
        lines += [f"{len(dropped)} learned invariant(s) dropped because the recorded sessions break them.", ""]
    return "\n".join(lines)


def _restored(value: bool | None) -> str:
    return {True: "yes", False: "**NO**", None: "no database"}[value]


def write_markdown(report: dict[str, Any], directory: Path) -> Path:
    path = Path(directory) / "summary.md"
    path.write_text(markdown_summary(report), encoding="utf-8")
    return path
