"""Field domains: what each response field's values looked like (type, sign, enumeration, range, format).

Every rule asks for support and variation before it believes a fact: a field seen five times with the
same value says little about the field, and a string field whose values clients sent is free text,
not an enumeration. Facts hold for a field *when it is present*; a field must be there only when every
recorded object had it and it is not a list or map the recording only showed non-empty (servers that
leave empty lists out of their JSON omit it on every fresh object; ``presence.py``). An enumeration is never learned
over values that name objects or moments (ids, URIs, hashes, timestamps: ``identifiers.py``), nor
over values that grow with the objects: each value must be shared by several objects.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from venom_replay.replay.learned.identifiers import looks_like_identifier
from venom_replay.replay.learned.model import (
    LearnedInvariant,
    child_path,
    freeze,
    is_id_key,
    is_number,
    is_secret_path,
    json_type,
    objects_at,
)
from venom_replay.replay.learned.observe import LearnConfig
from venom_replay.replay.learned.presence import may_be_left_out

FORMATS: dict[str, re.Pattern[str]] = {
    "uuid": re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
    "date-time": re.compile(
        r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
    ),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    "url": re.compile(r"^https?://[^\s/$.?#][^\s]*$"),
}


def string_format(values: list[str]) -> str | None:
    """The one format every value has, if any."""
    for name, rx in FORMATS.items():
        if values and all(rx.match(v) for v in values):
            return name
    return None


def learn_domains(
    template_id: str,
    tables: Mapping[str, list[dict[str, Any]]],
    cfg: LearnConfig,
    *,
    enum_union: Mapping[str, set[str]],
    client_strings: set[str],
) -> list[LearnedInvariant]:
    out: list[LearnedInvariant] = []
    for pattern, rows in tables.items():
        keys = dict.fromkeys(k for row in rows for k in row)
        for key in keys:
            ctx = _FieldContext(template_id, pattern, str(key), child_path(pattern, str(key)), rows)
            secret = is_secret_path(ctx.path)  # an enumeration or a range would print the secret's values
            for rule in (_type_rule, _non_negative_rule, _format_rule) if secret else (_type_rule, _non_negative_rule, _range_rule, _format_rule):
                inv = rule(ctx, cfg)
                if inv is not None:
                    out.append(inv)
            if secret:
                continue
            inv = _enum_rule(ctx, cfg, enum_union.get(str(key), set()), client_strings)
            if inv is not None:
                out.append(inv)
    return out


class _FieldContext:
    __slots__ = ("template", "pattern", "key", "path", "present", "absent", "distinct", "rows")

    def __init__(self, template: str, pattern: str, key: str, path: str, rows: list[dict[str, Any]]):
        self.template, self.pattern, self.key, self.path = template, pattern, key, path
        self.present = [row[key] for row in rows if key in row]
        self.absent = len(rows) - len(self.present)
        self.distinct = len({freeze(v) for v in self.present})
        self.rows = rows

    def make(self, kind: str, expr: str, support: int, distinct: int, confidence: float, examples: list[Any], **params: Any) -> LearnedInvariant:
        return LearnedInvariant(
            template=self.template,
            expr=expr,
            kind=kind,
            support=support,
            distinct=distinct,
            confidence=confidence,
            examples=examples[:5],
            params={"pattern": self.pattern, "key": self.key, **params},
        )


def _identity(row: dict[str, Any]) -> str:
    """Which object a row shows: its id field when it has one (the same order read five times is
    one order), else its whole content."""
    for key, value in row.items():
        if is_id_key(str(key)) and isinstance(value, (str, int)) and not isinstance(value, bool):
            return f"{key}={value}"
    return freeze(row)


def _examples(values: list[Any], limit: int = 5) -> list[Any]:
    seen: dict[Any, Any] = {}
    for v in values:
        seen.setdefault(freeze(v), v)
        if len(seen) >= limit:
            break
    return list(seen.values())


def _type_rule(f: _FieldContext, cfg: LearnConfig) -> LearnedInvariant | None:
    # Always of one type (optionally or null) where present; required where always present, unless
    # it is a list or map never seen empty (then "absent" is how the server writes "empty").
    if len(f.present) < cfg.min_support:
        return None
    types = {json_type(v) for v in f.present}
    nullable = "null" in types
    types.discard("null")
    if len(types) != 1:
        return None
    (name,) = types
    required = not f.absent and not may_be_left_out([v for v in f.present if v is not None])
    expr = f"{f.path} is {name}" + (" or null" if nullable else "") + ("" if required else " when present")
    # Seeing the same type n times by chance is unlikely only if values vary; be modest otherwise.
    confidence = 1 - 0.5 ** min(f.distinct, 20)
    return f.make("type", expr, len(f.present), f.distinct, confidence, _examples(f.present), type=name,
                  nullable=nullable, required=required)


def _numbers(f: _FieldContext) -> list[float]:
    return [v for v in f.present if is_number(v)]


def _non_negative_rule(f: _FieldContext, cfg: LearnConfig) -> LearnedInvariant | None:
    nums = _numbers(f)
    if len(nums) < cfg.min_support or len(nums) != len([v for v in f.present if v is not None]):
        return None
    distinct = len(set(nums))
    if distinct < cfg.min_distinct or min(nums) < 0:
        return None
    # Were the sign a coin flip, `distinct` non-negative values would come up with chance 0.5**distinct.
    confidence = 1 - 0.5**distinct
    return f.make("non-negative", f"{f.path} >= 0", len(nums), distinct, confidence, _examples(nums))


def _range_rule(f: _FieldContext, cfg: LearnConfig) -> LearnedInvariant | None:
    # Only where the evidence is strong: many objects, and both bounds hit by several different
    # objects, which is what a clamped value (a rating, a percentage) looks like; a counter's or an
    # amount's extremes are not. Lists repeat the same object, so count objects, not observations.
    if is_id_key(f.key) or len(f.present) < cfg.range_min_support or not all(is_number(v) for v in f.present):
        return None
    per_object = {_identity(row): row[f.key] for row in f.rows if is_number(row.get(f.key))}
    counts = Counter(per_object.values())
    if len(per_object) < cfg.range_min_support // 2 or len(counts) < cfg.min_distinct:
        return None
    low, high = min(counts), max(counts)
    if counts[low] < 2 or counts[high] < 2:
        return None
    singletons = sum(1 for c in counts.values() if c == 1)
    confidence = 1 - singletons / len(per_object)  # Good-Turing over objects
    if confidence < cfg.enum_min_confidence:
        return None
    expr = f"{_num(low)} <= {f.path} <= {_num(high)}"
    return f.make("range", expr, len(f.present), len(counts), confidence, [low, high], low=low, high=high)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _format_rule(f: _FieldContext, cfg: LearnConfig) -> LearnedInvariant | None:
    strings = [v for v in f.present if isinstance(v, str)]
    if len(strings) < cfg.min_support or len(strings) != len([v for v in f.present if v is not None]):
        return None
    distinct = len(set(strings))
    if distinct < 2:
        return None
    fmt = string_format(strings)
    if fmt is None:
        return None
    confidence = 1 - 0.5**distinct
    return f.make("format", f"{f.path} format {fmt}", len(strings), distinct, confidence, _examples(strings), format=fmt)


def _enum_rule(
    f: _FieldContext, cfg: LearnConfig, union: set[str], client_strings: set[str]
) -> LearnedInvariant | None:
    strings = [v for v in f.present if isinstance(v, str)]
    if not strings or len(strings) != len([v for v in f.present if v is not None]) or is_id_key(f.key):
        return None
    counts = Counter(strings)
    # The same key under other templates may show states this template never returned (a status
    # that only the cancel call showed): allow the union, so an unseen ordering is not a finding.
    allowed = set(counts) | union
    if len(allowed) > cfg.max_enum or len(strings) < max(cfg.min_support, 2 * len(counts)):
        return None
    if string_format(list(counts)) is not None or any(v in client_strings for v in allowed):
        return None  # a format or free text the clients chose, not a set of server states
    if any(looks_like_identifier(v) for v in allowed):
        return None  # values that name objects or moments: every new object brings a new one
    objects = {_identity(row) for row in f.rows if isinstance(row.get(f.key), str)}
    if len(counts) > cfg.enum_max_values_per_object * len(objects):
        return None  # as many values as objects: a per-object value read again and again, not a state
    singletons = sum(1 for c in counts.values() if c == 1)
    confidence = 1 - singletons / len(strings)  # Good-Turing: chance the next value is new
    if confidence < cfg.enum_min_confidence:
        return None
    shown = ",".join(json.dumps(v) for v in sorted(allowed))
    return f.make(
        "enum", f"{f.path} in {{{shown}}}", len(strings), len(counts), confidence, sorted(counts), values=sorted(allowed)
    )


# ---------------------------------------------------------------- checking


def check_domain(inv: LearnedInvariant, body: Any) -> list[dict[str, Any]]:
    """Objects in ``body`` that break a domain invariant, with the values that broke it."""
    pattern, key = inv.params["pattern"], inv.params["key"]
    path = child_path(pattern, key)
    failures: list[dict[str, Any]] = []
    for obj in objects_at(body, pattern):
        if inv.kind == "type":
            if key not in obj:
                if inv.params.get("required", True):
                    failures.append({path: "<missing>"})
                continue
            value = obj[key]
            if value is None and inv.params.get("nullable"):
                continue
            if json_type(value) != inv.params["type"]:
                failures.append({path: value, "type": json_type(value)})
            continue
        if key not in obj or obj[key] is None:
            continue  # presence and null-ness are the type rule's business
        value = obj[key]
        if inv.kind == "non-negative" and is_number(value) and value < 0:
            failures.append({path: value})
        elif inv.kind == "range" and is_number(value) and not inv.params["low"] <= value <= inv.params["high"]:
            failures.append({path: value})
        elif inv.kind == "format" and isinstance(value, str) and not FORMATS[inv.params["format"]].match(value):
            failures.append({path: value})
        elif inv.kind == "enum" and isinstance(value, str) and value not in inv.params["values"]:
            failures.append({path: value})
    return failures
