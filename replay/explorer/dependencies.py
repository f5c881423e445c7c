"""Which recorded steps a recorded step needs: the data flow of the recording itself.

A finding found from a prefix root starts with a long stretch of the recording (everything up to
that moment, every session). Shrinking it by trial and error costs one replay per try; most of
those steps are irrelevant, and the ones that matter are known from the recording: a step needs the
step whose answer first gave a value its request carries (an id, a token, an ETag), and the write
that introduced a name it uses (the user created before it logs in). The closure of those needs is
a first candidate that usually reproduces at once; trial and error shrinks the rest.

Small values (``1``, ``alice``) coincide easily, so they count only at bound locations (template
bindings and cross-session hints, which name the producing template: product 4 is not user 4) and at
identity places (credentials, user-name fields); distinctive ones (uuids, tokens, dates) count
wherever they stand.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence

from venom_replay.proxy.infer.effects import READ_METHODS
from venom_replay.proxy.infer.instantiate import path_params
from venom_replay.proxy.infer.model import ActionTemplate, Step, TemplateSet
from venom_replay.proxy.infer.values import request_values, response_values
from venom_replay.proxy.recording import Exchange, Request
from venom_replay.replay.explorer.translation import comparable, distinctive

_IDENTITY = re.compile(r"(^|[_.$'\[])(user(name)?|login|email|account|password|passwd|api_?key|token)('?\]?)$", re.I)
_ID_NAME = re.compile(r"(^|[_.$'\[])(id|uuid|guid|key|slug|ref|[a-z]+_id|[a-z]+Id)('?\]?)$")


def _credential_parts(value: str) -> list[str]:
    """``Bearer <t>`` -> [t]; ``Basic <b64>`` -> [user, password]; anything else -> []."""
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return [rest.strip()]
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(rest.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return []
        return [user, password]
    return []


_WEAK, _ANY = "", "*"
"""Producer markers of a use: a distinctive value only (``_WEAK``), or any value from any step (``_ANY``)."""


def _request_uses(tpl: ActionTemplate, req: Request) -> Iterable[tuple[object, str]]:
    """``(value, producer)`` for every value the request carries: ``producer`` is the template that a
    binding or cross-session hint names for its location, ``_ANY`` at identity places, else ``_WEAK``."""
    named = {c.location: c.producer for c in tpl.consumes} | {h.location: h.producer for h in tpl.cross_session}
    for name, value in (path_params(tpl.path, req.path) or {}).items():
        yield value, named.get(f"path:{name}", _WEAK)
    for segment in req.path.split("/"):
        yield segment, _WEAK
    for loc, value in request_values(req):
        producer = named.get(loc) or named.get(re.sub(r"\[\d+\]", "[*]", loc))
        yield value, producer or (_ANY if _IDENTITY.search(loc) else _WEAK)
        if loc in ("header:Authorization", "header:Proxy-Authorization") and isinstance(value, str):
            for part in _credential_parts(value):
                yield part, _ANY


def recorded_dependencies(tset: TemplateSet, exchanges: Mapping[int, Exchange],
                          order: Sequence[tuple[str, Step]]) -> dict[int, frozenset[int]]:
    """For each recorded step (by seq, in ``order``), the earlier steps it needs directly."""
    provider: dict[tuple[str, str], int] = {}
    """``(template, value) -> seq`` of the step that gave it, and ``(_ANY, value)`` for any template."""
    needs: dict[int, frozenset[int]] = {}
    for _, step in order:
        ex = exchanges.get(step.seq)
        tpl = tset.templates.get(step.template)
        if ex is None or tpl is None:
            continue
        wanted = set()
        for value, producer in _request_uses(tpl, ex.request):
            key = comparable(value)
            if key is None:
                continue
            giver = provider.get((producer, key)) if producer not in (_WEAK, _ANY) else None
            if giver is None and (producer == _ANY or distinctive(key)):
                giver = provider.get((_ANY, key))
            if giver is not None:
                wanted.add(giver)
        needs[step.seq] = frozenset(wanted)
        _register(provider, tpl, ex, step.seq)
    return needs


def _register(provider: dict[tuple[str, str], int], tpl: ActionTemplate, ex: Exchange, seq: int) -> None:
    """What this step gives later ones: values its answer carried (the newest giver wins), and names
    a write introduced (the first one wins: a later update repeats them)."""
    if ex.response is None or ex.response.status >= 400:
        return
    produced = {p.source for p in tpl.produces}
    # A read shows what exists: it gives only what no step gave before (a listing does not create
    # the user it lists). A write's answer gives what it made, the newest giver winning.
    give = provider.setdefault if tpl.method in READ_METHODS else provider.__setitem__
    for source, value in response_values(ex.response, generalize=False):
        key = comparable(value)
        if key is None:
            continue
        give((tpl.id, key), seq)
        if distinctive(key) or re.sub(r"\[\d+\]", "[*]", source) in produced or _ID_NAME.search(source):
            give((_ANY, key), seq)
    if tpl.method not in READ_METHODS:
        for loc, value in request_values(ex.request):
            key = comparable(value)
            if key is not None and loc.startswith(("body:", "form:")):
                provider.setdefault((tpl.id, key), seq)
                provider.setdefault((_ANY, key), seq)


def closure(needs: Mapping[int, Iterable[int]], seeds: Iterable[int]) -> set[int]:
    """``seeds`` and every step they need, directly or not."""
    out: set[int] = set()
    todo = list(seeds)
    while todo:
        seq = todo.pop()
        if seq not in out:
            out.add(seq)
            todo.extend(needs.get(seq, ()))
    return out
