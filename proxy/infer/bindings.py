"""Value provenance: which earlier response produced a request value, and how sure we are.

While the recording is read (observe.py), every request value is looked up among the values that
earlier responses of the same session produced; each match is a candidate
``(producer, source, transform)``. Here the candidates of one request location are weighed across
all its instances:

- consistency: the share of instances the candidate explains, and in how many sessions;
- nearest producer: in how many instances it was the most recent match;
- trivial values (booleans, 0, small integers, one- or two-character strings) need evidence beyond
  equality: the flow repeats in several instances with different values; or the names agree
  (``path:item_id`` and ``POST /items`` ``body:$.id``) and the candidate was the nearest producer;
  or the create that produced it: the names agree and the producer creates, with the source its new
  object's id (``experiments/create`` ``$.experiment_id`` -> ``experiments/delete``
  ``{"experiment_id": "1"}``, ``?experiment_id=1``, ``experiment_ids[0]``, or ``resource_id`` beside
  ``resource_type: "experiment"``); or the structure says so: the path parameter addresses the
  collection the producer created (``POST /items`` creates what ``/items/{item_id}`` addresses) or
  the create's ``Location`` header pointed at exactly the requested path. One clean instance of
  create -> act-on-created is enough. A location named like a counter (``page``, ``limit``,
  ``count``) takes a small value only from a source of the same name: ``?page=1`` is no post id;
- the structural signals outrank a nearer producer (a listing read between create and update);
- instances whose value was produced in another session only (an admin refunds what a shopper
  ordered) neither support nor count against a candidate: they are kept as cross-session hints;
- tokens from login-like endpoints, identity transforms and exact (non-list) sources win ties.

A conditional value (``If-Match``, ``If-Unmodified-Since``, a ``last_modified`` or ``version`` field
read back from an answer) belongs to the resource it was read from, not to the producing template:
its binding says ``same_resource`` (``belongs_to_resource``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Hashable

from venom_replay.proxy.infer.path_patterns import noun_before_verb, singular
from venom_replay.proxy.infer.model import Consumption
from venom_replay.proxy.infer.values import json_path_keys, parse_json_path

Candidate = tuple[Hashable, str, str]
"""(producer template key, response source, transform)."""

MAX_TRACKED = 8
"""Distinct values kept per candidate: enough to tell a repeated flow from a coincidence."""
MAX_SESSIONS = 64
"""Distinct sessions kept per candidate (the score saturates long before)."""
MAX_ALIASES = 4
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
    pointed: int = 0
    """Instances with a small value whose request path began with exactly the path the producer's
    Location header named."""
    cross: int = 0
    """Instances whose value this candidate produced in another session only (no same-session producer)."""
    cross_nontrivial: int = 0
    aliases: tuple[str, ...] = ()
    """Other names the location went by, from a sibling field: ``resource_id`` beside
    ``resource_type: "experiment"`` is an ``experiment_id``. A tuple, empty for nearly every
    candidate: a set each would cost memory on recordings with many candidates."""

    def merge(self, other: "CandStats") -> None:
        self.support += other.support
        self.nearest += other.nearest
        self.nontrivial += other.nontrivial
        self.dist_sum += other.dist_sum
        self.only_bools = self.only_bools and other.only_bools
        _add_capped(self.sessions, other.sessions, MAX_SESSIONS)
        _add_capped(self.values, other.values, MAX_TRACKED)
        self.pointed += other.pointed
        self.cross += other.cross
        self.cross_nontrivial += other.cross_nontrivial
        for alias in other.aliases:
            self.add_alias(alias)

    def add_alias(self, alias: str) -> None:
        if alias not in self.aliases and len(self.aliases) < MAX_ALIASES:
            self.aliases += (alias,)

    def copy(self) -> "CandStats":
        return CandStats(self.support, self.nearest, self.nontrivial, self.dist_sum, self.only_bools, set(self.sessions),
                         set(self.values), self.pointed, self.cross, self.cross_nontrivial, self.aliases)


def _add_capped(target: set[str], items: set[str], cap: int) -> None:
    for item in items:
        if len(target) >= cap:
            return
        target.add(item)


Evidence = dict[Candidate, CandStats]


def record_instance(
    evidence: Evidence, candidates: dict[Candidate, int], pos: int, session: str, key: str, trivial: bool,
    pointed: set[int] | None = None, alias: str | None = None,
) -> None:
    """One request instance whose value matched ``candidates`` (candidate -> producer position).

    ``pointed`` holds the positions (in the session) of the creates whose Location header named
    exactly the requested path: every candidate from such an answer counts it. ``alias`` is another
    name the location went by in this instance (see ``CandStats.aliases``). Constant work per
    candidate: counters, plus sessions and values kept only up to a cap (``MAX_SESSIONS``,
    ``MAX_TRACKED``), so evidence stays small however long the recording is.
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
        if pointed and ppos in pointed:
            st.pointed += 1
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
        if alias is not None:
            st.add_alias(alias)


def record_cross_session(evidence: Evidence, candidates: Iterable[Candidate], trivial: bool) -> None:
    """One request instance with no producer in its own session, whose value ``candidates`` produced
    in other sessions: not a binding (a replayed path cannot carry it over), but worth a hint."""
    for cand in candidates:
        st = evidence.get(cand)
        if st is None:
            st = evidence[cand] = CandStats()
        st.cross += 1
        if not trivial:
            st.cross_nontrivial += 1


def merge_evidence(into: Evidence, other: Evidence, remap: Callable[[Hashable], Hashable]) -> None:
    for (producer, source, transform), st in other.items():
        cand = (remap(producer), source, transform)
        if cand in into:
            into[cand].merge(st)
        else:
            into[cand] = st.copy()


# ---------------------------------------------------------------- names


ID_KEYS = frozenset({"id", "uuid", "guid", "pk", "slug", "key"})
"""Keys that name an object's own id (``$.id``, ``$.note.uuid``)."""


def _ident(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return text or "value"


@lru_cache(maxsize=8192)
def resource_name(path_pattern: str) -> str:
    """``/orders/{order_id}`` -> ``order``; an RPC verb names no resource: ``/experiments/create`` -> ``experiment``."""
    # Numbers are not names: ``/items/7`` (a path seen once, before it became ``/items/{item_id}``) is an item.
    literals = [s for s in path_pattern.split("/") if s and not s.startswith("{") and not s.isdigit()]
    noun = noun_before_verb(literals) or (literals[-1] if literals else None)
    return _ident(singular(noun)) if noun else "root"


@lru_cache(maxsize=8192)
def production_var(path_pattern: str, source: str) -> str:
    """A readable name for what a source holds: ``POST /orders`` ``body:$.id`` -> ``order_id``."""
    kind, _, where = source.partition(":")
    resource = resource_name(path_pattern)
    if kind == "body":
        keys = json_path_keys(where)
        if not keys:
            return f"{resource}_value"
        last = keys[-1]
        if last.lower() in ID_KEYS:
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
    """What a request value is called: ``body:$.order.id`` -> ``order_id``; one of a list of ids
    (``body:$.experiment_ids[0]``, ``query:ids``) is named as one id."""
    kind, _, where = location.partition(":")
    if kind == "body":
        keys = json_path_keys(where)
        if keys is None:
            return _ident(where)
        if not keys:
            return "value"
        if keys[-1].lower() == "id" and len(keys) >= 2:
            return f"{_ident(singular(keys[-2]))}_id"
        return _one_of_many(_ident(keys[-1]))
    return _one_of_many(_ident(where))


def _one_of_many(name: str) -> str:
    return name[:-1] if name == "ids" or name.endswith(("_ids", "_uuids")) else name


@lru_cache(maxsize=8192)
def id_field_name(location: str) -> str | None:
    """The normalised name of an id-named query, form or body field outside lists (``body:$.run_id``
    -> ``runid``, ``query:experiment_id``, ``body:$.order.id`` -> ``orderid``): the object a call
    names, as opposed to ``experiment_ids[0]`` (one of several a search spans). None otherwise."""
    if not location.startswith(("query:", "form:", "body:")) or "[" in location:
        return None
    name = location_name(location)
    if name in ("id", "uuid", "guid") or name.endswith(("_id", "_uuid")):
        return norm_name(name)
    return None


COUNTER_NAMES = frozenset({
    "page", "pageno", "pagenumber", "pagesize", "perpage", "limit", "offset", "count", "size", "maxresults",
    "top", "skip", "start", "step", "qty", "quantity", "amount", "total", "retries", "timeout", "depth", "level",
})
"""Normalised names of request values that count or page: a small number there is no object's id."""

GENERIC_ID_NAMES = frozenset({"resourceid", "objectid", "targetid", "entityid", "subjectid"})
"""Normalised names of ids whose kind a sibling field says (``resource_type: "experiment"``)."""


@lru_cache(maxsize=8192)
def is_counter_location(location: str) -> bool:
    return norm_name(location_name(location)) in COUNTER_NAMES


@lru_cache(maxsize=8192)
def generic_id_sibling(location: str) -> str | None:
    """For ``body:$.resource_id`` the location of the field that says its kind (``body:$.resource_type``)."""
    name = location_name(location)
    if norm_name(name) not in GENERIC_ID_NAMES or location.startswith(("path:", "header:", "cookie:")):
        return None
    kind, _, where = location.partition(":")
    stem = name[: -len("_id")] if name.endswith("_id") else name[: -len("id")]
    if kind == "body":
        keys = json_path_keys(where)
        if not keys or not where.endswith(keys[-1]):
            return None  # an id inside a list: no one sibling
        return f"body:{where[: -len(keys[-1])]}{stem}_type"
    return f"{kind}:{stem}_type"


def alias_from_sibling(kind_value: object) -> str | None:
    """``"experiment"`` (the sibling's value) -> ``experiment_id``, the name the generic id goes by."""
    if not isinstance(kind_value, str) or not kind_value or len(kind_value) > 64:
        return None
    return f"{_ident(singular(kind_value))}_id"


def norm_name(name: str) -> str:
    """``order_id``, ``orderId`` and ``OrderID`` compare equal."""
    return name.replace("_", "").lower()


def names_agree(location: str, producer_path: str, source: str, transform: str = "identity") -> bool:
    loc = norm_name(location_name(location))
    if loc in ("", "value"):
        return False
    if transform.startswith("url-segment:") and loc == norm_name(f"{resource_name(producer_path)}_id"):
        return True  # /docs/{doc_id} from the Location that POST /docs answered
    if loc == norm_name(production_var(producer_path, source)):
        return True
    kind, _, where = source.partition(":")
    if kind == "body":
        keys = json_path_keys(where)
        return bool(keys) and keys[-1].lower() != "id" and norm_name(keys[-1]) == loc
    return norm_name(where) == loc


# ---------------------------------------------------------------- choosing


@lru_cache(maxsize=8192)
def _collection_of(consumer_path: str, location: str) -> str | None:
    """``/users/{user_id}/orders/{order_id}``, ``path:order_id`` -> ``/users/{user_id}/orders``."""
    if not location.startswith("path:"):
        return None
    parts = consumer_path.split("/")
    token = "{" + location[5:] + "}"
    if token not in parts:
        return None
    return "/".join(parts[: parts.index(token)]) or "/"


@lru_cache(maxsize=8192)
def addresses_created(location: str, consumer_path: str, producer_path: str, source: str, transform: str) -> bool:
    """Does the path parameter at ``location`` address what the producer's create handed out?

    ``POST /items`` creates what ``/items/{item_id}`` addresses: the parameter follows exactly the
    producer's path, and the source is the created object's id (``$.id``, ``$.note.uuid``,
    ``$.item_id``) or its ``Location``. The caller checks that the producer does create.
    """
    if _collection_of(consumer_path, location) != producer_path:
        return False
    if source == "header:Location":
        return transform.startswith("url-segment:")
    return transform == "identity" and created_id_source(source, resource_name(producer_path))


@lru_cache(maxsize=8192)
def created_id_source(source: str, resource: str = "") -> bool:
    """``body:$.id``, ``body:$.note.uuid`` (or ``body:$.item_id`` from ``POST /items``, given the
    resource ``item``): the id of the one object a response is about, not of a list's items."""
    if not source.startswith("body:$") or "[*]" in source or "['" in source:
        return False  # a list's items, or an entry of a map keyed by id: not the one object
    try:
        keys = [p for p in parse_json_path(source[5:]) if isinstance(p, str)]
    except ValueError:
        return False
    if not keys:
        return False
    last = keys[-1].lower()
    return last in ID_KEYS or (bool(resource) and norm_name(last) == norm_name(f"{resource}_id"))


@dataclass(slots=True)
class Choice:
    producer: Hashable
    source: str
    transform: str
    score: float
    support: int
    sessions: int


def _never(producer: Hashable, source: str = "") -> bool:
    return False


class _Judge:
    """The signals that weigh the candidates of one request location (names, structure)."""

    __slots__ = ("location", "consumer_path", "producer_path", "creates")

    def __init__(self, location: str, consumer_path: str, producer_path: Callable[[Hashable], str],
                 creates: Callable[[Hashable], bool]) -> None:
        self.location = location
        self.consumer_path = consumer_path
        self.producer_path = producer_path
        self.creates = creates

    def agree(self, producer: Hashable, source: str, transform: str, aliases: Iterable[str] = ()) -> bool:
        path = self.producer_path(producer)
        return names_agree(self.location, path, source, transform) or any(
            names_agree(f"query:{alias}", path, source, transform) for alias in aliases)

    def created(self, producer: Hashable, source: str, transform: str) -> bool:
        """The producer creates, and the source is the id of the object it created (``POST /items``
        ``$.id``, ``experiments/create`` ``$.experiment_id``): the value is that new object's id."""
        return transform == "identity" and self.creates(producer) and created_id_source(
            source, resource_name(self.producer_path(producer)))

    def structural(self, producer: Hashable, source: str, transform: str, st: CandStats) -> bool:
        """Create -> act-on-created: the Location named this very path every time, or the parameter
        addresses the collection the producer created."""
        small = st.support - st.nontrivial  # pointed is noted for small values only: others bind on sight
        if st.pointed and st.pointed == small and (source == "header:Location" or created_id_source(source)):
            return True
        return bool(
            self.consumer_path
            and self.location.startswith("path:")
            and addresses_created(self.location, self.consumer_path, self.producer_path(producer), source, transform)
            and self.creates(producer)
        )


def _small_value_ok(judge: _Judge, producer: Hashable, source: str, transform: str, st: CandStats,
                    consistency: float, strong: bool) -> tuple[bool, bool | None, bool]:
    """Whether a small value's candidate has evidence beyond equality: ``(ok, names agree or None
    when not asked, created)``.

    The flow repeats with several values, or the structure (``strong``) says so, or the names agree
    and the producer was the nearest or created this very object (``created``, which also ranks it
    above a listing that showed the id later). A counter's name (``page``, ``limit``) takes nothing
    but a source of its own name. The names are asked last: sources of id-keyed maps are new every
    time, and naming them is the costly part.
    """
    creates_it = judge.created(producer, source, transform)
    counter = is_counter_location(judge.location)
    structural = (st.support >= 3 and consistency >= 0.9 and len(st.values) >= 2) or (
        strong and not st.only_bools and consistency >= 0.6)
    named = not st.only_bools and consistency >= 0.6 and (creates_it or st.nearest * 2 >= st.support)
    if not (structural or named):
        return False, None, False
    if structural and not (creates_it or counter):
        return True, None, False
    agree = judge.agree(producer, source, transform, st.aliases)
    ok = (structural or agree) and (agree or not counter)
    return ok, agree, ok and creates_it and agree


def choose(
    location: str,
    present: int,
    evidence: Evidence,
    producer_path: Callable[[Hashable], str],
    forbidden: Callable[[Hashable, str], bool] = _never,
    *,
    consumer_path: str = "",
    creates: Callable[[Hashable], bool] = _never,
) -> Choice | None:
    """The binding for one request location, or None when no candidate is convincing.

    ``consumer_path`` (the consuming template's path pattern) and ``creates`` (does a producer
    template create resources) enable the structural signals for path parameters.
    """
    judge = _Judge(location, consumer_path, producer_path, creates)
    ranked = []
    for (producer, source, transform), st in evidence.items():
        if not st.support or forbidden(producer, source):
            continue  # support 0: seen in other sessions only, a hint and not a binding
        # Cheap tests first: ``names_agree`` parses names and is needed only for candidates that count.
        strong = judge.structural(producer, source, transform, st)
        # The same flow seen in another session (the create happened there) does not count against it.
        discount = st.cross if st.cross and (st.nontrivial or strong) else 0
        consistency = st.support / max(present - discount, 1)
        agree: bool | None = None  # names_agree is asked once, and of large values only when they count
        if st.nontrivial:
            ok = consistency >= 0.25 or st.nontrivial >= 3
        else:
            ok, agree, created = _small_value_ok(judge, producer, source, transform, st, consistency, strong)
            strong = strong or created
        if not ok:
            continue
        if agree is None:
            agree = judge.agree(producer, source, transform, st.aliases)
        login = bool(_LOGIN.search(producer_path(producer)))
        rank = (
            round(consistency, 2),
            strong,  # the create of this very collection beats a listing read in between
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


MAX_HINTS = 3


def cross_session_hints(
    location: str,
    evidence: Evidence,
    producer_path: Callable[[Hashable], str],
    *,
    consumer_path: str = "",
    creates: Callable[[Hashable], bool] = _never,
) -> list[tuple[Hashable, str, str, int]]:
    """``(producer, source, transform, instances)``: values of this location that were produced in
    another session only. Small values count only where the structure or the names say it is the
    same flow (``1`` is produced by everyone)."""
    judge = _Judge(location, consumer_path, producer_path, creates)
    out = []
    for (producer, source, transform), st in evidence.items():
        if not st.cross:
            continue
        if st.cross_nontrivial or judge.structural(producer, source, transform, st) or judge.agree(producer, source, transform, st.aliases):
            out.append((st.cross, transform == "identity", producer, source, transform))
    out.sort(key=lambda h: (h[0], h[1]), reverse=True)
    return [(producer, source, transform, n) for n, _, producer, source, transform in out[:MAX_HINTS]]


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
        same_resource=belongs_to_resource(location, choice.source),
    )


# ---------------------------------------------------------------- values of one resource


CONDITIONAL_HEADERS = frozenset({"if-match", "if-none-match", "if-unmodified-since", "if-modified-since", "if-range"})
"""Request headers whose value is a version of the very resource the request is about."""
VERSION_NAMES = frozenset({
    "etag", "version", "rev", "revision", "lockversion", "lastmodified", "modified", "modifiedat", "updatedat",
    "lastupdated", "lastupdatetime",
})
"""Normalised names of fields that carry a resource's version or modification time."""
_VERSION_HEADERS = frozenset({"etag", "last-modified"})


@lru_cache(maxsize=4096)
def belongs_to_resource(location: str, source: str) -> bool:
    """Does the value at ``location`` belong to the resource the request is about (a precondition or a
    version sent back), so that it must come from the latest answer about that same resource?

    ``If-Match`` (and the other conditional headers) always does; a ``last_modified`` or ``version``
    field does when it was read from a version too (an ``ETag``, a ``Last-Modified`` or a field of a
    version's name): a field that only shares the name keeps the template's latest value.
    """
    kind, _, where = location.partition(":")
    if kind == "header":
        return where.lower() in CONDITIONAL_HEADERS
    if kind not in ("body", "query", "form") or norm_name(location_name(location)) not in VERSION_NAMES:
        return False
    skind, _, swhere = source.partition(":")
    if skind == "header":
        return swhere.lower() in _VERSION_HEADERS
    return skind == "body" and norm_name(location_name(source)) in VERSION_NAMES
