"""Role and membership calls recognised by their words (``DELETE /teams/{t}/members/{u}``, ``.../demote``)."""

from __future__ import annotations

import re

from venom_replay.proxy.infer.model import ActionTemplate

_MEMBERSHIP_WORD = re.compile(r"member|role|admin|permission|collaborator|grant|access|share|acl", re.IGNORECASE)
_REVOKE_WORD = re.compile(r"revoke|remove|demote|ban|suspend|disable|leave|kick|expel|unshare", re.IGNORECASE)
_GRANT_WORD = re.compile(r"grant|promote|invite|join|enable|create|add|update|set|share", re.IGNORECASE)


def _literal_segments(tpl: ActionTemplate) -> list[str]:
    return [seg for seg in tpl.path.split("/") if seg and not seg.startswith("{")]


def _membership_target(tpl: ActionTemplate) -> bool:
    """The call addresses one membership or role (``/teams/{t}/members/{u}``, ``/admins/{u}``)."""
    segs = _literal_segments(tpl)
    return bool(segs) and bool(_MEMBERSHIP_WORD.search(segs[-1])) and bool(tpl.params) and tpl.path.endswith("}")


def is_revoke(tpl: ActionTemplate) -> bool:
    """By its words, the call takes a role or membership away."""
    if tpl.method == "DELETE" and _membership_target(tpl):
        return True
    segs = _literal_segments(tpl)
    if tpl.method not in ("POST", "PUT", "PATCH") or not segs:
        return False
    if segs[-1].lower() == "delete":  # ``permissions/delete``; a plain ``experiments/delete`` is no revoke
        return len(segs) >= 2 and bool(_MEMBERSHIP_WORD.search(segs[-2]))
    return bool(_REVOKE_WORD.search(segs[-1]))


def is_grant(tpl: ActionTemplate) -> bool:
    """By its words, the call gives a role or membership."""
    if is_revoke(tpl) or tpl.method not in ("PUT", "POST", "PATCH"):
        return False
    segs = _literal_segments(tpl)
    if not segs:
        return False
    if _MEMBERSHIP_WORD.search(segs[-1]) or re.search(r"grant|promote|invite|join", segs[-1], re.IGNORECASE):
        return True
    return len(segs) >= 2 and bool(_MEMBERSHIP_WORD.search(segs[-2])) and bool(_GRANT_WORD.search(segs[-1]))
