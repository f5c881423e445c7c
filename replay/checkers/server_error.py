"""The server-error checker: any 5xx answer is a finding, whatever sequence led to it.

It needs no recording to judge by; its signature is the template and the status, so one crash
reached by many paths is reported once.
"""

from __future__ import annotations

import re

from venom_replay.replay.checkers.base import StepContext, Violation

__all__ = ["ServerErrorChecker"]


class ServerErrorChecker:
    """A step answered 5xx."""

    name = "server-error"

    def check(self, ctx: StepContext) -> list[Violation]:
        resp = ctx.step.response
        if resp is None or resp.status < 500:
            return []
        tpl = ctx.step.template
        # The first words of the body: JSON as is, an HTML error page without its tags.
        text = re.sub(r"<[^>]+>", " ", resp.body[:2000].decode("utf-8", "replace"))
        snippet = " ".join(text.split())[:120]
        return [Violation(self.name, f"{tpl.label} answered {resp.status} {resp.reason}".rstrip() + (f": {snippet}" if snippet else ""),
                          f"server-error:{tpl.id}:{resp.status}", {"status": resp.status})]
