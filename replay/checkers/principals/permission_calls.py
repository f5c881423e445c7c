"""Permission calls recognised by their body: a permission word in the path and a principal field (MLflow's ``.../permissions/create {"username": ...}``)."""

from __future__ import annotations

import re
from typing import Any, Literal

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals.callers import _scalar
from venom_replay.replay.checkers.principals.role_words import is_grant, is_revoke
from venom_replay.replay.checkers.principals.scopes import Scope, _request_ids
from venom_replay.replay.checkers.steps import is_read

_PERMISSION_PATH = re.compile(r"permission|grant|revoke|member|role|access|share|acl|collaborator", re.IGNORECASE)
_PRINCIPAL_FIELD = re.compile(r"^(user(_?name)?|login|email|principal|member|grantee|account|user_?id)$", re.IGNORECASE)


def principal_fields(step: StepResult) -> list[str]:
    """Values of the request's principal fields (``username``, ``user_id``, ``email``...)."""
    fields: dict[str, Any] = {k: v for k, v in step.request.query}
    body = step.request.json()
    if isinstance(body, dict):
        fields.update(body)
    return [str(v) for k, v in fields.items() if _PRINCIPAL_FIELD.match(str(k)) and _scalar(v)]


def _permission_call(step: StepResult) -> tuple[Literal["grant", "revoke"], str, Scope] | None:
    """A permission grant or revoke call recognised by its path words and a principal field in its body."""
    tpl = step.template
    if is_read(tpl) or not _PERMISSION_PATH.search(tpl.path):
        return None
    principal = next(iter(principal_fields(step)), None)
    if principal is None:
        return None
    kind: Literal["grant", "revoke"]
    if tpl.method == "DELETE" or is_revoke(tpl):
        kind = "revoke"
    elif is_grant(tpl) or tpl.method in ("PUT", "POST", "PATCH"):
        kind = "grant"
    else:
        return None
    ids = frozenset(i for i in _request_ids(step) if i[0] not in ("userid", "accountid"))
    names = ",".join(sorted(n for n, _ in ids))
    return kind, principal, Scope(ids=ids, kind=f"field:{names}")
