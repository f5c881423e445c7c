"""The actions the explorer may take, and which recorded example a replayed step should use.

A template can have been called by several users; with identity swapping each recorded identity is
an action of its own, so the search can try one user's call with another user's credentials (the
access-after-revoke bugs need that).
"""

from __future__ import annotations

import re
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Exchange
from venom_replay.proxy.redact import is_secret_field, is_secret_header
from venom_replay.replay.findings import Action

_IDENTITY_FIELD = re.compile(r"(^|_)(user(name)?|login|email|account)($|_)", re.I)
MAX_IDENTITIES_PER_TEMPLATE = 4


def _identity_signature(req: Any) -> tuple:
    """What says who is calling: credential headers and user-name-like body fields."""
    parts: list[tuple[str, str]] = [(k.lower(), v) for k, v in req.headers if is_secret_header(k)]
    data = req.json() if req is not None else None
    if isinstance(data, dict):
        parts += [(k, str(v)) for k, v in data.items() if _IDENTITY_FIELD.search(k) or is_secret_field(k)]
    return tuple(sorted(parts))


def identity_examples(template: ActionTemplate) -> list[int]:
    """One example index per distinct recorded identity of this template (the first is the default)."""
    seen: dict[tuple, int] = {}
    for i, req in enumerate(template.example_requests or []):
        seen.setdefault(_identity_signature(req), i)
    return sorted(seen.values()) or [0]


def build_actions(tset: TemplateSet, *, swap_identities: bool = False) -> list[Action]:
    """Every action the explorer may take; with identity swapping, one per recorded identity."""
    actions: list[Action] = []
    for tid, tpl in tset.templates.items():
        examples = identity_examples(tpl) if swap_identities else [0]
        actions.extend(Action(tid, ex) for ex in examples[:MAX_IDENTITIES_PER_TEMPLATE])
    return actions


def closest_example(template: ActionTemplate, recorded: Exchange | None) -> int:
    """The example request that matches a recorded exchange best (same inputs, same identity)."""
    if recorded is None or not template.example_requests:
        return 0
    want = recorded.request
    best, best_score = 0, -1
    for i, req in enumerate(template.example_requests):
        score = (2 if req.body == want.body else 0) + (1 if req.query == want.query else 0) + (
            1 if _identity_signature(req) == _identity_signature(want) else 0) + (1 if req.path == want.path else 0)
        if score > best_score:
            best, best_score = i, score
    return best
