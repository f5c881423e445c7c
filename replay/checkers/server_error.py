"""The server-error checker: any 5xx answer is a finding, whatever sequence led to it.

It needs no recording to judge by; its signature is the template and the status, so one crash
reached by many paths is reported once. A batch or multi-status answer (``batch.py``) is judged by
its inner answers too: an inner 5xx is the crash of that inner request, even under an outer 200.
"""

from __future__ import annotations

import json
import re
from typing import Any

from venom_replay.replay.checkers.base import StepContext, Violation
from venom_replay.replay.checkers.batch import batch_answer, generic_path

__all__ = ["ServerErrorChecker"]

_SHOWN_INNER = 3


def _snippet(text: str) -> str:
    """The first words of a body: JSON as is, an HTML error page without its tags."""
    return " ".join(re.sub(r"<[^>]+>", " ", text[:2000]).split())[:120]


def _inner_text(body: Any) -> str:
    if body is None:
        return ""
    return _snippet(body if isinstance(body, str) else json.dumps(body, default=str))


class ServerErrorChecker:
    """A step answered 5xx, or a batch answer holds an inner 5xx."""

    name = "server-error"

    def check(self, ctx: StepContext) -> list[Violation]:
        resp = ctx.step.response
        if resp is None:
            return []
        tpl = ctx.step.template
        if resp.status < 500:
            return self._inner_errors(ctx)
        snippet = _snippet(resp.body.decode("utf-8", "replace"))
        return [Violation(self.name, f"{tpl.label} answered {resp.status} {resp.reason}".rstrip() + (f": {snippet}" if snippet else ""),
                          f"server-error:{tpl.id}:{resp.status}", {"status": resp.status})]

    def _inner_errors(self, ctx: StepContext) -> list[Violation]:
        """One finding for the inner 5xx answers of a batch answer, named after the first of them."""
        step, tpl = ctx.step, ctx.step.template
        resp = step.response
        if resp is None or not resp.body.lstrip().startswith((b"{", b"[")):
            return []
        batch = batch_answer(resp.json(), status=resp.status, request_body=step.request.json(), request_path=step.request.path)
        failed = [a for a in batch.answers if a.status >= 500] if batch is not None else []
        if not failed:
            return []
        first = failed[0]
        shown = "; ".join(f"{a.label} answered {a.status}" + (f": {t}" if (t := _inner_text(a.body)) else "")
                          for a in failed[:_SHOWN_INNER])
        more = f" (and {len(failed) - _SHOWN_INNER} more)" if len(failed) > _SHOWN_INNER else ""
        inner = " ".join(p for p in (first.method, generic_path(first.path) if first.path else None) if p) or "inner request"
        return [Violation(self.name, f"{tpl.label} answered {resp.status}, but inside it {shown}{more}",
                          f"server-error:{tpl.id}:inner {inner}:{first.status}",
                          {"status": resp.status, "inner": [{"request": a.label, "status": a.status} for a in failed]})]
