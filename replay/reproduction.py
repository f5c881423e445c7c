"""Reproducing one finding from report.json: replay it live, or emit it as pytest or curl.

``replay_finding`` runs the finding's sequence from the restored baseline with the same
instantiation as the explorer (templates re-learned from the recording), checks the last step with
the same checker set, restores the databases, and tells whether the finding's signature fired again.
The emitted pytest file calls it, so it keeps working when ids and tokens differ from run to run; the
curl script carries the bindings itself (each bound value read from an earlier reply with python3).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from contextlib import closing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.redact import MASK
from venom_replay.proxy.infer.instantiate import render_request
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Request, read_recording

from venom_replay.replay.checkers.base import StepResult, Violation
from venom_replay.replay.explorer.position import Position, StartContent
from venom_replay.replay.explorer.steps import StepRunner, replay_sequence
from venom_replay.replay.findings import Action
from venom_replay.replay.mutations.apply import apply_mutation
from venom_replay.replay.mutations.model import Mutation


@dataclass
class Reproduction:
    steps: list[StepResult]
    violations: list[Violation]
    signature: str
    db_restored: bool | None = None
    broke_off: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return any(v.signature == self.signature for v in self.violations)


def load_finding(report_path: str | Path, number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    path = Path(report_path)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VenomError(f"{path}: no such report (run `venom-replay explore ... --report DIR` first)") from None
    except (ValueError, UnicodeDecodeError):
        raise VenomError(f"{path}: not a venom-replay report.json") from None
    findings = report.get("findings") if isinstance(report, dict) else None
    if not isinstance(findings, list):
        raise VenomError(f"{path}: not a venom-replay report.json (no findings list)")
    if not findings:
        raise VenomError(f"{path}: the report has no findings to reproduce")
    if not 1 <= number <= len(findings):
        raise VenomError(f"{path}: finding {number} does not exist (the report has 1..{len(findings)})")
    return report, findings[number - 1]


def sequence_of(finding: dict[str, Any]) -> list[tuple]:
    """A report.json finding's steps as ``(template, example, recorded seq or None)``: a step of the
    recording is sent as recorded, its values translated, the way the explorer sent it. A mutated
    step has its mutation (``Mutation.as_dict()``) fourth."""
    out: list[tuple] = []
    for s in finding["sequence"]:
        step = (s["template"], int(s.get("example", 0)), s.get("recorded_seq"))
        out.append(step + (s["mutation"],) if s.get("mutation") else step)
    return out


def _action(step: tuple | list) -> Action:
    """A ``sequence_of`` entry (or a shorter one) as the explorer's Action."""
    seq = step[2] if len(step) > 2 else None
    mutation = Mutation.from_dict(step[3]) if len(step) > 3 and step[3] else None
    return Action(step[0], int(step[1]), recorded_prefix=seq is not None, seq=seq, mutation=mutation)


def actions_of(finding: dict[str, Any], tset: TemplateSet) -> list[Action]:
    actions = []
    for step in sequence_of(finding):
        if step[0] not in tset.templates:
            raise VenomError(f"template {step[0]!r} of this finding is not learned from the recording any more")
        actions.append(_action(step))
    return actions


def replay_finding(
    recording: str | Path,
    sequence: Sequence[tuple[str, int] | tuple[str, int, int | None]] | Sequence[str],
    signature: str,
    *,
    target: str,
    databases: Sequence[str] = (),
    learned: bool = True,
    on_step: Callable[[int, StepResult], None] | None = None,
    openapi: str | None = None,
) -> Reproduction:
    """Run ``sequence`` (template ids, (template id, example) pairs, or (template id, example,
    recorded seq[, mutation]) tuples: a seq replays that recorded exchange, translated; a mutation,
    as report.json writes it, changes that step's request) from the baseline."""
    from venom_replay.proxy.config import load_config
    from venom_replay.replay.http_client import HttpClient
    from venom_replay.replay.session import build_checkers, load_recording_once, open_databases, start_for

    # The same host as explore kept (the target's, in a recording of several hosts), and the same
    # OpenAPI document: a finding may run through a template that only the spec describes.
    loaded = load_recording_once(recording, load_config().with_host(None, target=target).with_openapi(openapi))
    tset = loaded.templates
    actions = [Action(s) if isinstance(s, str) else _action(s) for s in sequence]
    for a in actions:
        if a.template not in tset.templates:
            raise VenomError(f"template {a.template!r} is not learned from {recording}")
    checkers, _ = build_checkers(loaded, learned=learned)
    notes: list[str] = []
    start = start_for(loaded, databases, notes)  # the finding was explored from the recording's start state
    with open_databases(databases) as dbs, closing(HttpClient(target)) as client:
        runner = StepRunner(tset, client, checkers, databases=dbs.handles, recorded=loaded.exchanges)
        out = _replay_actions(runner, Position(dbs.adapter), actions, signature, on_step, start)
    out.warnings[:0] = notes
    return out


def _replay_actions(runner: StepRunner, position: Position, actions: Sequence[Action], signature: str,
                    on_step: Callable[[int, StepResult], None] | None, start: StartContent | None = None) -> Reproduction:
    """Install the rollback (importing the recording's start state, if given), run ``actions`` from the
    baseline checking every step (user invariants see the databases after each), then restore the
    baseline (and the user's own content) and remove the rollback again."""
    out = Reproduction([], [], signature)
    position.install(start)  # a failed install cleans up after itself: its error goes to the user as it is
    try:
        position.root("baseline")
        run = replay_sequence(runner, position, actions, check_every_step=True, on_step=on_step)
        out.steps, out.violations = run.steps, run.violations
        if run.broke_off is not None:
            out.broke_off = True
            out.warnings.append(run.broke_off)
    finally:
        try:
            out.db_restored = position.finish()
        finally:
            position.uninstall()
    return out


# ------------------------------------------------------------------ emitters


def emit_pytest(report: dict[str, Any], finding: dict[str, Any]) -> str:
    seq = [step if step[2] is not None or len(step) > 3 else step[:2] for step in sequence_of(finding)]
    steps = "\n".join(f"#   {i}. {s['method']} {s['path']} -> {s['status']}" + _mutation_line(s)
                      for i, s in enumerate(finding["sequence"], 1))
    dbs = [d for d in report.get("databases", []) if MASK not in d]
    return f'''"""venom-replay finding {finding["number"]}: {finding["message"].replace('"""', "'")}

Checker {finding["checker"]}, bucket {finding["signature"]}. Sequence found by the explorer:
{steps}

Run: pytest {{this file}}   (VENOM_TARGET / VENOM_DB override the API URL and the databases to restore,
VENOM_DB as a comma-separated list). The test fails while the bug is there.
"""

import os

from venom_replay.replay.reproduction import replay_finding

RECORDING = {str(report.get("recording", ""))!r}
TARGET = os.environ.get("VENOM_TARGET", {report.get("target", "")!r})
DATABASES = [u for u in os.environ.get("VENOM_DB", {",".join(dbs)!r}).split(",") if u]
SEQUENCE = {seq!r}
SIGNATURE = {finding["signature"]!r}


def test_finding_{finding["number"]}_{re.sub(r"[^0-9a-zA-Z]+", "_", finding["checker"]).strip("_")}():
    result = replay_finding(RECORDING, SEQUENCE, SIGNATURE, target=TARGET, databases=DATABASES)
    assert not result.broke_off, result.warnings
    if DATABASES:
        assert result.db_restored, "the databases were not restored after the reproduction"
    hits = [v.message for v in result.violations if v.signature == SIGNATURE]
    assert not hits, hits[0] if hits else ""
'''


_PLACEHOLDER = "__VENOM_{}__"


def emit_curl(report: dict[str, Any], finding: dict[str, Any], tset: TemplateSet) -> str:
    """A bash script: one curl per step, bound values read from earlier replies with python3."""
    target = report.get("target", "")
    lines = [
        "#!/usr/bin/env bash",
        f"# venom-replay finding {finding['number']}: {finding['message']}".replace("\n", " "),
        f"# checker {finding['checker']}, bucket {finding['signature']}. The database is NOT restored by this script.",
        "set -euo pipefail",
        f"TARGET=${{VENOM_TARGET:-{target}}}",
        'TMP=$(mktemp -d); trap \'rm -rf "$TMP"\' EXIT',
        "pick() { python3 - \"$@\" <<'PY'",
        "import json, re, sys",
        "kind, where, body, head, as_json = sys.argv[1:6]",
        "if kind == 'header':",
        "    lines = open(head, encoding='latin-1').read().splitlines()",
        "    v = next(l.split(':', 1)[1].strip() for l in reversed(lines) if l.lower().startswith(where.lower() + ':'))",
        "else:",
        "    v = json.load(open(body))",
        "    for part in re.findall(r\"\\.([A-Za-z_][A-Za-z0-9_]*)|\\[(\\d+|\\*)\\]\", where):",
        "        v = v[part[0]] if part[0] else v[0 if part[1] == '*' else int(part[1])]",
        "print(json.dumps(v) if as_json == 'json' else v)",
        "PY",
        "}",
        "",
    ]
    produced_at: dict[tuple[str, str], int] = {}
    recorded = _recorded_requests(tset, finding)
    for i, step in enumerate(finding["sequence"], 1):
        tpl = tset.templates[step["template"]]
        if step.get("recorded_seq") in recorded:  # a step of the recording: its recorded request
            tpl = dataclasses.replace(tpl, example_requests=[recorded[step["recorded_seq"]]])
        values: dict[tuple[str, str], Any] = {}
        for n, c in enumerate(tpl.consumes):
            src_step = produced_at.get((c.producer, c.source))
            if src_step is None or c.transform == "basic":  # a Basic identity is sent as recorded
                continue
            var = f"S{i}_{n}"
            kind, _, where = c.source.partition(":")
            lines.append(f'{var}=$(pick {kind} {shlex.quote(where)} "$TMP/{src_step}.body" "$TMP/{src_step}.head" plain)')
            lines.append(f'{var}J=$(pick {kind} {shlex.quote(where)} "$TMP/{src_step}.body" "$TMP/{src_step}.head" json)')
            values[(c.producer, c.source)] = _PLACEHOLDER.format(var)
        req = render_request(tpl, values, example=0 if step.get("recorded_seq") in recorded else int(step.get("example", 0)))
        if step.get("mutation"):
            mutation = Mutation.from_dict(step["mutation"])
            lines.append(f"# step {i} is sent with {mutation.describe()}")
            req = apply_mutation(req, tpl.path, mutation)
        url = _shell_with_vars(req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query) if req.query else ""))
        parts = [f"curl -sS -o \"$TMP/{i}.body\" -D \"$TMP/{i}.head\" -w '{i}. {tpl.method} {tpl.path} -> %{{http_code}}\\n'",
                 f"-X {req.method}", f"\"$TARGET\"{url}"]
        for k, v in req.headers:
            if k.lower() in ("host", "content-length", "accept-encoding", "connection", "x-venom-session"):
                continue
            parts.append("-H " + _shell_with_vars(f"{k}: {v}"))
        if req.body:
            body = req.body.decode("utf-8", "replace")
            body = re.sub(r'"(__VENOM_[A-Za-z0-9_]+__)"', lambda m: m.group(1).replace("__VENOM_", "__VENOMJ_"), body)
            parts.append("--data-binary " + _shell_with_vars(body))
        lines.append(" \\\n  ".join(parts))
        lines.append("")
        for p in tpl.produces:
            produced_at[(tpl.id, p.source)] = i
    lines.append(f'echo "last reply:"; cat "$TMP/{len(finding["sequence"])}.body"; echo')
    return "\n".join(lines) + "\n"


def _mutation_line(step: dict[str, Any]) -> str:
    """`` (MUTATION: body:$.id left out (drop))`` for a mutated step of report.json, else ""."""
    return f"  (MUTATION: {Mutation.from_dict(step['mutation']).describe()})" if step.get("mutation") else ""


def _recorded_requests(tset: TemplateSet, finding: dict[str, Any]) -> dict[int, Request]:
    """The recorded requests that a finding's steps of the recording replay, by sequence number."""
    wanted = {s["recorded_seq"] for s in finding["sequence"] if s.get("recorded_seq") is not None}
    if not wanted or not tset.source:
        return {}
    try:
        return {ex.seq: ex.request for ex in read_recording(tset.source).exchanges if ex.seq in wanted}
    except VenomError:
        return {}


def _shell_with_vars(text: str) -> str:
    """Quote ``text`` for bash, turning placeholders into variable references."""
    out = []
    for piece in re.split(r"(__VENOMJ?_[A-Za-z0-9_]+?__)", text):
        m = re.fullmatch(r"__VENOM(J?)_([A-Za-z0-9_]+?)__", piece)
        if m:
            out.append(f'"${{{m.group(2)}{m.group(1)}}}"')
        elif piece:
            out.append(shlex.quote(piece))
    return "".join(out) or "''"
