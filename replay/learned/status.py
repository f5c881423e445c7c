"""Status expectations: which status class a template returned in which situation.

Only "never succeeded here" facts are checked: a read after its resource was deleted that always got
a 4xx, a state-changing call repeated on the same resource that was always refused. A correct API
refusing an ordering nobody recorded (a 4xx where the recording saw 2xx) is a sane outcome, not a
finding, so "always succeeded" is not learned as an expectation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from venom_replay.proxy.infer.model import TemplateSet

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.steps import succeeded
from venom_replay.replay.learned.model import LearnedInvariant, status_class
from venom_replay.replay.learned.paths import situation

_WORDING = {
    "after-delete": "after its resource was deleted",
    "repeat": "when repeated on the same resource",
}


def learn_status(tset: TemplateSet, paths: Mapping[str, list[StepResult]], cfg: Any) -> list[LearnedInvariant]:
    seen: dict[tuple[str, str], Counter[int]] = {}
    for steps in paths.values():
        for i, step in enumerate(steps):
            if step.response is None:
                continue
            sit = situation(steps, i)
            if sit is not None:
                seen.setdefault((step.template.id, sit.kind), Counter())[step.response.status] += 1
    out = []
    for (tid, kind), statuses in sorted(seen.items()):
        support = sum(statuses.values())
        if support < cfg.min_path_support or any(not 400 <= s < 500 for s in statuses):
            continue
        out.append(
            LearnedInvariant(
                template=tid,
                expr=f"status 4xx {_WORDING[kind]}",
                kind="status",
                support=support,
                distinct=len(statuses),
                confidence=1 - 0.5**support,
                examples=sorted(statuses),
                params={"situation": kind},
            )
        )
    return out


def check_status(inv: LearnedInvariant, path: Sequence[StepResult]) -> list[dict[str, Any]]:
    step = path[-1]
    if not succeeded(step):
        return []
    sit = situation(path, len(path) - 1)
    if sit is None or sit.kind != inv.params["situation"]:
        return []
    earlier = path[sit.earlier]
    return [
        {
            "status": step.response.status,
            "class": status_class(step.response.status),
            sit.kind: f"step {sit.earlier + 1}: {earlier.request.method} {earlier.request.path}",
        }
    ]
