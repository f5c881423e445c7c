"""The failed-write checker: a call the API refused (4xx) or failed (5xx) that still changed the databases.

A refusal should leave the data as it was: a 400 whose row was inserted anyway, a 409 that half
applied an update, a 500 after a partial write. The rollback journal sees it where no answer shows it:
the explorer fingerprints the content before the step and, when a checker asks
(``StepContext.content_changed``), after it. Volatile columns (``last_seen``, counters) are left out
of fingerprints, so touching them is no change.

Precision:
- refusals of authentication, authorisation and rate limiting (401, 403, 407, 429) are not judged:
  APIs record such attempts on purpose (audit rows, failed-login counters, lock-outs), and the
  fingerprint cannot tell an audit row from the data the call was refused;
- a refusal that the recording itself makes and that writes when replayed is the API's normal
  behaviour: the explorer's confirmation phase suppresses its bucket (template and status);
- nothing is judged without a database, or without a fingerprint from before the step.
"""

from __future__ import annotations

from venom_replay.replay.checkers.base import StepContext, Violation

__all__ = ["UNJUDGED_STATUSES", "FailedWriteChecker"]

UNJUDGED_STATUSES = frozenset({401, 403, 407, 429})
"""Refusals that commonly write by design (audit rows, attempt counters, lock-outs)."""


class FailedWriteChecker:
    """A step answered 4xx/5xx (auth and rate-limit refusals aside) after which the content changed."""

    name = "failed-write"

    def check(self, ctx: StepContext) -> list[Violation]:
        resp = ctx.step.response
        if resp is None or resp.status < 400 or resp.status in UNJUDGED_STATUSES or ctx.content_changed is None:
            return []
        if ctx.content_changed() is not True:
            return []
        tpl = ctx.step.template
        what = "failed" if resp.status >= 500 else "refused"
        return [Violation(self.name, f"{tpl.label} answered {resp.status} {resp.reason}".rstrip()
                          + f" ({what}), yet the databases changed: the call wrote although it did not succeed",
                          f"failed-write:{tpl.id}:{resp.status}", {"status": resp.status})]
