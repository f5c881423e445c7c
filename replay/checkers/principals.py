"""Principals: who the caller of a step is, and which steps grant or revoke what to whom.

Shared by the access checkers (access-after-revoke, inherited-identity) and the learned status
expectations. Every kind of identity counts:
- HTTP Basic: the user name in the header;
- a bearer token, an API key or a login cookie: the credential itself, plus the user that the
  earlier answer which handed it out names (the login request's ``username``, the answer's
  ``user_id``...).

Grants and revocations are recognised from what calls do, not only from their URL:
- a members or ACL list in a request or answer body that gains or loses a principal
  (``PATCH /groups/x {"data": {"members": [...]}}``, ``{"permissions": {"write": [...]}}``); the
  list's previous content is what an earlier step of the path showed for the same object;
- a permission call, recognised by a permission word in its path and a principal field in its body
  (``POST .../permissions/create {"username": "bob", "experiment_id": "1", "permission": "EDIT"}``,
  ``.../permissions/revoke``): its verb says grant or revoke, its other id fields what it is about;
- the delete of a membership resource (``DELETE /teams/{t}/members/{u}``), or a role call by its
  words (``.../demote``, ``PUT /admins/{u}``).

Principals are compared by name: Kinto's ``account:bob`` is the Basic user ``bob``; a principal that
is an object path (``/buckets/b/groups/g``) is a group, whose members lists say who is in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from venom_replay.proxy.infer.bindings import norm_name
from venom_replay.proxy.infer.credentials import basic_credentials, credential_of
from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.recording import Exchange
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.steps import is_delete, is_read, succeeded

__all__ = [
    "AccessChange",
    "AccessTracker",
    "ListBook",
    "Scope",
    "access_changes",
    "access_class",
    "caller_names",
    "covers",
    "is_everyone",
    "is_grant",
    "is_revoke",
    "principal_fields",
    "principal_names",
    "recorded_path",
    "refusal_evidence",
    "refused",
    "same_principal",
]

# --- names ---------------------------------------------------------------------------------------

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


# --- who calls -------------------------------------------------------------------------------------

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


# --- role and membership calls by their words --------------------------------------------------------

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


# --- scopes ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What an access change is about: objects by URL (each with everything below it), objects by
    id (``("experimentid", "1")``: a request naming that id under that name), and group principals
    (object paths) whose ACL entries elsewhere extend it."""

    urls: frozenset[str] = frozenset()
    ids: frozenset[tuple[str, str]] = frozenset()
    groups: frozenset[str] = frozenset()
    kind: str = ""
    """The sort of access, comparable between the recording and a replay (``list:data.members``,
    ``field:experimentid``, ``path:/teams/{t}/members/{u}``)."""

    @property
    def empty(self) -> bool:
        return not (self.urls or self.ids or self.groups)


@dataclass(frozen=True, slots=True)
class AccessChange:
    """One step that granted or revoked access to some principals."""

    index: int
    kind: Literal["grant", "revoke"]
    principals: frozenset[str]
    """The principal strings as the call wrote them (``account:bob``, ``bob``)."""
    scope: Scope
    how: str
    """In words, for findings: ``removed from data.members of /v1/buckets/b/groups/g``."""

    def names(self) -> set[str]:
        return {n for p in self.principals for n in principal_names(p)}

    def concerns(self, names: Iterable[str]) -> bool:
        return bool(self.names() & set(names))


def _url(path: str) -> str:
    return "/" + "/".join(s for s in path.split("?", 1)[0].split("/") if s)


def url_under(url: str, base: str) -> bool:
    """``url`` is ``base`` or below it, allowing up to two segments of prefix in front of ``base``
    (``/v1/buckets/b`` is below the principal ``/buckets/b``)."""
    url, base = _url(url), _url(base)
    if base == "/":
        return False
    segs = url.split("/")[1:]
    for skip in range(3):
        here = "/" + "/".join(segs[skip:])
        if here == base or here.startswith(base + "/"):
            return True
    return False


def _request_ids(step: StepResult) -> set[tuple[str, str]]:
    """The ids a request names, by normalised field name: body and query fields (``experiment_id``,
    ``run_id``), and ``resource_type`` + ``resource_id`` pairs as ``<type>_id``."""
    out: set[tuple[str, str]] = set()
    fields: dict[str, Any] = {k: v for k, v in step.request.query}
    body = step.request.json()
    if isinstance(body, dict):
        fields.update(body)
    kind = fields.get("resource_type")
    for key, value in fields.items():
        if not _scalar(value) or isinstance(value, dict):
            continue
        name = norm_name(str(key))
        if name == "resourceid" and isinstance(kind, str) and kind:
            out.add((norm_name(f"{kind}_id"), str(value)))
        elif name.endswith("id") and name not in ("userid", "accountid"):
            out.add((name, str(value)))
    return out


def covers(scope: Scope, step: StepResult, book: ListBook | None = None, children: Iterable[tuple[str, str]] = ()) -> bool:
    """Whether ``step`` addresses something the scope is about: a URL at or below one of its
    objects (or an object whose ACL names one of its groups), or one of its ids (or an id a call on
    it handed out: a run created in the experiment)."""
    url = step.request.path
    urls = set(scope.urls)
    if book is not None and scope.groups:
        urls |= book.acl_holders(scope.groups)
    if any(url_under(url, u) for u in urls):
        return True
    ids = set(scope.ids) | set(children)
    return bool(ids) and bool(_request_ids(step) & ids)


def children_of(path: Sequence[StepResult], scope: Scope, upto: int) -> set[tuple[str, str]]:
    """Ids that successful calls on the scope's ids handed out before ``upto`` (the runs created in an
    experiment), transitively."""
    ids = set(scope.ids)
    if not ids:
        return set()
    found: set[tuple[str, str]] = set()
    for step in path[:upto]:
        if not succeeded(step) or is_read(step.template) or not (_request_ids(step) & (ids | found)):
            continue
        for name, value in _answer_ids(step.response.json() if step.response is not None else None):
            if len(value) >= 4 and (name, value) not in ids:
                found.add((name, value))
    return found


def _answer_ids(data: Any, depth: int = 0) -> Iterator[tuple[str, str]]:
    if not isinstance(data, dict) or depth > 3:
        return
    for key, value in data.items():
        name = norm_name(str(key))
        if isinstance(value, dict):
            yield from _answer_ids(value, depth + 1)
        elif _scalar(value) and name.endswith("id") and name not in ("userid", "accountid"):
            yield name, str(value)


# --- members and ACL lists -------------------------------------------------------------------------

_LIST_KEY = re.compile(r"^(members|principals|users|usernames|collaborators|readers|writers|editors|viewers|"
                       r"owners|admins|grantees|shared_?with|acl)$", re.IGNORECASE)
_ACL_PARENT = re.compile(r"^(permissions|acl|acls|access|grants|sharing)$", re.IGNORECASE)


def principal_lists(data: Any) -> dict[str, list[str]]:
    """Members and ACL lists in a JSON body, by dotted key path (``data.members``,
    ``permissions.write``): lists of strings under a members-like key or inside a permissions map."""
    out: dict[str, list[str]] = {}

    def walk(node: Any, keys: tuple[str, ...], in_acl: bool) -> None:
        if not isinstance(node, dict) or len(keys) > 4:
            return
        for key, value in node.items():
            here = (*keys, str(key))
            if isinstance(value, dict):
                walk(value, here, in_acl or bool(_ACL_PARENT.match(str(key))))
            elif (isinstance(value, list) and all(isinstance(v, str) for v in value)
                  and (in_acl or _LIST_KEY.match(str(key)))):
                out[".".join(here)] = list(value)

    walk(data, (), False)
    return out


def is_acl_key(key: str) -> bool:
    """An ACL entry (``permissions.write``) rather than a members list (``data.members``)."""
    return any(_ACL_PARENT.match(part) for part in key.split(".")[:-1])


@dataclass(slots=True)
class ListBook:
    """What the path showed of every members or ACL list: ``(object URL, key) -> principals``, and
    which of them a request put there explicitly (not the owner entry a server adds on create)."""

    known: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    explicit: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def acl_holders(self, groups: Iterable[str]) -> set[str]:
        """Objects whose ACL names one of the groups (object paths such as ``/buckets/b/groups/g``)."""
        groups = set(groups)
        return {holder for (holder, key), members in self.known.items()
                if is_acl_key(key) and any(_same_object(m, g) for m in members for g in groups)}

    def groups_of(self, names: Iterable[str], *, explicit: bool = False) -> set[str]:
        """Group objects whose members list holds one of ``names``."""
        names = set(names)
        source = self.explicit if explicit else self.known
        return {holder for (holder, key), members in source.items()
                if not is_acl_key(key) and any(principal_names(m) & names for m in members)}

    def open_to_everyone(self, step: StepResult) -> bool:
        """An ACL entry covering ``step`` names everyone (for the step's kind of access)."""
        return any(is_everyone(m) and _class_fits(key, step) for (holder, key), members in self.known.items()
                   if is_acl_key(key) and url_under(step.request.path, holder) for m in members)

    def granted_otherwise(self, names: Iterable[str], step: StepResult, exclude: set[str]) -> bool:
        """Whether an explicit ACL entry covering ``step`` still names the caller (directly, through a
        group it is an explicit member of other than ``exclude``), or everyone."""
        names = set(names)
        groups = self.groups_of(names, explicit=True) - exclude
        url = step.request.path
        for (holder, key), members in self.known.items():
            if not is_acl_key(key) or not url_under(url, holder):
                continue
            explicit = self.explicit.get((holder, key), set())
            for m in members:
                if is_everyone(m) and _class_fits(key, step):
                    return True
                if m in explicit and (principal_names(m) & names or any(_same_object(m, g) for g in groups)):
                    return True
        return False


def _class_fits(key: str, step: StepResult) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return access_class(step.template) == "read" or "read" not in last


def _same_object(principal: str, holder: str) -> bool:
    """A group principal (``/buckets/b/groups/g``) and the URL the group was seen at (``/v1/buckets/b/groups/g``)."""
    p, h = _url(principal), _url(holder)
    return p.startswith("/") and len(p) > 1 and (h == p or h.endswith(p) or p.endswith(h))


def _holder_url(step: StepResult) -> str:
    """The object whose lists a step showed: its URL, or for a create by POST the URL of the new object."""
    url = _url(step.request.path)
    if step.request.method.upper() == "POST" and step.response is not None:
        answer = step.response.json()
        data = answer.get("data", answer) if isinstance(answer, dict) else None
        if isinstance(data, dict) and _scalar(data.get("id")) and not url.endswith("/" + str(data["id"])):
            return f"{url}/{data['id']}"
    return url


# --- permission calls by their body ------------------------------------------------------------------

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


# --- the tracker -----------------------------------------------------------------------------------


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


# --- evidence from the recording --------------------------------------------------------------------


def recorded_path(tset: Any, exchanges: Mapping[int, Exchange]) -> list[StepResult]:
    """The whole recording as one path, in its recorded order across sessions (a grant in the admin's
    session and a refusal in bob's belong to one story)."""
    steps = sorted((s for steps in tset.sessions.values() for s in steps), key=lambda s: s.seq)
    out = []
    for s in steps:
        tpl = tset.templates.get(s.template)
        ex = exchanges.get(s.seq)
        if tpl is not None and ex is not None and ex.response is not None:
            out.append(StepResult(template=tpl, request=ex.request, response=ex.response))
    return out


def refusal_evidence(path: Sequence[StepResult]) -> set[tuple[str, str]]:
    """``(scope kind, access class)`` pairs the recording shows the server checking per principal: a
    principal was refused a call (401/403) that an access change of that principal is about, while
    it did not hold that access (after its revocation, or before a grant that came later)."""
    tracker = AccessTracker()
    for step in path:
        tracker.add(step)
    changes, book = tracker.changes, tracker.book
    evidence: set[tuple[str, str]] = set()
    for i, step in enumerate(path):
        if not refused(step):
            continue
        names = caller_names(path, i)
        if not names:
            continue
        for change in changes:
            if not change.concerns(names):
                continue
            if not covers(change.scope, step, book, children_of(path, change.scope, len(path))):
                continue
            before = [c for c in changes if c.index < i and c.concerns(names) and c.scope.kind == change.scope.kind]
            lost = change.kind == "revoke" and change.index < i and (not before or before[-1].kind == "revoke")
            lacked = change.kind == "grant" and change.index > i
            if lost or lacked:
                evidence.add((change.scope.kind, access_class(step.template)))
    return evidence
