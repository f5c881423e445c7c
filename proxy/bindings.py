"""Value provenance: which earlier response produced a request value, and how sure we are.

While the recording is read (infer.py), every request value is looked up among the values that
earlier responses of the same session produced; each match is a candidate
``(producer, source, transform)``. Here the candidates of one request location are weighed across
all its instances:

- consistency: the share of instances the candidate explains, and in how many sessions;
- nearest producer: in how many instances it was the most recent match;
- trivial values (booleans, 0, small integers, one- or two-character strings) count only when the
  flow repeats in several instances with different values, or the names agree
  (``path:item_id`` and ``POST /items`` ``body:$.id``);
- tokens from login-like endpoints, identity transforms and exact (non-list) sources win ties.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Hashable

from .path_patterns import singular
from .template_model import Consumption
from .values import parse_json_path

Candidate = tuple[Hashable, str, str]
"""(producer template key, response source, transform)."""

MAX_TRACKED = 8
"""Distinct values kept per candidate: enough to tell a repeated flow from a coincidence."""
MAX_SESSIONS = 64
"""Distinct sessions kept per candidate (the score saturates long before)."""
_LOGIN = re.compile(r"(login|log-in|signin|sign-in|auth|token|session|oauth)", re.IGNORECASE)


@dataclass(slots=True)
class CandStats:
    support: int = 0
    nearest: int = 0
    nontrivial: int = 0
    dist_sum: int = 0
    only_bools: bool = True
    sessions: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)

    def merge(self, other: "CandStats") -> None:
        self.support += other.support
        self.nearest += other.nearest
        self.nontrivial += other.nontrivial
        self.dist_sum += other.dist_sum
        self.only_bools = self.only_bools and other.only_bools
        _add_capped(self.sessions, other.sessions, MAX_SESSIONS)
        _add_capped(self.values, other.values, MAX_TRACKED)


def _add_capped(target: set[str], items: set[str], cap: int) -> None:
    for item in items:
        if len(target) >= cap:
            return
        target.add(item)


Evidence = dict[Candidate, CandStats]


def record_instance(evidence: Evidence, candidates: dict[Candidate, int], pos: int, session: str, key: str, trivial: bool) -> None:
    """One request instance whose value matched ``candidates`` (candidate -> producer position).

    Constant work per candidate: counters, plus sessions and values kept only up to a cap
    (``MAX_SESSIONS``, ``MAX_TRACKED``), so evidence stays small however long the recording is.
    """
    nearest = max(candidates.values())
    only_bools = key.startswith("\x00")
    for cand, ppos in candidates.items():
        st = evidence.get(cand)
        if st is None:
            st = evidence[cand] = CandStats()
        st.support += 1
        st.dist_sum += pos - ppos
        if ppos == nearest:
            st.nearest += 1
        if not trivial:
            st.nontrivial += 1
        if not only_bools:
            st.only_bools = False
        sessions = st.sessions
        if len(sessions) < MAX_SESSIONS:
            sessions.add(session)
        values = st.values
        if len(values) < MAX_TRACKED:
            values.add(key)


def merge_evidence(into: Evidence, other: Evidence, remap: Callable[[Hashable], Hashable]) -> None:
    for (producer, source, transform), st in other.items():
        cand = (remap(producer), source, transform)
        if cand in into:
            into[cand].merge(st)
        else:
            into[cand] = CandStats(st.support, st.nearest, st.nontrivial, st.dist_sum, st.only_bools, set(st.sessions), set(st.values))


# ---------------------------------------------------------------- names


def _ident(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return text or "value"


@lru_cache(maxsize=8192)
def resource_name(path_pattern: str) -> str:
    literals = [s for s in path_pattern.split("/") if s and not s.startswith("{")]
    return _ident(singular(literals[-1])) if literals else "root"


@lru_cache(maxsize=8192)
def production_var(path_pattern: str, source: str) -> str:
    """A readable name for what a source holds: ``POST /orders`` ``body:$.id`` -> ``order_id``."""
    kind, _, where = source.partition(":")
    resource = resource_name(path_pattern)
    if kind == "body":
        try:
            keys = [p for p in parse_json_path(where) if isinstance(p, str) and p != "*"]
        except ValueError:
            keys = []
        if not keys:
            return f"{resource}_value"
        last = keys[-1]
        if last.lower() in ("id", "uuid", "guid", "pk", "slug", "key"):
            owner = _ident(singular(keys[-2])) if len(keys) >= 2 else resource
            return f"{owner}_{last.lower()}"
        return _ident(last)
    if kind == "header":
        lname = where.lower()
        if lname == "location":
            return f"{resource}_url"
        if lname == "etag":
            return f"{resource}_etag"
        return _ident(where)
    if kind == "cookie":
        return _ident(where)
    return _ident(source)


@lru_cache(maxsize=8192)
def location_name(location: str) -> str:
    kind, _, where = location.partition(":")
    if kind == "body":
        try:
            keys = [p for p in parse_json_path(where) if isinstance(p, str) and p != "*"]
        except ValueError:
            return _ident(where)
        if not keys:
            return "value"
        if keys[-1].lower() == "id" and len(keys) >= 2:
            return f"{_ident(singular(keys[-2]))}_id"
        return _ident(keys[-1])
    return _ident(where)


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def names_agree(location: str, producer_path: str, source: str, transform: str = "identity") -> bool:
    loc = _norm(location_name(location))
    if loc in ("", "value"):
        return False
    if transform.startswith("url-segment:") and loc == _norm(f"{resource_name(producer_path)}_id"):
        return True  # /docs/{doc_id} from the Location that POST /docs answered
    if loc == _norm(production_var(producer_path, source)):
        return True
    kind, _, where = source.partition(":")
    if kind == "body":
        try:
            keys = [p for p in parse_json_path(where) if isinstance(p, str) and p != "*"]
        except ValueError:
            return False
        return bool(keys) and keys[-1].lower() != "id" and _norm(keys[-1]) == loc
    return _norm(where) == loc


# ---------------------------------------------------------------- choosing


@dataclass(slots=True)
class Choice:
    producer: Hashable
    source: str
    transform: str
    score: float
    support: int
    sessions: int


def choose(
    location: str,
    present: int,
    evidence: Evidence,
    producer_path: Callable[[Hashable], str],
    forbidden: Callable[[Hashable, str], bool] = lambda producer, source: False,
) -> Choice | None:
    """The binding for one request location, or None when no candidate is convincing."""
    ranked = []
    for (producer, source, transform), st in evidence.items():
        if forbidden(producer, source):
            continue
        consistency = st.support / max(present, 1)
        # Cheap tests first: ``names_agree`` parses names and is needed only for candidates that count.
        if st.nontrivial:
            ok = consistency >= 0.25 or st.nontrivial >= 3
        else:
            repeated = st.support >= 3 and consistency >= 0.9 and len(st.values) >= 2
            ok = repeated or (
                not st.only_bools and consistency >= 0.6 and st.nearest * 2 >= st.support
                and names_agree(location, producer_path(producer), source, transform)
            )
        if not ok:
            continue
        agree = names_agree(location, producer_path(producer), source, transform)
        login = bool(_LOGIN.search(producer_path(producer)))
        rank = (
            round(consistency, 2),
            st.nearest,
            agree,
            login and location.lower() in ("header:authorization", "cookie:session"),
            transform == "identity",
            "[*]" not in source,
            -st.dist_sum / st.support,
        )
        strength = 1.0 if st.nontrivial else 0.8
        score = round(min(consistency, 1.0) * strength * (1 - 0.5 ** (st.support + len(st.sessions) - 1)), 3)
        ranked.append((rank, Choice(producer, source, transform, score, st.support, len(st.sessions))))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[0], reverse=True)
    return ranked[0][1]


def make_consumption(var: str, location: str, producer_id: str, choice: Choice) -> Consumption:
    return Consumption(
        var=var,
        location=location,
        producer=producer_id,
        source=choice.source,
        transform=choice.transform,
        score=choice.score,
        support=choice.support,
        sessions=choice.sessions,
    )
