"""Credentials per identity: a recording made in one environment, explored in another.

A recording carries the passwords and tokens of the machine it was made on. ``--auth`` and the
``[auth]`` config section map each recorded identity (named as ``show`` lists them) to the target's
credentials::

    --auth admin=basic:admin:s3cret        # HTTP Basic user and password
    --auth ci-bot=bearer:eyJhbGciOi...      # a static bearer token
    --auth carol=header:X-Api-Key:k-123     # any header

    [auth]
    alice = "basic:alice:${ALICE_PASSWORD}"  # ${NAME} reads the environment

Identities are named, in order of first appearance: the Basic user name; for a token, cookie or key,
the login name in the request whose answer handed it out; else ``identity-1``, ``identity-2``...

What the mapping changes (decided here, see README "Another environment"):

- Only the credential an identity had when it first appeared: that is what the target's environment
  holds. A password a recorded call sets later (sign-up, password change) is set again by the
  replay, and the requests that use it keep it.
- The identity's recorded requests carry the mapped credential instead of the recorded one (the
  recorded credential header is dropped, the mapped header set; a Basic header is rebuilt).
- An identity that logged in through a body (``POST /login {username, password}``) and is mapped
  with ``basic:USER:PASS`` gets USER and PASS in the name and password fields of its login requests; the
  token or cookie its answer hands out is then bound as usual. ``bearer:`` and ``header:`` mappings
  of such an identity replace the header where the token was recorded, which a live login on the
  path still overrides: use ``basic:`` for those.

Secrets never leave this module in messages: ``Credential`` prints masked.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.infer.credentials import (
    basic_credentials,
    credential_of,
    field_name,
    password_fields,
)
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.infer.values import (
    form_pairs,
    is_form,
    json_set,
    request_values,
)
from venom_replay.proxy.recording import Exchange, Request

Kind = Literal["basic", "bearer", "header"]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LOGIN_NAME_FIELDS = re.compile(r"^(user(name)?|login|email|name|account|client_id)$", re.IGNORECASE)
_AUTH_FORMS = "basic:USER:PASS, bearer:TOKEN or header:NAME:VALUE"


@dataclass(frozen=True, slots=True)
class Credential:
    """What the target accepts for one identity."""

    kind: Kind
    user: str = ""
    secret: str = field(default="", repr=False)
    header: str = "Authorization"

    def header_value(self) -> str:
        if self.kind == "basic":
            return "Basic " + base64.b64encode(f"{self.user}:{self.secret}".encode()).decode()
        if self.kind == "bearer":
            return f"Bearer {self.secret}"
        return self.secret

    def describe(self) -> str:
        """The credential with its secret masked, for messages and reports."""
        if self.kind == "basic":
            return f"basic:{self.user}:***"
        return "bearer:***" if self.kind == "bearer" else f"header:{self.header}:***"


def parse_credential(text: str, where: str) -> Credential:
    """``basic:USER:PASS`` | ``bearer:TOKEN`` | ``header:NAME:VALUE``; ``${NAME}`` reads the environment."""
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    rest = expand_environment(rest, where)
    if kind == "basic":
        user, sep, password = rest.partition(":")
        if sep and user:
            return Credential("basic", user, password)
    elif kind == "bearer" and rest:
        return Credential("bearer", secret=rest)
    elif kind == "header":
        name, sep, value = rest.partition(":")
        if sep and name.strip():
            return Credential("header", secret=value.strip(), header=name.strip())
    raise ConfigError(f"{where}: expected {_AUTH_FORMS} (got {kind or 'nothing'}:...)")


def expand_environment(text: str, where: str) -> str:
    """``${NAME}`` replaced by the environment variable; an unset one is an error naming it."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: the environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(value, text)


def parse_auth_options(options: Iterable[str]) -> dict[str, Credential]:
    """``--auth IDENTITY=CREDENTIAL`` values (repeatable) as a mapping."""
    out: dict[str, Credential] = {}
    for option in options:
        identity, sep, credential = option.partition("=")
        if not sep or not identity.strip():
            raise ConfigError(f"--auth {option.split(':', 1)[0]}...: expected IDENTITY={_AUTH_FORMS}")
        out[identity.strip()] = parse_credential(credential, f"--auth {identity.strip()}")
    return out


def auth_from_config(raw: Mapping[str, Any]) -> dict[str, Credential]:
    """The ``[auth]`` section: identity = "credential" strings."""
    section = raw.get("auth") or {}
    if not isinstance(section, dict):
        raise ConfigError("[auth] must be a table of identity = \"basic:USER:PASS\" entries")
    out: dict[str, Credential] = {}
    for identity, credential in section.items():
        if not isinstance(credential, str):
            raise ConfigError(f"[auth] {identity}: expected a string ({_AUTH_FORMS})")
        out[identity] = parse_credential(credential, f"[auth] {identity}")
    return out


# ---------------------------------------------------------------- recorded identities


@dataclass(slots=True)
class RecordedIdentity:
    """One caller of the recording, by the credential it first used."""

    name: str
    kind: str
    """``basic``, ``bearer``, ``header:<name>``, ``cookie``."""
    credential: str
    """The credential key (``credential_of``) of its first request; never printed."""
    requests: int = 0
    first_seq: int = 0
    login_seq: int | None = None
    """The exchange whose answer handed the credential out (a login), when one did."""
    login: tuple[tuple[str, str], tuple[str, str]] | None = field(default=None, repr=False)
    """((user location, user), (password location, password)) of that login request; never printed."""

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "requests": self.requests, "first_seq": self.first_seq}
        if self.login_seq is not None:
            out["login_seq"] = self.login_seq
        return out


def recorded_identities(exchanges: Sequence[Exchange]) -> list[RecordedIdentity]:
    """Every identity of the recording, named stably, in order of first appearance."""
    by_credential: dict[str, RecordedIdentity | None] = {}  # None: a later credential of a known identity
    taken: set[str] = set()
    unnamed = 0
    for ex in exchanges:
        key = credential_of(ex.request)
        if key is None:
            continue
        if key not in by_credential:
            name, kind, login = _name_of(ex.request, key, exchanges)
            if name is not None and any(i is not None and i.name == name and i.kind == kind for i in by_credential.values()):
                by_credential[key] = None  # a changed password: set by a recorded call, which the replay repeats
                continue
            if name is None or name in taken:
                unnamed += 1
                name = f"identity-{unnamed}"
            taken.add(name)
            by_credential[key] = RecordedIdentity(name, kind, key, first_seq=ex.seq)
            if login is not None:
                by_credential[key].login_seq, by_credential[key].login = login
        ident = by_credential[key]
        if ident is not None:
            ident.requests += 1
    return [i for i in by_credential.values() if i is not None]


Login = tuple[tuple[str, str], tuple[str, str]]


def _name_of(req: Request, key: str, exchanges: Sequence[Exchange]) -> tuple[str | None, str, tuple[int, Login] | None]:
    basic = basic_credentials(req.header("authorization"))
    if basic is not None:
        return basic[0], "basic", None
    carrier, _, value = key.partition(":")
    kind = "cookie" if carrier == "cookie" else "bearer" if value.lower().startswith("bearer ") else f"header:{carrier}"
    token = value.split(" ", 1)[1] if kind == "bearer" else value
    if kind == "cookie":
        token = value.split("=", 1)[-1].split(";")[0]
    login = _login_of(token, exchanges)
    return (login[1][0][1] if login else None), kind, login


def _login_of(token: str, exchanges: Sequence[Exchange]) -> tuple[int, Login] | None:
    """The first answer that handed out ``token`` whose request names a user and sends a password."""
    if len(token) < 8:
        return None
    needle = token.encode()
    for ex in exchanges:
        resp = ex.response
        if resp is None or not (needle in resp.body or any(token in v for _, v in resp.headers)):
            continue
        values = request_values(ex.request)
        passwords = password_fields(values)
        users = [(loc, v) for loc, v in values if isinstance(v, str) and _LOGIN_NAME_FIELDS.match(field_name(loc) or "")
                 and not loc.startswith(("header:", "cookie:"))]
        if passwords and users:
            return ex.seq, (users[0], passwords[0])
    return None


# ---------------------------------------------------------------- applying a mapping


@dataclass(slots=True)
class AuthMapping:
    """Which recorded identity gets which credential, checked against the recording."""

    credentials: dict[str, Credential]
    identities: list[RecordedIdentity]
    notes: list[str] = field(default_factory=list)

    def by_key(self) -> dict[str, tuple[RecordedIdentity, Credential]]:
        known = {i.name: i for i in self.identities}
        return {known[name].credential: (known[name], cred) for name, cred in self.credentials.items() if name in known}


def map_identities(credentials: Mapping[str, Credential], exchanges: Sequence[Exchange]) -> AuthMapping:
    """``credentials`` matched to the recording's identities; an unknown name is an error listing the known ones."""
    identities = recorded_identities(exchanges)
    names = [i.name for i in identities]
    unknown = sorted(set(credentials) - set(names))
    if unknown:
        raise ConfigError(f"auth: no recorded identity {', '.join(map(repr, unknown))} "
                          f"(recorded: {', '.join(names) or 'none'}; see `venom-replay show`)")
    return AuthMapping(dict(credentials), identities)


def apply_mapping(tset: TemplateSet, mapping: AuthMapping, exchanges: Iterable[Exchange] = ()) -> int:
    """Rewrite the requests replay sends to carry the mapped credentials: the templates' examples
    (explored steps) and ``exchanges`` (recorded steps replay as recorded); returns how many changed."""
    by_key = mapping.by_key()
    logins = [(i.login, cred) for i, cred in by_key.values() if i.login is not None and cred.kind == "basic"]
    requests: dict[int, Request] = {id(ex.request): ex.request for ex in exchanges}
    for tpl in tset.templates.values():
        for req in [*tpl.example_requests, *([tpl.example_request] if tpl.example_request is not None else [])]:
            requests[id(req)] = req
    changed = 0
    for req in requests.values():
        key = credential_of(req)
        if key in by_key and not _logs_in_through_body(*by_key[key]):
            _set_credential(req, key, by_key[key][1])
            changed += 1
        if logins:
            sent = dict(request_values(req))
            for (user, password), cred in logins:
                if sent.get(user[0]) == user[1] and sent.get(password[0]) == password[1]:
                    changed += _set_login(req, (user[0], password[0]), cred)
    return changed


def _logs_in_through_body(identity: RecordedIdentity, cred: Credential) -> bool:
    """Its token comes from a login that the mapped user and password redo: the token is bound live."""
    return identity.login is not None and cred.kind == "basic"


def _set_credential(req: Request, key: str, cred: Credential) -> None:
    carrier = key.split(":", 1)[0]
    drop = {carrier, cred.header.lower()} if carrier != "cookie" else {cred.header.lower()}
    req.headers = [(k, v) for k, v in req.headers if k.lower() not in drop] + [(cred.header, cred.header_value())]


def _set_login(req: Request, fields: tuple[str, str], cred: Credential) -> int:
    """A login request of the identity (its recorded user and password, any time it logged in) gets
    the mapped user and password in those fields (JSON or form bodies)."""
    values = dict(zip(fields, (cred.user, cred.secret)))
    if is_form(req.headers):
        pairs = form_pairs(req.body)
        names = {loc.removeprefix("form:"): v for loc, v in values.items() if loc.startswith("form:")}
        req.body = urlencode([(k, names.get(k, v)) for k, v in pairs]).encode()
    else:
        data = req.json()
        if data is None:
            return 0
        for loc, value in values.items():
            if loc.startswith("body:"):
                json_set(data, loc.removeprefix("body:"), value)
        req.body = json.dumps(data).encode()
    req.body_size = len(req.body)
    return 1


# ---------------------------------------------------------------- the mapping of one command run


_COMMAND_AUTH: ContextVar[dict[str, Credential] | None] = ContextVar("command_auth", default=None)


@contextmanager
def command_auth(credentials: Mapping[str, Credential]) -> Iterator[None]:
    """``--auth`` of the running command, for the recordings it loads (on top of ``[auth]``)."""
    token = _COMMAND_AUTH.set(dict(credentials))
    try:
        yield
    finally:
        _COMMAND_AUTH.reset(token)


def credentials_for(raw_config: Mapping[str, Any]) -> dict[str, Credential]:
    """``[auth]`` entries, overridden by the running command's ``--auth``."""
    return {**auth_from_config(raw_config), **(_COMMAND_AUTH.get() or {})}
