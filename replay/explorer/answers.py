"""Comparing two answers to the same request: what the determinism probe and the tests use.

Two runs of one step from one restored state should answer alike. Values that differ on every call
anyway (the template's volatile fields, tokens, timestamps) are masked first, so that a difference
left over points at state the rollback cannot reach (a cache, a file) rather than at a fresh id.
"""

from __future__ import annotations

import re
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.infer.values import child_key
from venom_replay.replay.checkers.base import StepResult

_TOKENISH = re.compile(r"^[A-Za-z0-9_\-+/=.]{16,}$")
_TIMEISH = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def normalise(value: Any, path: str, volatile: set[str]) -> Any:
    """``value`` (found at JSON path ``path``) with volatile, token-like and time-like parts masked."""
    if path in volatile:
        return "<volatile>"
    if isinstance(value, dict):
        return {k: normalise(v, child_key(path, k), volatile) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, f"{path}[{i}]", volatile) for i, v in enumerate(value)]
    if isinstance(value, str) and (_TIMEISH.match(value) or (_TOKENISH.match(value) and any(c.isdigit() for c in value))):
        return "<token-or-time>"
    if isinstance(value, float) and value > 1e9:  # a unix time
        return "<time>"
    return value


def _volatile_paths(template: ActionTemplate) -> set[str]:
    vol = {v for v in template.volatile if v.startswith("$")}
    # A list's item path is recorded once with [*]; the explicit indexes should match it too.
    return vol | {re.sub(r"\[\*\]", "[0]", v) for v in vol}


def answer_digest(step: StepResult) -> Any:
    """A comparable form of one answer: status and body, volatile and token-like values masked."""
    if step.response is None:
        return ("error", step.error)
    data = step.response.json()
    vol = _volatile_paths(step.template)
    if data is None:
        return (step.response.status, len(step.response.body))
    return (step.response.status, normalise(data, "$", {re.sub(r"\[\d+\]", "[0]", v) for v in vol}))


def differences(a: Any, b: Any, path: str = "$", out: list[str] | None = None) -> list[str]:
    """Up to three lines naming where two normalised bodies differ (``$.total: 10 then 12``)."""
    out = [] if out is None else out
    if len(out) >= 3:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            differences(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {str(a)[:60]} then {str(b)[:60]}")
    return out
