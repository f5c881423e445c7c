"""Follows a path step by step and lists each grant and revocation it made, to whom, and about what."""

from __future__ import annotations

from collections.abc import Sequence

from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals.permission_calls import _permission_call
from venom_replay.replay.checkers.principals.role_words import (
    _membership_target,
    is_grant,
    is_revoke,
)
from venom_replay.replay.checkers.principals.scopes import (
    AccessChange,
    ListBook,
    Scope,
    _holder_url,
    _url,
    is_acl_key,
    principal_lists,
    url_under,
)
from venom_replay.replay.checkers.steps import is_delete, is_read, succeeded


class AccessTracker:
    """Walks a path step by step: keeps the members and ACL lists it showed and the access changes."""

    def __init__(self) -> None:
        self.book = ListBook()
        self.changes: list[AccessChange] = []
        self._path: list[StepResult] = []

    def add(self, step: StepResult) -> list[AccessChange]:
        """Note one more step; the access changes it made."""
        index = len(self._path)
        self._path.append(step)
        if not succeeded(step):
            return []
        found = self._list_changes(step, index) + self._call_changes(step, index)
        self.changes.extend(found)
        return found

    def _list_changes(self, step: StepResult, index: int) -> list[AccessChange]:
        holder = _holder_url(step)
        tpl = step.template
        out: list[AccessChange] = []
        if is_delete(tpl):
            # The object is gone with its lists: its members lose what membership gave them.
            for (h, key), members in list(self.book.known.items()):
                if h == holder and members and not is_acl_key(key):
                    out.append(AccessChange(index, "revoke", frozenset(members), Scope(groups=frozenset({h}), urls=frozenset({h}),
                                                                                       kind=f"list:{key}"),
                                            f"deleted {h} with its {key}"))
                if h == holder or url_under(h, holder):
                    self.book.known.pop((h, key), None)
                    self.book.explicit.pop((h, key), None)
            return out
        sent = principal_lists(step.request.json())
        answered = principal_lists(step.response.json() if step.response is not None else None)
        writes = not is_read(tpl)
        for key in sorted(set(sent) | set(answered)):
            new = set(answered.get(key, sent.get(key, [])))
            prior = self.book.known.get((holder, key))
            if writes and prior is not None:
                lost, gained = prior - new, new - prior
                scope = self._scope(holder, key)
                if lost:
                    out.append(AccessChange(index, "revoke", frozenset(lost), scope, f"removed from {key} of {holder}"))
                if gained:
                    out.append(AccessChange(index, "grant", frozenset(gained), scope, f"added to {key} of {holder}"))
            elif writes and new:
                out.append(AccessChange(index, "grant", frozenset(new), self._scope(holder, key), f"put in {key} of {holder}"))
            self.book.known[(holder, key)] = new
            if writes and key in sent:
                self.book.explicit[(holder, key)] = set(sent[key])
            elif writes:
                self.book.explicit[(holder, key)] = self.book.explicit.get((holder, key), set()) & new
        return out

    @staticmethod
    def _scope(holder: str, key: str) -> Scope:
        if is_acl_key(key):
            return Scope(urls=frozenset({holder}), kind=f"list:{key}")
        return Scope(urls=frozenset({holder}), groups=frozenset({holder}), kind=f"list:{key}")

    def _call_changes(self, step: StepResult, index: int) -> list[AccessChange]:
        call = _permission_call(step)
        if call is not None:
            kind, principal, scope = call
            return [AccessChange(index, kind, frozenset({principal}), scope, f"{step.template.label} ({kind})")]
        tpl = step.template
        revoke, grant = is_revoke(tpl), is_grant(tpl)
        if not (revoke or grant) or not _membership_target(tpl):
            return []
        params = _tail_params(tpl, step)
        if not params:
            return []
        who = str(params[tpl.params[-1]])
        base = _url(step.request.path).rsplit("/", 2)[0]
        return [AccessChange(index, "revoke" if revoke else "grant", frozenset({who}),
                             Scope(urls=frozenset({base}), kind=f"path:{tpl.path}"), f"{tpl.label}")]


def _tail_params(tpl: ActionTemplate, step: StepResult) -> dict[str, str]:
    segs = [s for s in _url(step.request.path).split("/") if s]
    pattern = [s for s in tpl.path.split("/") if s]
    if len(segs) < len(pattern):
        return {}
    return path_params("/" + "/".join(pattern), "/" + "/".join(segs[len(segs) - len(pattern):])) or {}


def access_changes(path: Sequence[StepResult]) -> tuple[list[AccessChange], ListBook]:
    """Every access change on the path, in order, and the lists as the whole path showed them."""
    tracker = AccessTracker()
    for step in path:
        tracker.add(step)
    return tracker.changes, tracker.book
