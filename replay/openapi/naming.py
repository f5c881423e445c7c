"""Operation ids: one readable, unique name per template (``postOrdersOrderIdPay``)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from venom_replay.proxy.infer.model import ActionTemplate


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]


def operation_id(template: ActionTemplate) -> str:
    words = _words(template.path)
    return template.method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def operation_ids(templates: Iterable[ActionTemplate]) -> dict[str, str]:
    """Template id -> operation id, numbered where two templates would share one."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for t in templates:
        base = name = operation_id(t)
        n = 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        out[t.id] = name
    return out
