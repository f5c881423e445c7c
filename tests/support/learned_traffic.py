"""Synthetic recorded traffic for the learned-oracle tests (pure logic: in-memory recordings, no servers).

``Traffic`` builds a recording and the matching TemplateSet by hand, the way inference would group it;
``run_path`` feeds a path to a checker the way the explorer does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from venom_replay.proxy.recording import Exchange, Header, Recording, Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, Step, TemplateSet
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.learned.learn import LearnConfig, LearnedChecker, learn_invariants
from venom_replay.replay.learned.model import path_params


class Traffic:
    """Recorded exchanges for a handful of templates, e.g. ``t.call("s1", "POST /orders", 201, body)``."""

    def __init__(self, *patterns: str, volatile: dict[str, list[str]] | None = None) -> None:
        self.templates: dict[str, ActionTemplate] = {}
        for label in patterns:
            method, path = label.split(" ", 1)
            self.templates[label] = ActionTemplate(
                id=label, method=method, path=path, host="api.test", port=80,
                volatile=list((volatile or {}).get(label, [])),
                effect="read" if method == "GET" else "delete" if method == "DELETE" else "create" if method == "POST" else "update",
            )
        self.exchanges: list[Exchange] = []
        self.sessions: dict[str, list[Step]] = {}

    def _template_for(self, method: str, path: str) -> ActionTemplate:
        for t in self.templates.values():
            if t.method == method and (t.path == path or path_params(t.path, path)):
                return t
        raise KeyError(f"{method} {path}")

    def call(self, session: str, line: str, status: int, body: Any = None, sent: Any = None, headers: Sequence[tuple[str, str]] = ()) -> Exchange:
        method, path = line.split(" ", 1)
        template = self._template_for(method, path)
        seq = len(self.exchanges) + 1
        req_body = b"" if sent is None else json.dumps(sent).encode()
        resp_body = b"" if body is None else json.dumps(body).encode()
        ex = Exchange(
            seq=seq, session=session, started=float(seq), ended=seq + 0.5,
            request=Request(method, "http", "api.test", 80, path, headers=[("Content-Type", "application/json")], body=req_body),
            response=Response(status, headers=[("Content-Type", "application/json"), *headers], body=resp_body),
        )
        self.exchanges.append(ex)
        template.exchange_seqs.append(seq)
        template.count += 1
        template.statuses[status] = template.statuses.get(status, 0) + 1
        self.sessions.setdefault(session, []).append(Step(template.id, seq))
        return ex

    def build(self) -> tuple[TemplateSet, Recording]:
        header = Header(format="venom-replay-recording", version=1, created=0.0)
        rec = Recording(path=Path("synthetic.vrec"), header=header, exchanges=self.exchanges, notes=[],
                        complete_records=len(self.exchanges) + 1, torn_tail=False, torn_offset=None, file_size=0)
        return TemplateSet(templates=self.templates, sessions=self.sessions, source="synthetic.vrec"), rec

    def write(self, path: Path) -> TemplateSet:
        """Write the recording to ``path`` (as the proxy would) and point the templates at it."""
        from venom_replay.proxy.recording import RecordingWriter

        with RecordingWriter(path) as writer:
            for ex in self.exchanges:
                writer.write_exchange(ex)
        tset, _ = self.build()
        tset.source = str(path)
        return tset

    def learn(self, **cfg: Any):
        tset, rec = self.build()
        return learn_invariants(tset, rec, LearnConfig(**cfg))

    def checker(self, config: Any = None) -> tuple[TemplateSet, LearnedChecker]:
        """The templates, and a checker holding every invariant learned from this traffic."""
        tset, _ = self.build()
        return tset, LearnedChecker(self.learn(), config if config is not None else {})

    def step(self, line: str, status: int, body: Any = None, sent: Any = None) -> StepResult:
        method, path = line.split(" ", 1)
        req_body = b"" if sent is None else json.dumps(sent).encode()
        return StepResult(
            template=self._template_for(method, path),
            request=Request(method, "http", "api.test", 80, path, headers=[("Content-Type", "application/json")], body=req_body),
            response=Response(status, headers=[("Content-Type", "application/json")], body=json.dumps(body).encode() if body is not None else b""),
        )


def run_path(checker: LearnedChecker, steps: list[StepResult], tset: TemplateSet, *, recorded: bool = False):
    """Feed a path to the checker the way the explorer does: one StepContext per step."""
    found = []
    for i, step in enumerate(steps):
        ctx = StepContext(step=step, path=steps[: i + 1], values={}, templates=tset, replays_recorded_path=recorded)
        found.extend(checker.check(ctx))
    return found
