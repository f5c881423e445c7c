"""Principal names and how they compare (``account:bob`` is the Basic user ``bob``), refusals, and the kind of access a call needs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.steps import is_read

_EVERYONE = frozenset({"system.everyone", "system.authenticated", "everyone", "authenticated", "*", "public"})
_PRINCIPAL_PREFIX = re.compile(r"^(account|user|users|basicauth|ldap|oidc|email|group|role|principal)[:/]", re.IGNORECASE)
_USER_FIELDS = re.compile(r"^(user(_?name)?|login|email|account|principal|member|grantee|name|user_?id|account_?id|sub)$", re.IGNORECASE)


def principal_names(value: Any) -> frozenset[str]:
    """The names a principal string goes by: ``account:bob`` -> {``account:bob``, ``bob``}."""
    text = str(value).strip()
    if not text:
        return frozenset()
    out = {text}
    m = _PRINCIPAL_PREFIX.match(text)
    if m is not None and len(text) > m.end():
        out.add(text[m.end():])
    return frozenset(out)


def is_everyone(value: Any) -> bool:
    """A principal that stands for every (authenticated) caller."""
    return str(value).strip().lower() in _EVERYONE


def same_principal(names: Iterable[str], principal: Any) -> bool:
    return bool(set(names) & principal_names(principal))


def refused(step: StepResult) -> bool:
    """The server refused the caller (401 or 403)."""
    return step.response is not None and step.response.status in (401, 403)


def access_class(template: ActionTemplate) -> str:
    """``read`` or ``write``: the kind of access a call needs."""
    return "read" if is_read(template) else "write"
