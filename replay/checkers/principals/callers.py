"""Who the caller of a step is, for every kind of identity: the Basic user name, or a credential and the user the answer that handed it out names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from venom_replay.proxy.infer.credentials import basic_credentials, credential_of
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals.names import _USER_FIELDS
from venom_replay.replay.checkers.steps import succeeded

_ORIGIN_LOOKBACK = 400
"""How far back the answer that handed out a credential is looked for (long paths stay cheap)."""


def caller_names(path: Sequence[StepResult], index: int) -> frozenset[str]:
    """Names of the caller of ``path[index]``: the Basic user; or the credential (token, API key,
    login cookie) and the user the answer that handed it out names. Empty without a credential."""
    request = path[index].request
    basic = basic_credentials(request.header("authorization"))
    if basic is not None:
        return frozenset({basic[0]}) if basic[0] else frozenset()
    credential = credential_of(request)
    if credential is None:
        return frozenset()
    secret = credential.split(":", 1)[1].removeprefix(" ")
    secret = secret.split(" ", 1)[1] if secret.lower().startswith(("bearer ", "token ")) else secret
    out = {credential}
    origin = _credential_origin(path, index, secret)
    if origin is not None:
        out |= _identity_values(origin) - {secret}
    return frozenset(out)


def _credential_origin(path: Sequence[StepResult], index: int, secret: str) -> StepResult | None:
    """The latest step before ``index`` whose answer carried the credential's secret."""
    if len(secret) < 8:
        return None
    for step in reversed(path[max(0, index - _ORIGIN_LOOKBACK):index]):
        if not succeeded(step):
            continue
        if any(str(v) in secret for v in step.produced.values() if len(str(v)) >= 8):
            return step
        body = step.response.body if step.response is not None else b""
        if secret.encode() in body or any(secret in v for k, v in step.response.headers if k.lower() == "set-cookie"):
            return step
    return None


def _identity_values(step: StepResult) -> set[str]:
    """What names the user in a login: the request's user fields, and the answer's scalars (its user
    id, name, role...), top level and one level down."""
    out: set[str] = set()
    request = step.request.json()
    if isinstance(request, dict):
        out |= {str(v) for k, v in request.items() if _USER_FIELDS.match(str(k)) and _scalar(v)}
    out |= {str(v) for v in step.produced.values() if _scalar(v)}
    answer = step.response.json() if step.response is not None else None
    items = list(answer.items()) if isinstance(answer, dict) else []
    for _, value in list(items):
        if isinstance(value, dict):
            items.extend(value.items())
    out |= {str(v) for _, v in items if _scalar(v)}
    return out


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) != ""
