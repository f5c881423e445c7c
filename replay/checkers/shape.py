"""The shape checker: a success whose body or status class the recording never showed for its call.

An unseen ordering often breaks an answer without a 5xx (a field gone null, a list turned into an
error object); the recorded response schema of each template is the yardstick. Only types and
required fields count (``proxy/infer/response_shape.py`` requires a field only where the recording
is good evidence for it), and paths the recording saw change on every call (volatile) are left out.
An integer where the recording had integers and the answer has a fraction is no shape change
(serialisers switch between them). Inside a batch answer (``batch.py``) the inner answers belong to
their own requests: their bodies, and whether they were refused, are not this call's shape.

Everything that differs in one answer is one finding: its signature names the template and the
kind of difference, not the JSON path, so a fresh object that lacks six fields is reported once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import jsonschema

from venom_replay.proxy.infer.model import ActionTemplate

from venom_replay.replay.checkers.base import StepContext, StepResult, Violation
from venom_replay.replay.checkers.batch import batch_answer

__all__ = ["ShapeChecker"]

_SHOWN = 4


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for p in parts:
        out += "[*]" if isinstance(p, int) else f".{p}"
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _only_integer_vs_number(err: Any) -> bool:
    """A type error that only says a number is not an integer."""
    expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
    return "integer" in expected and "number" not in expected and _is_number(err.instance)


class ShapeChecker:
    """A 2xx answer whose JSON no longer matches the recorded schema (types, required fields), or a
    status class (2xx/3xx) the recording never showed for this template."""

    name = "shape"
    _KEPT = frozenset({"type", "required"})

    _MEMO_LIMIT = 4096

    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}
        # Exploration sees the same answer many times (equal states reached by other paths): the
        # problems found in one body are remembered per template instead of validated again.
        self._memo: dict[tuple[str, int, bytes, bytes], dict[str, str]] = {}

    def _validator(self, tpl: ActionTemplate) -> Any:
        if tpl.id not in self._validators:
            try:
                cls = jsonschema.validators.validator_for(tpl.response_schema)
                self._validators[tpl.id] = cls(tpl.response_schema)
            except Exception:  # an unusable schema checks nothing
                self._validators[tpl.id] = None
        return self._validators[tpl.id]

    def check(self, ctx: StepContext) -> list[Violation]:
        step, tpl = ctx.step, ctx.step.template
        resp = step.response
        if resp is None or resp.status >= 400:
            return []
        # Among successes only: a call the recording shows refused (403) may well succeed in a state
        # that allows it; a redirect where the recording had 200s (or the reverse) is the change.
        recorded_classes = {s // 100 for s in tpl.statuses} & {2, 3}
        if recorded_classes and resp.status // 100 not in recorded_classes and resp.status // 100 in (2, 3):
            return [Violation(self.name, f"{tpl.label} answered {resp.status}; the recording only shows "
                              f"{', '.join(str(s) for s in sorted(tpl.statuses))}",
                              f"shape:status:{tpl.id}:{resp.status // 100}xx", {"status": resp.status})]
        if resp.status // 100 != 2 or not tpl.response_schema:
            return []
        data = resp.json()
        if data is None:
            if resp.body and not resp.body_truncated:
                return [Violation(self.name, f"{tpl.label} answered {resp.status} with a body that is not JSON "
                                  f"({resp.header('content-type') or 'no content type'}); the recording had JSON",
                                  f"shape:not-json:{tpl.id}")]
            return []
        problems = self._remembered_problems(step, data)
        if not problems:
            return []
        listed = "; ".join(f"{where}: {msg}" for where, msg in list(problems.items())[:_SHOWN])
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        return [Violation(self.name, f"{tpl.label} answered {resp.status} but its body no longer matches the recorded "
                          f"shape: {listed}{more}",
                          f"shape:body:{tpl.id}", {"path": next(iter(problems)), "problems": problems})]

    def _remembered_problems(self, step: StepResult, data: Any) -> dict[str, str]:
        """``_problems`` of this body, computed once per template, status, body and request body."""
        tpl, resp = step.template, step.response
        assert resp is not None
        memo_key = (tpl.id, resp.status, hashlib.blake2b(resp.body, digest_size=16).digest(),
                    hashlib.blake2b(step.request.body, digest_size=8).digest())
        problems = self._memo.get(memo_key)
        if problems is None:
            problems = self._problems(step, data)
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = problems
        return problems

    def _problems(self, step: StepResult, data: Any) -> dict[str, str]:
        """Where ``data`` breaks the recorded schema (types, required fields), sorted by path; volatile
        paths and the inner answers of a batch answer left out."""
        tpl = step.template
        problems: dict[str, str] = {}
        validator = self._validator(tpl)
        if validator is None:
            return problems
        volatile = {re.sub(r"\[\d+\]", "[*]", v) for v in tpl.volatile}
        status = step.response.status if step.response is not None else None
        batch = batch_answer(data, status=status, request_body=step.request.json(), request_path=step.request.path)
        for err in validator.iter_errors(data):
            if err.validator not in self._KEPT or (err.validator == "type" and _only_integer_vs_number(err)):
                continue
            where = _json_path(err.absolute_path)
            if err.validator == "required":
                missing = re.findall(r"'([^']+)' is a required property", err.message)
                where = f"{where}.{missing[0]}" if missing else where
            if where in volatile or any(where.startswith(v + ".") or where.startswith(v + "[") for v in volatile):
                continue
            if batch is not None and batch.holds(where):
                continue
            problems.setdefault(where, err.message[:160])
        return dict(sorted(problems.items()))
