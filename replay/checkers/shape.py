"""The shape checker: a success whose body or status class the recording never showed for its call.

An unseen ordering often breaks an answer without a 5xx (a field gone null, a list turned into an
error object); the recorded response schema of each template is the yardstick. Only types and
required fields count, and paths the recording saw change on every call (volatile) are left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import jsonschema

from venom_replay.proxy.infer.model import ActionTemplate

from venom_replay.replay.checkers.base import StepContext, Violation

__all__ = ["ShapeChecker"]


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for p in parts:
        out += "[*]" if isinstance(p, int) else f".{p}"
    return out


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
        self._memo: dict[tuple[str, int, bytes], dict[str, str]] = {}

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
        recorded_classes = {s // 100 for s in tpl.statuses}
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
        problems = self._remembered_problems(tpl, resp.status, resp.body, data)
        return [Violation(self.name, f"{tpl.label} answered {resp.status} but {where} no longer matches the recorded shape: {msg}",
                          f"shape:{tpl.id}:{where}", {"path": where}) for where, msg in sorted(problems.items())]

    def _remembered_problems(self, tpl: ActionTemplate, status: int, body: bytes, data: Any) -> dict[str, str]:
        """``_problems`` of this body, computed once per template, status and body."""
        memo_key = (tpl.id, status, hashlib.blake2b(body, digest_size=16).digest())
        problems = self._memo.get(memo_key)
        if problems is None:
            problems = self._problems(tpl, data)
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = problems
        return problems

    def _problems(self, tpl: ActionTemplate, data: Any) -> dict[str, str]:
        """Where ``data`` breaks the recorded schema (types, required fields), volatile paths left out."""
        problems: dict[str, str] = {}
        validator = self._validator(tpl)
        if validator is None:
            return problems
        volatile = {re.sub(r"\[\d+\]", "[*]", v) for v in tpl.volatile}
        for err in validator.iter_errors(data):
            if err.validator not in self._KEPT:
                continue
            where = _json_path(err.absolute_path)
            if err.validator == "required":
                missing = re.findall(r"'([^']+)' is a required property", err.message)
                where = f"{where}.{missing[0]}" if missing else where
            if where in volatile or any(where.startswith(v + ".") or where.startswith(v + "[") for v in volatile):
                continue
            problems.setdefault(where, err.message[:160])
        return problems
