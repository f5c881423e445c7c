"""Identities as values: HTTP Basic credentials bound to the request that set the password.

A Basic ``Authorization`` header is ``base64(user:password)``: no earlier answer carries it, so the
value provenance of bindings.py never sees where it came from. But a password is set by a call of
the recording (an admin creates the user, a sign-up, a password change) and used by the later
calls, which fail with the old one once it changed. Here the password of every Basic header is
looked up among the passwords earlier requests (or answers) of the same flow session set, and the
user it belongs to is found in that same exchange: a field (``$.username``), a path parameter
(``/accounts/{account_id}``), the answer, or the caller itself (changing one's own password).

The result is a binding ``header:Authorization <- <template> request:body:$.password (basic)`` with
a production that names where the user is (``Production.user_from``). Replay keeps the latest
password per user from whichever template set it, and renders a call as its recorded user with the
password that user has on the current path (the recorded one until a call of the path sets
another: unlike an id, an account may exist before the path creates it, so the binding never holds
a call back). A recorded request that sent a password which was not that user's current one (the
old password after a change, on purpose) keeps its recorded header: its example is listed in
``unbound_examples``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from venom_replay.proxy.infer.bindings import production_var
from venom_replay.proxy.infer.instantiate import CALLER, read_identity
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production
from venom_replay.proxy.infer.credentials import MIN_PASSWORD, basic_credentials, password_fields
from venom_replay.proxy.infer.values import request_values, response_values
from venom_replay.proxy.recording import Exchange

AUTH = "header:Authorization"
_USER_NAMES = ("user", "username", "login", "email", "name", "account")

Producer = tuple[str, str, str]
"""(producer template id, password location, where the user is)."""


@dataclass(slots=True)
class _Password:
    template: str
    location: str
    exchange: Exchange


@dataclass(slots=True)
class _Evidence:
    support: dict[Producer, int] = field(default_factory=dict)
    sessions: dict[Producer, set[str]] = field(default_factory=dict)


def bind_identities(templates: Mapping[str, ActionTemplate], walk: Iterable[tuple[Exchange, str]], *,
                    skip: set[str] = frozenset()) -> set[tuple[str, int]]:  # type: ignore[assignment]
    """Add the Basic identity bindings to ``templates``; returns the (template, seq) instances whose
    recorded credential did not come from the binding (stale or never set by a call).

    ``walk``: every exchange (with its flow session) and its template id, in recording order;
    ``skip``: templates whose ``Authorization`` the config binds.
    """
    walk = list(walk)
    evidence = {tid: ev for tid, ev in _gather(templates, walk).items() if tid not in skip}
    chosen, producers = _choose(evidence)
    if not chosen:
        return set()
    _attach(templates, chosen, producers, evidence)
    return _simulate(templates, walk)


def _gather(templates: Mapping[str, ActionTemplate], walk: list[tuple[Exchange, str]]) -> dict[str, _Evidence]:
    """Per consumer template: which (producer, password location, user location) explained its Basic headers."""
    used = _basic_passwords(walk)
    if not used:
        return {}
    evidence: dict[str, _Evidence] = {}
    latest: dict[str, dict[str, _Password]] = {}  # flow session -> password -> who set it last
    for ex, tid in walk:
        passwords = latest.setdefault(ex.session, {})
        basic = basic_credentials(ex.request.header("authorization"))
        if basic is not None and len(basic[1]) >= MIN_PASSWORD:
            setter = passwords.get(basic[1])
            if setter is not None:
                where = _user_location(setter.exchange, templates[setter.template], basic[0])
                if where is not None:
                    producer = (setter.template, setter.location, where)
                    ev = evidence.setdefault(tid, _Evidence())
                    ev.support[producer] = ev.support.get(producer, 0) + 1
                    ev.sessions.setdefault(producer, set()).add(ex.session)
        for location, value in _passwords_set(ex, used):
            passwords[value] = _Password(tid, location, ex)
    return evidence


def _basic_passwords(walk: list[tuple[Exchange, str]]) -> list[bytes]:
    """Every password a Basic header of the recording sent (as bytes, to find cheaply where it was set)."""
    out = set()
    for ex, _ in walk:
        basic = basic_credentials(ex.request.header("authorization"))
        if basic is not None and len(basic[1]) >= MIN_PASSWORD:
            out.add(basic[1].encode())
    return sorted(out)


def _passwords_set(ex: Exchange, used: list[bytes]) -> list[tuple[str, str]]:
    """Passwords a successful exchange set (request fields as ``request:``, answer fields), among
    those some Basic header used: an exchange whose bytes hold none of them is not parsed."""
    resp = ex.response
    if resp is None or not 200 <= resp.status < 300:
        return []
    req = ex.request
    raw = (req.body, resp.body, "&".join(f"{k}={v}" for k, v in req.query).encode())
    if not any(p in part for part in raw for p in used):
        return []
    out = [("request:" + loc, value) for loc, value in password_fields(request_values(req))]
    out += password_fields(response_values(resp))
    return [(loc, value) for loc, value in out if len(value) >= MIN_PASSWORD]


def _user_location(ex: Exchange, template: ActionTemplate, user: str) -> str | None:
    """Where ``user`` is in the exchange that set its password; None when nowhere."""
    fields = [loc for loc, value in request_values(ex.request) if value == user and not loc.startswith(("header:", "cookie:"))]
    if fields:
        fields.sort(key=lambda loc: not any(loc.lower().endswith(n) for n in _USER_NAMES))
        return "request:" + fields[0]
    for location in (f"request:path:{p}" for p in template.params):
        if read_identity(template, location, ex.request, ex.response) == user:
            return location
    if ex.response is not None:
        answered = [src for src, value in response_values(ex.response) if value == user and src.startswith("body:")]
        if answered:
            return answered[0]
    basic = basic_credentials(ex.request.header("authorization"))
    if basic is not None and basic[0] == user:
        return CALLER
    return None


def _choose(evidence: dict[str, _Evidence]) -> tuple[dict[str, Producer], list[Producer]]:
    """Per consumer, its best supported producer; and every template that sets passwords, with its
    best supported (password location, user location): a user create and a password change both set one."""
    total: dict[Producer, int] = {}
    for ev in evidence.values():
        for producer, n in ev.support.items():
            total[producer] = total.get(producer, 0) + n
    best_of_template: dict[str, Producer] = {}
    for producer, _ in sorted(total.items(), key=lambda kv: -kv[1]):
        best_of_template.setdefault(producer[0], producer)
    chosen: dict[str, Producer] = {}
    for consumer, ev in evidence.items():
        usable = [(n, p) for p, n in ev.support.items() if best_of_template.get(p[0]) == p]
        if usable:
            chosen[consumer] = max(usable)[1]
    return chosen, list(best_of_template.values())


def _attach(templates: Mapping[str, ActionTemplate], chosen: dict[str, Producer], producers: list[Producer],
            evidence: dict[str, _Evidence]) -> None:
    """The productions on the templates that set passwords; the bindings on the consumers (unless a
    learned binding, a bearer token, explains their ``Authorization`` already)."""
    var_of = {tid: _production(templates[tid], loc, where) for tid, loc, where in producers}
    for consumer, (tid, loc, where) in chosen.items():
        tpl = templates[consumer]
        if any(c.location == AUTH for c in tpl.consumes):
            continue
        ev = evidence[consumer]
        tpl.consumes.append(Consumption(var_of[tid], AUTH, tid, loc, "basic", support=ev.support[(tid, loc, where)],
                                        sessions=len(ev.sessions[(tid, loc, where)])))


def _production(tpl: ActionTemplate, location: str, user_from: str) -> str:
    for prod in tpl.produces:
        if prod.source == location:
            prod.user_from = user_from
            return prod.var
    base = production_var(tpl.path, location.removeprefix("request:"))
    taken = {p.var for p in tpl.produces}
    var, n = base, 2
    while var in taken:
        var, n = f"{base}_{n}", n + 1
    tpl.produces.append(Production(var, location, user_from))
    return var


def _simulate(templates: Mapping[str, ActionTemplate], walk: list[tuple[Exchange, str]]) -> set[tuple[str, int]]:
    """Replay the identities the way the explorer will: which recorded Basic headers were the current
    password of their user (bound), which were not. Scores the bindings on the way."""
    current: dict[str, dict[str, Any]] = {}  # flow session -> user -> password
    unbound: set[tuple[str, int]] = set()
    present: dict[str, int] = {}
    bound: dict[str, int] = {}
    for ex, tid in walk:
        tpl = templates[tid]
        users = current.setdefault(ex.session, {})
        basic = basic_credentials(ex.request.header("authorization"))
        if basic is not None and any(c.location == AUTH and c.transform == "basic" for c in tpl.consumes):
            present[tid] = present.get(tid, 0) + 1
            if users.get(basic[0]) == basic[1]:
                bound[tid] = bound.get(tid, 0) + 1
            else:
                unbound.add((tid, ex.seq))
        if ex.response is not None and 200 <= ex.response.status < 300:
            for prod in tpl.produces:
                if prod.user_from:
                    user = read_identity(tpl, prod.user_from, ex.request, ex.response)
                    password = read_identity(tpl, prod.source, ex.request, ex.response)
                    if user is not None and password is not None:
                        users[str(user)] = password
    for tid, n in present.items():
        _score(templates[tid], bound.get(tid, 0), n)
    return {(tid, seq) for tid, seq in unbound if any(c.transform == "basic" for c in templates[tid].consumes)}


def _score(tpl: ActionTemplate, bound: int, present: int) -> None:
    """Support is what the binding explains as the explorer will run it; one that explains nothing
    is dropped, and an ``Authorization`` it does explain is no input any more."""
    for c in [c for c in tpl.consumes if c.location == AUTH and c.transform == "basic"]:
        if not bound:
            tpl.consumes.remove(c)
            continue
        c.support = bound
        c.score = round(bound / present * (1 - 0.5 ** (bound + c.sessions - 1)), 3)
        tpl.fields = [f for f in tpl.fields if f.location != AUTH]
