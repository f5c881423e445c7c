"""What inference remembers while it reads a recording, in bounded pieces.

The recording is read once, in order, and nothing keeps the exchanges themselves: each template
folds its instances into a ``TemplateAcc`` (counts, binding evidence, noise, body shape, request
variants with capped examples per shape and caller), each open session keeps a ``SessionState`` (the
values its responses produced, for the provenance lookups of its later requests), and a
``CrossSessionIndex`` remembers a bounded number of ids across sessions. Every piece has a cap, so
memory grows with the number of templates and of sessions open at once, not with the length of the
traffic; request shapes are the exception (variants.py: all are kept, each as references to
requests the recording holds anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from venom_replay.proxy.infer.bindings import ID_KEYS, Candidate, Evidence, merge_evidence
from venom_replay.proxy.infer.effects import BehaviourAcc
from venom_replay.proxy.infer.path_patterns import Pattern
from venom_replay.proxy.infer.response_shape import ShapeNode
from venom_replay.proxy.infer.variants import VariantsAcc
from venom_replay.proxy.infer.values import json_path_keys
from venom_replay.proxy.infer.volatility import VolatilityAcc
from venom_replay.proxy.recording import Request, Response

Origin = tuple[str, str, int]
"""(scheme, host, port): templates of different origins never merge."""

MAX_EXAMPLES = 5
MAX_SCHEMA_BODIES = 200
MAX_FIELD_KEYS = 16
MAX_PRODUCERS_PER_VALUE = 32
"""Distinct ``(template, source, transform)`` producers remembered per value and session.

A value is looked up in one hash probe, and every producer remembered for it becomes a candidate of
the request instance, so this bounds the work per request value. Responses with id-keyed maps
(``{"carts": {"1017": {"active": true}}}``) name a new source in every response and would otherwise
make each lookup of ``true`` walk over every earlier one: quadratic in the session's length.
Guarantee: while no value of a session has more producers than this (real traffic rarely has more
than a handful; ids have one or two), inference is exactly as without the bound; beyond it the
producers that made the value longest ago are forgotten first, and the nearest ones are kept.
"""
CROSS_SESSION_GENERATION = 1 << 16
"""Id-like values remembered across sessions, per generation (two generations are kept): enough to
notice that the order an admin refunds was created by a shopper, at a memory cost bounded however
long the recording is."""
CROSS_SESSION_PRODUCERS = 8


# ---------------------------------------------------------------- per template


@dataclass(slots=True)
class FieldAcc:
    """One request location of a template: how often it was sent, and a few distinct values."""

    count: int = 0
    examples: list[Any] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add(self, value: Any, key: str | None) -> None:
        self.count += 1
        k = key if key is not None else repr(value)
        if k not in self.keys and len(self.keys) < MAX_FIELD_KEYS:
            self.keys.add(k)
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(value)

    def merge(self, other: FieldAcc) -> None:
        self.count += other.count
        for k in other.keys:
            if len(self.keys) < MAX_FIELD_KEYS:
                self.keys.add(k)
        for v in other.examples:
            if len(self.examples) < MAX_EXAMPLES and v not in self.examples:
                self.examples.append(v)


@dataclass(slots=True)
class TemplateAcc:
    """Everything learned about one template (origin, method, path pattern) from its instances."""

    origin: Origin
    method: str
    pattern: Pattern
    count: int = 0
    seqs: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    fields: dict[str, FieldAcc] = field(default_factory=dict)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    vol: VolatilityAcc = field(default_factory=VolatilityAcc)
    shape: ShapeNode = field(default_factory=ShapeNode)
    shape_bodies: int = 0
    variants: VariantsAcc = field(default_factory=VariantsAcc)
    example_response: Response | None = None
    created: int = 0
    """Responses that said "created": status 201 or a Location header."""
    id_bodies: int = 0
    """Responses whose JSON body had a top-level ``id``."""
    behaviour: BehaviourAcc = field(default_factory=BehaviourAcc)
    """What later reads of the objects these calls named showed (effects.py: a delete from behaviour)."""

    def tally(self, seq: int, session: str, status: int) -> None:
        """One more instance."""
        self.count += 1
        self.seqs.append(seq)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.sessions.add(session)

    def keep_example(self, req: Request, status: int) -> None:
        """Note the request's shape, and keep it as an example of its shape and caller if few are yet."""
        self.variants.add(req, self.seqs[-1], status)  # tally() ran for this very exchange just before

    def fold_body(self, resp: Response, data: Any, created: bool) -> None:
        """What a response body says about the template: creates, ids, shape, an example."""
        if created:
            self.created += 1
        if isinstance(data, dict) and "id" in data:
            self.id_bodies += 1
        if not 200 <= resp.status < 300:
            return
        if self.example_response is None:
            self.example_response = resp
        if data is not None and self.shape_bodies < MAX_SCHEMA_BODIES:
            self.shape.add(data)
            self.shape_bodies += 1

    def merge(self, other: TemplateAcc, remap: Callable[[Hashable], Hashable]) -> None:
        self.count += other.count
        self.seqs.extend(other.seqs)
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.sessions |= other.sessions
        for loc, facc in other.fields.items():
            if loc in self.fields:
                self.fields[loc].merge(facc)
            else:
                self.fields[loc] = facc
        for loc, ev in other.evidence.items():
            merge_evidence(self.evidence.setdefault(loc, {}), ev, remap)
        self.vol.merge(other.vol)
        self.shape.merge(other.shape)
        self.shape_bodies += other.shape_bodies
        self.variants.merge(other.variants)
        if self.example_response is None:
            self.example_response = other.example_response
        self.created += other.created
        self.id_bodies += other.id_bodies
        self.behaviour.merge(other.behaviour)


def request_signature(req: Request) -> int:
    """Equal for requests that ask for the same thing (path, query and body)."""
    return hash((req.path, tuple(req.query), bytes(req.body)))


# ---------------------------------------------------------------- per session


@dataclass(slots=True)
class SessionState:
    """One open session: the values its responses produced, and what its client sent."""

    pos: int = 0
    index: dict[str, dict[Candidate, int]] = field(default_factory=dict)
    """value key -> {(template, source, transform): latest position that produced it}"""
    sent: set[str] = field(default_factory=set)
    """Every distinctive value the client has sent so far: such values are echoes, not productions."""
    sent_trivial: dict[str, set[str]] = field(default_factory=dict)
    """Small values the client sent -> the names it sent them under. ``qty=2`` does not make every
    later 2 an echo; ``{"quantity": 2}`` coming back as ``$.quantity`` is one."""
    last_read: dict[int, tuple[int, int, dict[str, str]]] = field(default_factory=dict)
    """template -> (request signature, global write count, response values) of its latest read."""
    locations: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """position -> path segments of the Location header that response carried (creates say where)."""

    def index_producer(self, key: str, cand: Candidate, pos: int) -> bool:
        """Remember that ``cand`` produced ``key`` at ``pos``; True when it is a new producer of it."""
        entries = self.index.get(key)
        if entries is None:
            self.index[key] = {cand: pos}
            return True
        if cand in entries:
            entries[cand] = pos  # produced again: only the latest position counts
            return False
        if len(entries) < MAX_PRODUCERS_PER_VALUE:
            entries[cand] = pos
        else:
            _replace_oldest(entries, cand, pos)
        return True


def _replace_oldest(entries: dict[Candidate, int], cand: Candidate, pos: int) -> None:
    """A value already has ``MAX_PRODUCERS_PER_VALUE`` producers in this session: the one that
    produced it longest ago makes room (the nearest producers are the ones the evidence weighs)."""
    del entries[min(entries, key=entries.__getitem__)]
    entries[cand] = pos


# ---------------------------------------------------------------- across sessions


_MAX_SOURCES_REMEMBERED = 1 << 14
"""Sources whose id-likeness is cached; id-keyed maps make endless new ones, those are tested each time."""
_ID_SUFFIXES = ("id", "Id", "ID", "uuid", "guid", "pk", "slug", "key")
"""A cheap first test: a source that ends otherwise is no id (``$.paid`` passes it, and fails the next)."""


class CrossSessionIndex:
    """Id-like values that responses produced, with the sessions that produced them.

    Only consulted for a request value with no producer in its own session. Two generations of at
    most ``CROSS_SESSION_GENERATION`` values each: when the newer fills up, the older is dropped.
    """

    __slots__ = ("new", "old", "_id_like")

    def __init__(self) -> None:
        self.new: dict[str, tuple[tuple[Candidate, str], ...]] = {}
        self.old: dict[str, tuple[tuple[Candidate, str], ...]] = {}
        self._id_like: dict[str, bool] = {}

    def add(self, key: str, cand: Candidate, session: str) -> None:
        entries = self.new.get(key)
        if entries is None:
            if len(self.new) >= CROSS_SESSION_GENERATION:
                self.old, self.new = self.new, {}
            entries = self.old.get(key)
            if entries is None:
                self.new[key] = ((cand, session),)  # the common case: a new id
                return
        elif entries[-1][0] == cand and entries[-1][1] == session:
            return
        kept = tuple(e for e in entries if e[0] != cand)[-(CROSS_SESSION_PRODUCERS - 1):]
        self.new[key] = kept + ((cand, session),)

    def add_if_id(self, key: str, cand: Candidate, session: str) -> None:
        """``add``, when the candidate's source holds one object's id (see ``id_like_source``)."""
        source = cand[1]
        id_like = self._id_like.get(source)
        if id_like is None:
            id_like = source.endswith(_ID_SUFFIXES) and id_like_source(source)
            if len(self._id_like) < _MAX_SOURCES_REMEMBERED:
                self._id_like[source] = id_like
        if id_like:
            self.add(key, cand, session)

    def others(self, key: str, session: str) -> list[Candidate]:
        """Candidates that produced ``key`` in sessions other than ``session``."""
        entries = self.new.get(key) or self.old.get(key)
        if not entries:
            return []
        return [cand for cand, s in entries if s != session]


def id_like_source(source: str) -> bool:
    """Sources worth remembering across sessions: one object's ids (a create's, a read's), not
    timestamps or counters, and not every id of a listing (the create named them first). A
    Location counts by its segments (``/orders/7`` -> ``7``), added where they are indexed."""
    if "[*]" in source or not source.startswith("body:$"):
        return False
    keys = json_path_keys(source[5:])
    return bool(keys) and id_like_key(keys[-1])


def id_like_key(key: str) -> bool:
    """``id``, ``uuid``, ``order_id``, ``orderId``: a key that names one object's id."""
    return key.lower() in ID_KEYS or key.lower().endswith(("_id", "_uuid")) or key.endswith("Id")
