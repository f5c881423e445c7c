"""Relations: between numeric fields of one object (``a <= b``, ``a == b``, ``a == b + c``) and
between a request and its response (the created or updated object echoes the sent fields).

A relation is evidence only when the values vary. For ``a <= b`` we also ask how likely the relation
would have been if ``a`` and ``b`` were unrelated: pairing the seen values of ``a`` with the seen
values of ``b`` at random, how often would every observed pair satisfy it? A field that is always
small next to one that is always large (an id next to a price) satisfies ``<=`` by range alone, and
is rejected; ``refunded <= amount``, where refunds of one order exceed the amount of another, is not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from itertools import combinations, permutations
from typing import Any

from venom_replay.replay.learned.model import (
    LearnedInvariant,
    child_path,
    freeze,
    is_id_key,
    is_number,
    iter_objects,
    leaf_value,
    objects_at,
    same_value,
    scalar_leaves,
)
from venom_replay.replay.learned.observe import LearnConfig, TemplateSamples

Rows = Counter  # value tuple (None where absent) -> how many objects showed it


def _numeric_rows(rows: list[dict[str, Any]], cfg: LearnConfig) -> tuple[Rows, list[str]]:
    """The objects projected on their numeric, non-id fields, identical projections counted once
    with their multiplicity (a list repeats the same objects in every response)."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(k for k, v in row.items() if is_number(v) and not is_id_key(k))
    keys = [k for k, n in counts.most_common(cfg.max_relation_fields) if n >= cfg.min_support]
    projected: Rows = Counter()
    for row in rows:
        projected[tuple(v if is_number(v := row.get(k)) else None for k in keys)] += 1
    return projected, keys


def _le_chance(pairs: list[tuple[float, float]]) -> float:
    """Chance that random pairings of the seen a- and b-values satisfy a <= b as often, with at
    least as many ties, as the observed pairs did (a binomial tail over the distinct pairs)."""
    a_vals = sorted({a for a, _ in pairs})
    b_vals = sorted({b for _, b in pairs})
    total = len(a_vals) * len(b_vals)
    p_eq = sum(1 for a in a_vals for b in b_vals if math.isclose(a, b)) / total
    p_lt = sum(1 for a in a_vals for b in b_vals if a < b and not math.isclose(a, b)) / total
    n = len(pairs)
    ties = sum(1 for a, b in pairs if math.isclose(a, b))
    return sum(math.comb(n, s) * p_eq**s * p_lt ** (n - s) for s in range(ties, n + 1))


def learn_numeric_relations(
    template_id: str, tables: Mapping[str, list[dict[str, Any]]], cfg: LearnConfig
) -> list[LearnedInvariant]:
    out: list[LearnedInvariant] = []
    for pattern, rows in tables.items():
        projected, keys = _numeric_rows(rows, cfg)
        if len(keys) < 2:
            continue
        col = {k: i for i, k in enumerate(keys)}
        equal_pairs: set[frozenset[str]] = set()
        for a, b in combinations(keys, 2):
            inv = _eq(template_id, pattern, _tuples(projected, col, (a, b)), a, b, cfg)
            if inv is not None:
                out.append(inv)
                equal_pairs.add(frozenset((a, b)))
        for a, b in permutations(keys, 2):
            if frozenset((a, b)) not in equal_pairs:
                inv = _le(template_id, pattern, _tuples(projected, col, (a, b)), a, b, cfg)
                if inv is not None:
                    out.append(inv)
        if len(keys) >= 3:
            for total in keys:
                for b, c in combinations([k for k in keys if k != total], 2):
                    inv = _sum(template_id, pattern, _tuples(projected, col, (total, b, c)), total, b, c, cfg)
                    if inv is not None:
                        out.append(inv)
    return out


Observed = Counter  # value tuple of the fields in a relation -> multiplicity


def _tuples(projected: Rows, col: Mapping[str, int], keys: tuple[str, ...]) -> Observed:
    out: Observed = Counter()
    idx = [col[k] for k in keys]
    for row, n in projected.items():
        values = tuple(row[i] for i in idx)
        if None not in values:
            out[values] += n
    return out


def _varied(values: Observed, cfg: LearnConfig) -> bool:
    if sum(values.values()) < cfg.min_support or len(values) < cfg.min_distinct:
        return False
    width = len(next(iter(values)))
    return all(len({v[i] for v in values}) >= 2 for i in range(width))


def _relation(template_id: str, pattern: str, kind: str, expr: str, fields: list[str], values: Observed, confidence: float) -> LearnedInvariant:
    distinct = list(values)
    return LearnedInvariant(
        template=template_id,
        expr=expr,
        kind=kind,
        support=sum(values.values()),
        distinct=len(distinct),
        confidence=confidence,
        examples=[dict(zip(fields, v)) for v in distinct[:5]],
        params={"pattern": pattern, "fields": fields},
    )


def _eq(template_id: str, pattern: str, values: Observed, a: str, b: str, cfg: LearnConfig) -> LearnedInvariant | None:
    if not _varied(values, cfg) or not all(same_value(x, y) for x, y in values):
        return None
    distinct = len(values)
    confidence = 1 - distinct ** -distinct  # chance that k distinct values all pair up equal at random
    if confidence < cfg.min_confidence:
        return None
    pa, pb = child_path(pattern, a), child_path(pattern, b)
    return _relation(template_id, pattern, "eq", f"{pa} == {pb}", [a, b], values, confidence)


def _le(template_id: str, pattern: str, values: Observed, a: str, b: str, cfg: LearnConfig) -> LearnedInvariant | None:
    if not _varied(values, cfg) or not all(x <= y or math.isclose(x, y) for x, y in values):
        return None
    confidence = 1 - _le_chance(list(values))  # type: ignore[arg-type]
    if confidence < cfg.min_confidence:
        return None
    pa, pb = child_path(pattern, a), child_path(pattern, b)
    return _relation(template_id, pattern, "le", f"{pa} <= {pb}", [a, b], values, confidence)


def _sum(template_id: str, pattern: str, values: Observed, total: str, b: str, c: str, cfg: LearnConfig) -> LearnedInvariant | None:
    if not _varied(values, cfg) or not all(same_value(t, x + y) for t, x, y in values):
        return None
    distinct = len(values)
    confidence = 1 - distinct ** -distinct  # a sum holding by chance is rarer still than an equality
    if confidence < cfg.min_confidence:
        return None
    pt, pb, pc = (child_path(pattern, k) for k in (total, b, c))
    return _relation(template_id, pattern, "sum", f"{pt} == {pb} + {pc}", [total, b, c], values, confidence)


def check_relation(inv: LearnedInvariant, body: Any) -> list[dict[str, Any]]:
    pattern, fields = inv.params["pattern"], inv.params["fields"]
    failures: list[dict[str, Any]] = []
    for obj in objects_at(body, pattern):
        if not all(is_number(obj.get(k)) for k in fields):
            continue  # a missing or non-numeric field is the type rule's business
        vals = [obj[k] for k in fields]
        broke = (
            (inv.kind == "le" and not (vals[0] <= vals[1] or math.isclose(vals[0], vals[1])))
            or (inv.kind == "eq" and not same_value(vals[0], vals[1]))
            or (inv.kind == "sum" and not same_value(vals[0], vals[1] + vals[2]))
        )
        if broke:
            failures.append({child_path(pattern, k): v for k, v in zip(fields, vals)})
    return failures


# ---------------------------------------------------------------- request -> response


def learn_echoes(template_id: str, samples: TemplateSamples, cfg: LearnConfig) -> list[LearnedInvariant]:
    """Response fields that always equal a sent field: the created object echoes what was posted,
    an update's response reflects the sent value."""
    evidence: dict[tuple[str, str], list[Any]] = {}
    broken: set[tuple[str, str]] = set()
    for request, body in zip(samples.requests, samples.bodies):
        if not isinstance(request, dict) or not isinstance(body, dict):
            continue
        wrappers = [p for p, _ in iter_objects(body) if "[*]" not in p]
        for sent_path, sent in scalar_leaves(request):
            for wrapper in wrappers:
                key = (sent_path, wrapper + sent_path[1:])
                found, got = leaf_value(body, key[1])
                if found and same_value(sent, got):
                    evidence.setdefault(key, []).append(sent)
                else:
                    broken.add(key)  # a different value, or missing from an object that holds it elsewhere
    out = []
    for (sent_path, resp_path), sent_values in evidence.items():
        if (sent_path, resp_path) in broken:
            continue
        distinct = len({freeze(v) for v in sent_values})
        if len(sent_values) < cfg.echo_min_support or distinct < 2:
            continue
        out.append(
            LearnedInvariant(
                template=template_id,
                expr=f"{resp_path} == request {sent_path}",
                kind="echo",
                support=len(sent_values),
                distinct=distinct,
                confidence=1 - 0.5**distinct,
                examples=list({freeze(v): v for v in sent_values}.values())[:5],
                params={"request_path": sent_path, "response_path": resp_path},
            )
        )
    return out


def check_echo(inv: LearnedInvariant, request_body: Any, body: Any) -> list[dict[str, Any]]:
    sent_found, sent = leaf_value(request_body, inv.params["request_path"]) if isinstance(request_body, dict) else (False, None)
    if not sent_found or isinstance(sent, (dict, list)):
        return []
    found, got = leaf_value(body, inv.params["response_path"])
    if found and same_value(sent, got):
        return []
    return [{"request " + inv.params["request_path"]: sent, inv.params["response_path"]: got if found else "<missing>"}]
