"""Status expectations: which status class a template returned in which situation.

Only "never succeeded here" facts are checked: a read after its resource was deleted that always got
a 4xx, a state-changing call repeated on the same resource that was always refused. A correct API
refusing an ordering nobody recorded (a 4xx where the recording saw 2xx) is a sane outcome, not a
finding, so "always succeeded" is not learned as an expectation.

A refusal the recording saw may be a refusal to one identity (bob's 403 before alice granted him
access): on an explored path where a grant to the step's caller precedes the step (a permission call,
a members or ACL list that gained it, see ``checkers.principals``), success is what the grant is for,
and the expectation does not apply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals import access_changes, caller_names
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
    if granted_before(path):
        return []
    earlier = path[sit.earlier]
    return [
        {
            "status": step.response.status,
            "class": status_class(step.response.status),
            sit.kind: f"step {sit.earlier + 1}: {earlier.request.method} {earlier.request.path}",
        }
    ]


def granted_before(path: Sequence[StepResult]) -> bool:
    """A successful grant to the last step's caller precedes it on the path."""
    names = caller_names(path, len(path) - 1)
    if not names:
        return False
    changes, _ = access_changes(path[:-1])
    return any(c.kind == "grant" and c.concerns(names) for c in changes)
