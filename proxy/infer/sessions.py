"""Flow sessions: which recorded exchanges are one flow, whatever connections carried them.

"A then B" is learned within a session, values bind within a session, and the explorer replays each
session from its start. The recorded session is the client connection, which says little: scripts,
curl loops and many SDKs open a connection per request (every call its own session, no binding
ever), while one pooled connection may carry every user's calls. So inference regroups:

1. a session the client named (``X-Venom-Session``, recorded as ``hdr:<name>``) stays as it is;
2. a request carrying a credential (``Authorization``, an API-key header, a login cookie) belongs
   to that credential;
3. any other request belongs to its recorded session (its connection);
4. groups linked by value flow are one flow session: a request that carries a value an earlier
   answer of another group produced (an id in its path, query or body, a token, a login cookie), or
   a Basic password that an earlier request sent (a user created by an admin, a sign-up, a password
   change), joins that group. Small numbers link only through the create that made them
   (``POST /items`` answered ``{"id": 3}``, then ``/items/3``).

A flow session is thus a connected component: the admin who creates users and the users who then
log in, the user whose experiment another user writes to. Values of the recording that no later
request of another group carries leave the groups apart. Named sessions are never merged: the
client said what its sessions are.

One pass over the exchanges, before inference proper. The value index keeps only what can link
(ids, tokens, passwords, Location segments, cookies), in two bounded generations, so memory stays
flat however long the recording is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from venom_replay.proxy.infer.accumulators import id_like_key
from venom_replay.proxy.infer.credentials import (
    AUTH_COOKIE_RE,
    MIN_PASSWORD,
    basic_credentials,
    credential_of,
    is_credential_header,
    password_fields,
    short_hash,
)
from venom_replay.proxy.infer.path_patterns import segment_kind, split_path
from venom_replay.proxy.infer.values import (
    form_pairs,
    is_form,
    is_trivial_key,
    parse_cookie_header,
    parse_set_cookie,
    request_values,
    url_segments,
    value_key,
)
from venom_replay.proxy.recording import Exchange, Request
from venom_replay.proxy.redact import is_secret_field

EXPLICIT_PREFIX = "hdr:"
"""How the recording proxy names a session the client named with ``X-Venom-Session``."""
INDEX_GENERATION = 1 << 16
"""Values remembered per generation (two are kept): linking needs the recent producers only."""


# ---------------------------------------------------------------- grouping


class _Groups:
    """Union-find over group names; named sessions (``fixed``) are never merged with anything."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.fixed: set[str] = set()

    def add(self, name: str, fixed: bool = False) -> None:
        if name not in self.parent:
            self.parent[name] = name
            if fixed:
                self.fixed.add(name)

    def find(self, name: str) -> str:
        root = name
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[name] != root:  # path compression
            self.parent[name], name = root, self.parent[name]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb or ra in self.fixed or rb in self.fixed:
            return
        self.parent[rb] = ra


class _Latest:
    """value -> the group that produced it last, in two bounded generations."""

    __slots__ = ("new", "old")

    def __init__(self) -> None:
        self.new: dict[Any, str] = {}
        self.old: dict[Any, str] = {}

    def put(self, key: Any, group: str) -> None:
        if key not in self.new and len(self.new) >= INDEX_GENERATION:
            self.old, self.new = self.new, {}
        self.new[key] = group

    def get(self, key: Any) -> str | None:
        found = self.new.get(key)
        return found if found is not None else self.old.get(key)


_LINKABLE_FIELD = re.compile(rb'"([A-Za-z_][A-Za-z0-9_]{0,63})"\s*:\s*(?:"([^"\\]{3,512})"|(-?[0-9]{3,19})(?![0-9.eE]))')
"""A JSON field with a string or integer value worth linking on (three characters or digits at
least: smaller values link nothing). Answers are scanned with it instead of parsed: only a few of
their fields (ids, tokens, keys) can link sessions, and this pass runs before inference proper."""


_LITERAL = re.compile(rb'"([^"\\]{3,512})"|(?<![\w.])(-?[0-9]{3,19})(?![0-9.eE])')
"""A string or integer literal of a request body (keys included: none of them links anything)."""
_MAY_SET_PASSWORD = re.compile(rb"pass|pwd|secret|api_?key", re.I)
"""A cheap test before a request is parsed for the password it sets."""


def _carried(req: Request) -> Iterator[str]:
    """The values a request carries in its query and body, as text."""
    for _, value in req.query:
        yield value
    if not req.body or req.body_truncated:
        return
    if is_form(req.headers):
        for _, value in form_pairs(req.body):
            yield value
        return
    for text, number in _LITERAL.findall(req.body):
        yield (text or number).decode("utf-8", "replace")


@lru_cache(maxsize=4096)
def _linkable_key(key: str) -> bool:
    """Answer fields whose values may link sessions: one object's id, a token, a key."""
    return id_like_key(key) or is_secret_field(key)


def base_group(ex: Exchange) -> tuple[str, bool]:
    """The group an exchange starts in, and whether it is fixed (a session the client named)."""
    if ex.session.startswith(EXPLICIT_PREFIX):
        return ex.session, True
    credential = credential_of(ex.request)
    if credential is not None:
        return "cred:" + short_hash(credential), False
    return "rec:" + ex.session, False


class FlowLinker:
    """Reads the exchanges in order and links the groups that value flow connects."""

    def __init__(self) -> None:
        self.groups = _Groups()
        self.produced = _Latest()
        """Distinctive values answers produced (ids, tokens, cookies, Location segments)."""
        self.created = _Latest()
        """(collection path, id) of what a create answered with: small ids link only through it."""
        self.passwords = _Latest()
        """Passwords and keys requests sent (a user create, a sign-up, a password change)."""

    def add(self, ex: Exchange) -> str:
        """Link one exchange (in recording order) and index what it produced; returns its base group."""
        group, fixed = base_group(ex)
        self.groups.add(group, fixed)
        for producer in self._producers(ex.request):
            self.groups.union(producer, group)
        resp = ex.response
        if resp is not None and resp.status < 400:
            self._index_response(ex, group)
            req = ex.request
            if _MAY_SET_PASSWORD.search(req.body) or any(_MAY_SET_PASSWORD.search(k.encode()) for k, _ in req.query):
                self._index_passwords(req, request_values(req), group)
        return group

    def _index_passwords(self, req: Request, req_values: list[tuple[str, Any]], group: str) -> None:
        """A password the request set, under each name it may belong to (its fields, path, caller)."""
        secrets = password_fields(req_values)
        if not secrets:
            return
        basic = basic_credentials(req.header("authorization"))
        names = {str(v) for loc, v in req_values if isinstance(v, str) and not loc.startswith(("header:", "cookie:"))}
        names.update(split_path(req.path))
        if basic is not None:
            names.add(basic[0])
        for _, password in secrets:
            if len(password) < MIN_PASSWORD:
                continue
            self.passwords.put(("", password), group)
            for name in names:
                if name != password:
                    self.passwords.put((name, password), group)

    def _producers(self, req: Request) -> Iterator[str]:
        """The groups whose answers (or requests, for passwords) produced what this request carries:
        in its path, its query, its body (scanned, not parsed), its credential headers and cookies."""
        segs = split_path(req.path)
        for i, seg in enumerate(segs):
            key = value_key(seg)
            if key is None:
                continue
            found = self.created.get((segs[:i], key)) if is_trivial_key(key) else self.produced.get(key)
            if found is not None:
                yield found
        for value in _carried(req):
            if len(value) > 2 and not is_trivial_key(value):
                found = self.produced.get(value)
                if found is not None:
                    yield found
        for name, value in req.headers:
            lname = name.lower()
            if lname == "authorization":
                yield from self._credential_producers(value)
            elif lname == "cookie":
                for name, cookie in parse_cookie_header(value):
                    found = self.produced.get(cookie) if AUTH_COOKIE_RE.search(name) else None
                    if found is not None:
                        yield found
            elif is_credential_header(lname):
                found = self.produced.get(value)
                if found is not None:
                    yield found

    def _credential_producers(self, header: str) -> Iterator[str]:
        basic = basic_credentials(header)
        if basic is not None:
            user, password = basic
            found = self.passwords.get((user, password)) or self.passwords.get(("", password)) or self.produced.get(password)
        else:
            scheme, _, token = header.partition(" ")
            found = self.produced.get(token.strip() if token else scheme)
        if found is not None:
            yield found

    def _index_response(self, ex: Exchange, group: str) -> None:
        resp = ex.response
        assert resp is not None
        if not resp.body_truncated:
            for key, text, number in _LINKABLE_FIELD.findall(resp.body):
                if _linkable_key(key.decode()):
                    self.produced.put((text or number).decode("utf-8", "replace"), group)
        if ex.request.method.upper() == "POST" and resp.status < 300:
            self._index_created(ex.request, resp.json(), group)
        for name, value in resp.headers:
            lname = name.lower()
            if lname == "set-cookie":  # a login cookie; a theme or a CSRF token is everyone's
                cookie = parse_set_cookie(value)
                if cookie and cookie[1] and AUTH_COOKIE_RE.search(cookie[0]):
                    self.produced.put(cookie[1], group)
            elif lname == "location":
                self._index_location(value, group)
            elif value and is_credential_header(lname):
                self.produced.put(value, group)

    def _index_created(self, req: Request, data: Any, group: str) -> None:
        """``POST /items`` answered ``{"id": 3}`` (or ``{"item": {"id": 3}}``): ``/items/3`` is its."""
        if not isinstance(data, dict):
            return
        collection = split_path(req.path)
        for obj in (data, *(v for v in data.values() if isinstance(v, dict))):
            for key, value in obj.items():
                vkey = value_key(value)
                if vkey is not None and isinstance(key, str) and id_like_key(key):
                    self.created.put((collection, vkey), group)

    def _index_location(self, url: str, group: str) -> None:
        segs = url_segments(url)
        for seg in segs:
            key = value_key(seg)
            if key is not None and not is_trivial_key(key) and segment_kind(seg) != "word":
                self.produced.put(key, group)
        if segs:
            key = value_key(segs[-1])
            if key is not None:
                self.created.put((tuple(segs[:-1]), key), group)


def flow_sessions(exchanges: list[Exchange]) -> tuple[dict[int, str], dict[str, list[str]]]:
    """Each exchange's flow session (by seq), and each flow session's recorded sessions.

    ``exchanges`` in recording order. A flow session is named after the recorded session of its
    first exchange (``conn-3``; ``conn-3#2`` when one recorded session splits into several flows),
    so a recording whose connections already are its flows keeps its session names.
    """
    linker = FlowLinker()
    base = [linker.add(ex) for ex in exchanges]
    names: dict[str, str] = {}
    taken: set[str] = set()
    flow_of: dict[int, str] = {}
    parts: dict[str, dict[str, None]] = {}
    for ex, group in zip(exchanges, base):
        root = linker.groups.find(group)
        name = names.get(root)
        if name is None:
            name = ex.session
            k = 2
            while name in taken:
                name, k = f"{ex.session}#{k}", k + 1
            names[root] = name
            taken.add(name)
        flow_of[ex.seq] = name
        parts.setdefault(name, {})[ex.session] = None
    return flow_of, {name: list(recorded) for name, recorded in parts.items()}
