"""Learned invariants: the data model and the JSON helpers every learner and the checker share.

An invariant is a likely fact about one template's responses (or about a path of calls) that the
recorded traffic showed every time it could be observed. It keeps the evidence with it: how many
observations supported it, how many distinct values they had, a confidence in [0, 1], and examples,
so that a person can judge a finding built on it in seconds.

JSON paths are written ``$.a.b``; ``[*]`` stands for "every element of this array", so
``$.orders[*].refunded`` is the ``refunded`` field of every listed order.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from venom_replay.proxy.recording import Request
from venom_replay.proxy.infer.effects import READ_METHODS
from venom_replay.proxy.infer.model import ActionTemplate

# Kinds, grouped by the learner that produces them (see replay/learned_*.py).
DOMAIN_KINDS = ("type", "non-negative", "enum", "range", "format")
RELATION_KINDS = ("le", "eq", "sum", "echo")
COLLECTION_KINDS = ("list-shape", "listed-readable", "deleted-unlisted")
STATUS_KINDS = ("status",)
KIND_ORDER = {k: i for i, k in enumerate(
    ("type", "format", "non-negative", "range", "enum", "le", "eq", "sum", "echo", "list-shape", "listed-readable", "deleted-unlisted", "status")
)}
"""Report order of the kinds: the first broken kind names a finding."""


@dataclass(slots=True)
class LearnedInvariant:
    template: str
    """Id of the template whose responses (or steps) the invariant is about."""
    expr: str
    """Readable expression over JSON paths, e.g. ``$.refunded <= $.amount``."""
    kind: str
    support: int
    """Observations that showed the fact (objects, responses or path situations, depending on kind)."""
    distinct: int
    """Distinct values (or value tuples) among those observations: variation is what makes it evidence."""
    confidence: float
    """1 - the chance that the fact held by coincidence in the recording (a rough, honest estimate)."""
    examples: list[Any] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    """What the checker needs to evaluate it (paths, operator, allowed values ...)."""
    label: str = ""
    """The template's readable label, ``POST /orders/{order_id}/refund``."""

    @property
    def key(self) -> str:
        """How a config `ignore` entry names this invariant: ``<template> :: <expr>``."""
        return f"{self.template} :: {self.expr}"

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["examples"] = [jsonable(v) for v in (masked_examples(self) if redact else self.examples)]
        data["confidence"] = round(self.confidence, 4)
        return data


# ---------------------------------------------------------------- JSON values


def jsonable(value: Any) -> Any:
    """A value that json.dumps accepts as strict JSON: dataclasses become dicts, tuples lists, sets
    sorted lists, NaN and infinities and anything else their repr. Learned invariants, their findings
    and report.json all go through it."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=repr)
    return repr(value)


def json_type(value: Any) -> str:
    """JSON type name; integers and floats are both ``number`` (serialisers switch between them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def freeze(value: Any) -> Any:
    """A hashable stand-in for a JSON value, so values can be counted and compared as set members."""
    if value is None or isinstance(value, (str, int, float)):
        return (type(value).__name__, value)  # fast path; keeps True and 1 apart
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality where 3 == 3.0 but True != 1."""
    if is_number(a) and is_number(b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return freeze(a) == freeze(b)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def child_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if _IDENT.match(key) else f"{parent}[{json.dumps(key)}]"


def iter_objects(value: Any, path: str = "$", depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object inside ``value`` with its path pattern (array indexes written ``[*]``)."""
    if depth > 32:  # pathological nesting: stop rather than recurse forever
        return
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            if isinstance(child, (dict, list)):
                yield from iter_objects(child, child_path(path, str(key)), depth + 1)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                yield from iter_objects(item, f"{path}[*]", depth + 1)


def objects_at(body: Any, pattern: str) -> list[dict[str, Any]]:
    """The objects of ``body`` whose path pattern is ``pattern``."""
    return [obj for path, obj in iter_objects(body) if path == pattern]


def scalar_leaves(value: Any, path: str = "$", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``(path, value)`` for every scalar inside objects (not inside arrays): request bodies' fields."""
    if depth > 32 or not isinstance(value, dict):
        return
    for key, child in value.items():
        sub = child_path(path, str(key))
        if isinstance(child, dict):
            yield from scalar_leaves(child, sub, depth + 1)
        elif not isinstance(child, list):
            yield sub, child


def leaf_value(body: Any, path: str) -> tuple[bool, Any]:
    """Follow a path without ``[*]`` (``$.a.b`` or ``$["a b"]``); returns (found, value)."""
    current = body
    for key in split_path(path):
        if not isinstance(current, dict) or key not in current:
            return False, None
        current = current[key]
    return True, current


_SEGMENT = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\]|\[\*\]')


def split_path(path: str) -> list[str]:
    """Keys of a ``$.a["b c"]`` path (``[*]`` segments are kept as the string ``[*]``)."""
    keys: list[str] = []
    pos = 1 if path.startswith("$") else 0
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None:
            break
        if m.group(1) is not None:
            keys.append(m.group(1))
        elif m.group(2) is not None:
            keys.append(json.loads(m.group(2)))
        else:
            keys.append("[*]")
        pos = m.end()
    return keys


def normalize_path(path: str) -> str:
    """``$.items[3].id`` -> ``$.items[*].id``: volatile lists may name one element."""
    return re.sub(r"\[\d+\]", "[*]", path)


def volatile_paths(template: ActionTemplate) -> set[str]:
    return {normalize_path(p) for p in template.volatile if p.startswith("$")}


def is_volatile(path: str, volatile: set[str]) -> bool:
    """A path is volatile when it or one of its ancestors is listed as volatile."""
    return any(path == v or path.startswith(v + ".") or path.startswith(v + "[") for v in volatile)


_ID_KEY = re.compile(r"(^id$|_id$|Id$|^uuid$|_uuid$|^pk$)")


def is_id_key(key: str) -> bool:
    """Identifier fields: counters the server hands out, not quantities (no relations among them)."""
    return bool(_ID_KEY.search(key))


# ---------------------------------------------------------------- requests and paths


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", pattern)
    rx = "".join("([^/]+)" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    return re.compile(f"^{rx}/?$")


def path_params(template_path: str, request_path: str) -> dict[str, str]:
    """Values of the ``{name}`` parameters of a template path in one concrete request path."""
    names = re.findall(r"\{([^}/]+)\}", template_path)
    if not names:
        return {}
    m = _pattern_regex(template_path).match(request_path.split("?", 1)[0])
    if m is None:
        return {}
    return dict(zip(names, m.groups()))


def resource_keys(template_path: str, request_path: str) -> list[tuple[str, str]]:
    """The resources a call addresses, outermost first: ``/orders/{id}/refund`` with id 5 ->
    ``[("/orders/{}", "5")]``. Parameter names are dropped, so ``DELETE /orders/{order_id}`` and
    ``GET /orders/{id}`` address the same resource when the values match."""
    m = _pattern_regex(template_path).match(request_path.split("?", 1)[0])
    if m is None:
        return []
    keys: list[tuple[str, str]] = []
    value_iter = iter(m.groups())
    prefix = ""
    for part in re.split(r"(\{[^}/]+\})", template_path):
        if part.startswith("{") and part.endswith("}"):
            prefix += "{}"
            keys.append((prefix, next(value_iter)))
        else:
            prefix += part
    return keys


def normalize_template_path(path: str) -> str:
    return re.sub(r"\{[^}/]+\}", "{}", path).rstrip("/") or "/"


def is_read(template: ActionTemplate) -> bool:
    return template.method.upper() in READ_METHODS


def request_json(request: Request | None) -> Any:
    """The request's JSON body; None without one (Request.json() reads a malformed body as None)."""
    return None if request is None else request.json()


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def short(value: Any, limit: int = 80) -> str:
    text = json.dumps(jsonable(value)) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def object_tables(bodies: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Every object of every body, grouped by path pattern: the rows the learners count over."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        for pattern, obj in iter_objects(body):
            tables.setdefault(pattern, []).append(obj)
    return tables


def cross_template_strings(tables: Iterable[Mapping[str, list[dict[str, Any]]]]) -> dict[str, set[str]]:
    """String values seen under each key name anywhere in the responses (enumerations' union)."""
    seen: dict[str, set[str]] = {}
    for table in tables:
        for rows in table.values():
            for obj in rows:
                for key, value in obj.items():
                    if isinstance(value, str):
                        seen.setdefault(str(key), set()).add(value)
    return seen


def sent_strings(requests: list[Any]) -> set[str]:
    """String values that clients sent in request bodies: values the server did not choose."""
    sent: set[str] = set()
    for body in requests:
        for _, obj in iter_objects(body):
            sent.update(v for v in obj.values() if isinstance(v, str))
        if isinstance(body, str):
            sent.add(body)
    return sent


# ---------------------------------------------------------------- secrets


def _last_key(path: str) -> str:
    keys = [k for k in split_path(path.removeprefix("request ")) if k != "[*]"]
    return keys[-1] if keys else ""


def is_secret_path(path: str) -> bool:
    """``$.user.api_token`` names a secret: reports show its values masked."""
    from venom_replay.proxy.redact import is_secret_field

    return path.startswith(("$", "request $")) and is_secret_field(_last_key(path))


def involves_secret(inv: LearnedInvariant) -> bool:
    from venom_replay.proxy.redact import is_secret_field

    params = inv.params
    names = [params.get("key", "")] + list(params.get("fields", []))
    names += [_last_key(params[p]) for p in ("request_path", "response_path") if p in params]
    return any(name and is_secret_field(str(name)) for name in names)


def masked_examples(inv: LearnedInvariant) -> list[Any]:
    from venom_replay.proxy.redact import mask_value, redact_json

    if not involves_secret(inv):
        return list(inv.examples)
    return [mask_value(v) if not isinstance(v, (dict, list)) else redact_json(v) for v in inv.examples]


def masked_observation(observed: dict[str, Any]) -> dict[str, Any]:
    """A broken observation with the values of secret-named paths masked."""
    from venom_replay.proxy.redact import mask_value, redact_json

    return {k: mask_value(v) if is_secret_path(k) and not isinstance(v, (dict, list)) else redact_json(v) for k, v in observed.items()}
