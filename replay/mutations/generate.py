"""The mutations of one template variant, derived from the recording alone.

From the variant's example request and every recorded request of its template (the learned domain of
each field: its JSON types, the range of its numbers, the format of its strings) and from the answers
about the same resource (fields they carry that the request did not):

- payload: each JSON body field dropped in turn, sent as ``null``, as the wrong JSON type, ``{}`` where a list was;
- numbers (body fields and numeric query parameters): 0, -1, the learned min - 1 / max + 1, 2^31, 2^63, a huge one;
- strings: empty, very long, non-ASCII, and a value that breaks a learned format (date, email, uuid, url);
- path parameters: an id no answer ever produced;
- echoed fields: a field the answers about this resource carry (a checksum, a version), sent back;
- ``[mutations] extra_values``: the user's own values for a field.

They come in rounds of decreasing yield, field by field within a round, so a small budget still
tries the likeliest crash of every field first: drops, huge numbers, unknown ids and echoed fields;
then nulls, wrong types and the other number boundaries; then the strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.infer.values import child_key
from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.redact import is_secret_field
from venom_replay.replay.learned.domains import FORMATS
from venom_replay.replay.mutations.ids import (
    CreatedId,
    other_identity_ids,
    other_kind_ids,
)
from venom_replay.replay.mutations.model import Mutation
from venom_replay.replay.mutations.settings import MutationSettings, field_name

HIGH_SUPPORT = 5
"""Recorded values a numeric range needs before a value outside it counts as outside a domain."""
FORMAT_SUPPORT = 3
"""Recorded values that must all have a format before breaking it counts as outside a domain."""
LONG_STRING = 5000
NON_ASCII = "ünïcödé ✓ 漢字 🙂"
NEVER_PRODUCED_ID = 987654321
HUGE = 10**30
_INT = re.compile(r"^-?\d{1,18}$")
_BREAKERS = {"uuid": "not-a-uuid", "date-time": "2024-13-45T99:99:99", "date": "2024-13-45",
             "email": "not-an-email", "url": "not a url"}


@dataclass(slots=True)
class Domain:
    """What the recording shows of one request field."""

    values: list[Any] = field(default_factory=list)

    @property
    def numbers(self) -> list[float]:
        return [v for v in self.values if isinstance(v, (int, float)) and not isinstance(v, bool)]

    @property
    def strings(self) -> list[str]:
        return [v for v in self.values if isinstance(v, str)]

    def format(self) -> str | None:
        strings = self.strings
        if len(strings) < FORMAT_SUPPORT or len(strings) != len(self.values):
            return None
        return next((name for name, rx in FORMATS.items() if all(rx.match(s) for s in strings)), None)

    def outside_range(self, value: float) -> bool:
        numbers = self.numbers
        return len(numbers) >= HIGH_SUPPORT and len(numbers) == len(self.values) and not min(numbers) <= value <= max(numbers)


def body_fields(data: Any, prefix: str = "$") -> Iterable[tuple[str, Any]]:
    """Every field of a JSON body's objects, parents before children (list items: the first one)."""
    if isinstance(data, dict):
        for key, value in data.items():
            path = child_key(prefix, str(key))
            yield path, value
            yield from body_fields(value, path)
    elif isinstance(data, list) and data:
        yield from body_fields(data[0], f"{prefix}[0]")


def learn_request_domains(requests: Iterable[Request]) -> dict[str, Domain]:
    """Each body field's and query parameter's recorded values, by location (list items as ``[0]``)."""
    domains: dict[str, Domain] = {}
    for req in requests:
        for name, value in req.query:
            domains.setdefault(f"query:{name}", Domain()).values.append(_typed(value))
        data = req.json()
        if isinstance(data, (dict, list)):
            for path, value in body_fields(data):
                if not isinstance(value, (dict, list)):
                    domains.setdefault(f"body:{path}", Domain()).values.append(value)
    return domains


def _typed(text: str) -> Any:
    """A query value as the number it spells, else the text."""
    return int(text) if _INT.match(text) else text


def _number_values(domain: Domain | None, recorded: float) -> tuple[list[tuple[int | float, str]], list[tuple[int | float, str]]]:
    """(first-round, later) boundary values for a number field."""
    first = [(HUGE, "huge"), (2**31, "2^31")]
    later: list[tuple[int | float, str]] = [(0, "zero"), (-1, "minus one"), (2**63, "2^63")]
    numbers = domain.numbers if domain is not None else []
    if len(numbers) >= 2:
        low, high = min(numbers), max(numbers)
        first.insert(0, (high + 1, f"learned max {high}, + 1"))
        later.insert(0, (low - 1, f"learned min {low}, - 1"))
    seen: set[float] = set()
    dedup = []
    for group in (first, later):
        kept = [(v, n) for v, n in group if v != recorded and v not in seen and not seen.add(v)]
        dedup.append(kept)
    return dedup[0], dedup[1]


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "not-a-number"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "not-a-list"
    if isinstance(value, dict):
        return []
    return 0


def _string_values(domain: Domain | None, recorded: str) -> list[tuple[str, str, str]]:
    """(kind, value, note) for a string field."""
    out = [("string", "", "empty"), ("string", "x" * LONG_STRING, f"{LONG_STRING} characters"),
           ("string", NON_ASCII, "non-ASCII")]
    learned = domain.format() if domain is not None else None
    if learned is not None:
        out.insert(0, ("format", _BREAKERS[learned], f"breaks the learned {learned} format"))
    return [o for o in out if o[1] != recorded]


def _outside(domain: Domain | None, value: Any) -> bool:
    """The value breaks a domain learned with high support (a number out of range, a broken format)."""
    if domain is None:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return domain.outside_range(value)
    learned = domain.format()
    return learned is not None and isinstance(value, str) and not FORMATS[learned].match(value)


def _resource_fields(template: ActionTemplate, answers: Iterable[tuple[ActionTemplate, Response]],
                     request: Request) -> dict[str, Any]:
    """Fields (name -> a recorded value) that 2xx answers about this template's resource carry: objects
    in answers of templates on the same collection whose keys cover most of this request body's keys."""
    body = request.json()
    if not isinstance(body, dict) or not body:
        return {}
    base = _collection(template.path)
    keys = set(body)
    out: dict[str, Any] = {}
    for tpl, response in answers:
        if _collection(tpl.path) != base or not 200 <= response.status < 300:
            continue
        for obj in _objects(response.json()):
            if len(keys & set(obj)) * 2 >= len(keys):
                for key, value in obj.items():
                    if key not in keys and not isinstance(value, (dict, list)) and not is_secret_field(key):
                        out.setdefault(key, value)
    return out


def _collection(path: str) -> str:
    """``/posts/{post_id}`` -> ``/posts``: the collection a resource path belongs to."""
    parts = path.rstrip("/").split("/")
    if parts and parts[-1].startswith("{"):
        parts.pop()
    return "/".join(parts) or "/"


def _objects(data: Any, depth: int = 0) -> Iterable[dict[str, Any]]:
    if depth > 4:
        return
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _objects(value, depth + 1)
    elif isinstance(data, list):
        for item in data[:20]:
            yield from _objects(item, depth + 1)


def generate(template: ActionTemplate, request: Request, recorded: Sequence[Request],
             answers: Iterable[tuple[ActionTemplate, Response]], settings: MutationSettings,
             created: Sequence[CreatedId] = (), *, swap_identities: bool = False) -> list[Mutation]:
    """The mutations of the variant whose example request is ``request``, the likeliest crashes first,
    at most ``settings.per_template``. ``recorded``: every recorded request of the template (the
    learned domains); ``answers``: recorded answers of every template (echoed fields); ``created``:
    the ids recorded creates handed out (ids of another kind; with ``swap_identities``, another
    identity's ids of the same kind)."""
    domains = learn_request_domains(recorded)
    rounds: list[list[Mutation]] = [[], [], []]
    first, second, third = rounds

    for name in template.params:
        location = f"path:{name}"
        if settings.skips(location):
            continue
        first.append(Mutation("foreign-id", location, NEVER_PRODUCED_ID, "an id no answer produced"))
        for other in list(other_kind_ids(template, name, created))[:1]:
            second.append(Mutation("other-kind-id", location, other.value, f"an id {other.label} created"))
        if swap_identities:
            for other in list(other_identity_ids(template, name, request, created))[:1]:
                first.append(Mutation("other-identity-id", location, other.value,
                                      f"an id another identity created ({other.label})"))

    for name, text in request.query:
        location = f"query:{name}"
        if settings.skips(location):
            continue
        domain = domains.get(location)
        if _INT.match(text):
            high, low = _number_values(domain, int(text))
            first += [Mutation("number", location, v, n, _outside(domain, v)) for v, n in high[:2]]
            second += [Mutation("number", location, v, n, _outside(domain, v)) for v, n in high[2:] + low]
            second.append(Mutation("wrong-type", location, "not-a-number", "a number was recorded"))
        else:
            third += [Mutation(k, location, v, n, _outside(domain, v)) for k, v, n in _string_values(domain, text)]
        third.append(Mutation("drop", location))

    body = request.json()
    for path, value in body_fields(body) if isinstance(body, (dict, list)) else ():
        location = f"body:{path}"
        if settings.skips(location):
            continue
        domain = domains.get(location)
        first.append(Mutation("drop", location))
        second.append(Mutation("null", location, None))
        if isinstance(value, list):
            first.append(Mutation("empty-object", location, {}, "an object where a list was"))
            continue
        second.append(Mutation("wrong-type", location, _wrong_type(value), f"a {type(value).__name__} was recorded"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            high, low = _number_values(domain, value)
            first += [Mutation("number", location, v, n, _outside(domain, v)) for v, n in high[:1]]
            second += [Mutation("number", location, v, n, _outside(domain, v)) for v, n in high[1:] + low]
        elif isinstance(value, str):
            third += [Mutation(k, location, v, n, _outside(domain, v)) for k, v, n in _string_values(domain, value)]

    if isinstance(body, dict):
        for key, value in _resource_fields(template, answers, request).items():
            location = f"body:{child_key('$', key)}"
            if not settings.skips(location):
                first.append(Mutation("echo", location, value, "a field the answers about this resource carry"))

    extra = [Mutation("extra", loc, v, "[mutations] extra_values") for loc in _locations(request, template)
             for v in _extra_for(settings, loc)]
    out = extra + [m for group in rounds for m in _fair(group)]
    if not settings.strict_domains:  # a value outside a learned domain is only judged on request
        out = [replace(m, outside_domain=False) for m in out]
    return _unique(out)[: max(0, settings.per_template)]


def _locations(request: Request, template: ActionTemplate) -> list[str]:
    body = request.json()
    fields = [f"body:{p}" for p, _ in body_fields(body)] if isinstance(body, (dict, list)) else []
    return [f"path:{p}" for p in template.params] + [f"query:{k}" for k, _ in request.query] + fields


def _extra_for(settings: MutationSettings, location: str) -> list[Any]:
    values = settings.extra_values
    return [*values.get("*", ()), *values.get(field_name(location), ()), *values.get(location, ())]


def _fair(group: list[Mutation]) -> list[Mutation]:
    """One mutation per field in turn: every field gets its first try before any field its second."""
    by_field: dict[str, list[Mutation]] = {}
    for m in group:
        by_field.setdefault(m.location, []).append(m)
    out: list[Mutation] = []
    queues = list(by_field.values())
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def _unique(mutations: list[Mutation]) -> list[Mutation]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for m in mutations:
        key = (m.kind, m.location, json.dumps(m.value, sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out
