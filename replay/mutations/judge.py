"""How a mutated call is judged, and how its findings are bucketed.

A mutated request is not what the recording shows, so most oracles learned from the recording do not
apply to its answer (a response echoing the empty title it was sent is not a broken domain). A
mutated call is judged by the checkers that hold for any input: server errors, failed calls that
wrote, the user's own invariants, and (``--strict-domains``) the mutation-domain checker. Its
findings are bucketed by template, mutated field and mutation kind: two different fields that crash
the same endpoint are two root causes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from venom_replay.replay.checkers.base import StepContext, StepResult, Violation

JUDGES_MUTATED = frozenset({"server-error", "failed-write", "mutation-domain", "user", "sql"})
"""Checker names whose verdict holds for any request value (``user`` and ``sql``: the user's invariants)."""


def judges_mutated(checker: Any) -> bool:
    return getattr(checker, "name", type(checker).__name__) in JUDGES_MUTATED


def mutated_violations(result: StepResult, found: list[Violation]) -> list[Violation]:
    """``found`` re-bucketed by the mutation ``result`` carried, which its message and details name."""
    mutation = result.mutation
    out = []
    for v in found:
        details = dict(v.details)
        details["mutation"] = mutation.as_dict()
        out.append(replace(v, message=f"{v.message} — sent with {mutation.describe()}",
                           signature=f"{v.signature}|mutation:{mutation.location}:{mutation.kind}", details=details))
    return out


class MutationDomainChecker:
    """``--strict-domains``: a mutated call answered 2xx although its value lies outside a domain the
    recording shows with high support (a number beyond the recorded range, a broken format). Low
    severity: many APIs accept such values on purpose. Only mutations generated with
    ``strict_domains`` carry ``outside_domain``, so without the option this never reports."""

    name = "mutation-domain"

    def check(self, ctx: StepContext) -> list[Violation]:
        step, resp = ctx.step, ctx.step.response
        mutation = step.mutation
        if mutation is None or not mutation.outside_domain or resp is None or not 200 <= resp.status < 300:
            return []
        tpl = step.template
        return [Violation(self.name, f"{tpl.label} accepted a value outside what the recording shows "
                                     f"(answered {resp.status}; low severity)",
                          f"mutation-domain:{tpl.id}", {"status": resp.status, "severity": "low"})]
