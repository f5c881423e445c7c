"""Path patterns: which path segments are parameters, and what to call them.

A segment becomes a parameter when it looks like an identifier and either varies among the paths
that share its prefix or was produced by an earlier response: ``/orders/17`` and ``/orders/18`` give
``/orders/{order_id}``; a UUID or a long hex token is an identifier on sight; a slug such as
``red-shoes-2`` only when a response produced it first (``produced``). Plain words (``refund``,
``search``) stay literal unless a position holds so many distinct values that it can only be data.

RPC-style APIs put the verb in the path (``POST /api/2.0/mlflow/experiments/delete``,
``conversations.archive``, ``projects/x:undelete``): ``rpc_verb`` says what such a last segment
asks for, so that names and effects read the noun before it (``experiment``), not the verb.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Iterable

PARAM = None
"""The placeholder for a parameter in a pattern tuple."""
Pattern = tuple[str | None, ...]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\Z")
_INT = re.compile(r"^-?\d+\Z")
_HEX = re.compile(r"^[0-9a-fA-F]{12,}\Z")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.~=+]{16,}\Z")
_WORD = re.compile(r"^[A-Za-z][A-Za-z.]*\Z")

HIGH_CARDINALITY = 25
"""Distinct literal values at one position above which the position is data, not a route."""


@lru_cache(maxsize=16384)
def segment_kind(seg: str) -> str:
    """``uuid``, ``int``, ``hex``, ``token`` (long random-looking), ``word`` or ``slug``."""
    if _INT.match(seg):
        return "int"
    if _UUID.match(seg):
        return "uuid"
    if _HEX.match(seg) and any(c.isdigit() for c in seg) and any(c.isalpha() for c in seg):
        return "hex"
    if _TOKEN.match(seg) and sum(c.isdigit() for c in seg) >= 2 and any(c.isalpha() for c in seg):
        return "token"
    if _WORD.match(seg):
        return "word"
    return "slug"


TRAILING = ""
"""The last segment of ``/v1/``: a trailing slash is part of the route (``/v1`` may answer 307)."""


def split_path(path: str) -> tuple[str, ...]:
    """``/orders/7/`` -> ``('orders', '7', '')``: empty segments dropped, a trailing slash kept as ``''``."""
    path = path.split("?", 1)[0]
    segs = tuple(seg for seg in path.split("/") if seg)
    if segs and path.endswith("/"):
        return segs + (TRAILING,)
    return segs


def infer_patterns(
    paths: Iterable[tuple[str, ...]],
    produced: set[str] | frozenset[str] = frozenset(),
    *,
    high_cardinality: int = HIGH_CARDINALITY,
) -> dict[tuple[str, ...], Pattern]:
    """Map each distinct segment tuple (of one origin) to its pattern (``PARAM`` for parameters).

    Positions are decided level by level among the paths that share the already-decided prefix, so
    ``/users/1/orders/7`` and ``/users/2/orders/8`` are compared at the orders level as one group.
    """
    out: dict[tuple[str, ...], Pattern] = {}
    _decide(list(set(paths)), 0, (), produced, high_cardinality, out)
    return out


def _decide(
    paths: list[tuple[str, ...]],
    depth: int,
    prefix: Pattern,
    produced: set[str] | frozenset[str],
    high_cardinality: int,
    out: dict[tuple[str, ...], Pattern],
) -> None:
    # An explicit stack instead of recursion keeps deep or numerous paths cheap.
    stack = [(paths, depth, prefix)]
    while stack:
        group, depth, prefix = stack.pop()
        longer: list[tuple[str, ...]] = []
        for p in group:
            if len(p) == depth:
                out[p] = prefix
            else:
                longer.append(p)
        if not longer:
            continue
        distinct = {p[depth] for p in longer}
        kinds = {s: segment_kind(s) for s in distinct}
        n_int = sum(1 for k in kinds.values() if k == "int")
        params: set[str] = set()
        for seg, kind in kinds.items():
            if kind in ("uuid", "hex", "token"):
                params.add(seg)
            elif kind == "int" and (n_int >= 2 or seg in produced):
                params.add(seg)
            elif kind == "slug" and seg in produced:
                params.add(seg)
        literals = distinct - params
        if len(literals) >= high_cardinality:
            params |= literals
        buckets: dict[str | None, list[tuple[str, ...]]] = {}
        for p in longer:
            seg = p[depth]
            buckets.setdefault(PARAM if seg in params else seg, []).append(p)
        for key, members in buckets.items():
            stack.append((members, depth + 1, prefix + (key,)))


def singular(word: str) -> str:
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "zes", "ches", "shes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 2:
        return w[:-1]
    return w


def _ident(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    if not text or text[0].isdigit():
        text = f"p_{text}"
    return text


def param_names(pattern: Pattern) -> list[str]:
    """Names for the parameters of a pattern, from the literal segment before each one.

    ``('users', None, 'orders', None)`` -> ``['user_id', 'order_id']``; a parameter with no literal
    before it is ``id``; repeats get ``_2``, ``_3``.
    """
    names: list[str] = []
    used: set[str] = set()
    for i, part in enumerate(pattern):
        if part is not PARAM:
            continue
        prev = pattern[i - 1] if i > 0 else None
        base = f"{_ident(singular(prev))}_id" if isinstance(prev, str) and not _INT.match(prev) else "id"
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        names.append(name)
    return names


@lru_cache(maxsize=4096)
def render_pattern(pattern: Pattern) -> str:
    """``('users', None)`` -> ``/users/{user_id}``."""
    names = iter(param_names(pattern))
    parts = [f"{{{next(names)}}}" if part is PARAM else part for part in pattern]
    return "/" + "/".join(parts)  # type: ignore[arg-type]


def param_index_names(pattern: Pattern) -> dict[int, str]:
    """Segment index -> parameter name, for the parameters of a pattern."""
    names = iter(param_names(pattern))
    return {i: next(names) for i, part in enumerate(pattern) if part is PARAM}


def action_subject(pattern: Pattern) -> str | None:
    """``/orders/{order_id}/pay`` (and ``/orders/7/pay``): ``orders``, the collection of the resource
    the action is on. None for paths that do not end in a verb after an id (``/users/{user_id}/orders``
    is a sub-collection: its plural names what a POST creates)."""
    parts = pattern[:-1] if pattern and pattern[-1] == TRAILING else pattern
    if len(parts) < 3:
        return None
    verb, ident, owner = parts[-1], parts[-2], parts[-3]
    if not isinstance(verb, str) or singular(verb) != verb.lower() or segment_kind(verb) != "word":
        return None
    if not (ident is PARAM or segment_kind(ident) != "word") or not isinstance(owner, str):
        return None
    return owner


# ---------------------------------------------------------------- RPC-style verbs

VerbKind = str
"""``create``, ``read``, ``update``, ``delete``, ``archive`` or ``restore``."""

RPC_VERBS: dict[str, VerbKind] = {
    **dict.fromkeys(("create", "add", "new", "insert", "register"), "create"),
    **dict.fromkeys(("get", "read", "fetch", "list", "search", "query", "find", "lookup", "describe", "show"), "read"),
    **dict.fromkeys(("update", "edit", "modify", "patch", "rename", "set"), "update"),
    **dict.fromkeys(("delete", "remove", "destroy", "purge", "trash"), "delete"),
    "archive": "archive",
    **dict.fromkeys(("restore", "undelete", "untrash", "recover", "unarchive"), "restore"),
}
_VERB_SPLIT = re.compile(r"[-_]|(?<=[a-z])(?=[A-Z])")


@lru_cache(maxsize=4096)
def rpc_verb(segment: str) -> VerbKind | None:
    """What a verb segment asks for: ``delete``, ``experiments.delete``, ``x:undelete`` say it whole.

    A compound (``get-by-name``, ``getHistory``, ``search_runs``) counts only as a read: in
    ``delete-tag`` the verb acts on a tag, not on the object the call names, so it is no delete.
    """
    word = re.split(r"[.:]", segment)[-1]
    kind = RPC_VERBS.get(word.lower())
    if kind is not None:
        return kind
    first = _VERB_SPLIT.split(word, 1)[0].lower()
    return "read" if first != word.lower() and RPC_VERBS.get(first) == "read" else None


def last_literal(pattern: Pattern) -> str | None:
    """The last segment of a pattern when it is a literal (a trailing slash skipped)."""
    parts = pattern[:-1] if pattern and pattern[-1] == TRAILING else pattern
    return parts[-1] if parts and isinstance(parts[-1], str) else None


def pattern_verb(pattern: Pattern) -> VerbKind | None:
    """``rpc_verb`` of a pattern's last literal segment (None when it ends in a parameter)."""
    last = last_literal(pattern)
    return rpc_verb(last) if last else None


def noun_before_verb(literals: list[str]) -> str | None:
    """The noun an RPC verb acts on: ``[..., 'experiments', 'create']`` -> ``experiments``;
    ``conversations.archive`` -> ``conversations``. None when the last literal is no verb."""
    if not literals or rpc_verb(literals[-1]) is None:
        return None
    head = re.split(r"[.:]", literals[-1])[:-1]
    if head and head[-1]:
        return head[-1]
    return literals[-2] if len(literals) >= 2 else None
