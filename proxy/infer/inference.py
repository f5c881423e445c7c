"""Template inference: from a recording's raw exchanges to action templates with value bindings.

The recording is read in one pass, in order, keeping small per-template accumulators (so memory
grows with the number of templates and sessions, not with the traffic):

1. Paths only: a first path pattern per origin (identifier-looking segments that vary).
2. One pass over the exchanges. Per session, an index of the values earlier responses produced
   (``value -> {(template, source, transform): latest position}``); each request value is one hash
   lookup there, and the matches are kept as evidence (counters and capped samples, bindings.py).
   A value the client itself sent before the server returned it is an echo, not a production, and is
   never indexed. Request fields, response noise and body shapes are folded into the same
   accumulators. The work per exchange is bounded (``MAX_PRODUCERS_PER_VALUE``), so the pass is
   linear in the traffic; a session's index is dropped after its last exchange.
3. Segments that were produced by earlier responses (a slug, an id seen once) become parameters too;
   the first patterns are refined and their accumulators merged.
4. Evidence is weighed per request location (bindings.py); the rest of each template (constants,
   inputs, volatile fields, schema, effect) is read off the accumulators.
"""

from __future__ import annotations

import gc
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venom_replay.proxy.infer.bindings import (
    ID_KEYS,
    Candidate,
    Evidence,
    choose,
    created_id_source,
    cross_session_hints,
    location_name,
    make_consumption,
    merge_evidence,
    production_var,
    record_cross_session,
    record_instance,
)
from venom_replay.proxy.config import InferenceConfig, VenomConfig
from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.infer.path_patterns import PARAM, TRAILING, Pattern, infer_patterns, param_index_names, render_pattern, segment_kind, singular, split_path
from venom_replay.proxy.recording import Exchange, Recording, Request, Response, read_recording
from venom_replay.proxy.infer.response_shape import ShapeNode, node_schema
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, CrossSessionHint, Effect, Production, RequestField, Step, TemplateSet
from venom_replay.proxy.infer.values import MAX_VALUE_LEN, BodyLeaves, is_trivial_key, parse_json_path, request_values, response_values, url_segments, value_key
from venom_replay.proxy.infer.volatility import SAMPLE_PER_TEMPLATE, VolatilityAcc, as_volatile_entry, repeat_differences, volatile_sources

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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

Origin = tuple[str, str, int]


# ---------------------------------------------------------------- accumulators


@dataclass(slots=True)
class FieldAcc:
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
    examples_ok: list[Request] = field(default_factory=list)
    examples_any: list[Request] = field(default_factory=list)
    example_sigs: set[int] = field(default_factory=set)
    example_response: Response | None = None
    created: int = 0
    """Responses that said "created": status 201 or a Location header."""
    id_bodies: int = 0
    """Responses whose JSON body had a top-level ``id``."""

    def merge(self, other: TemplateAcc, remap: Any) -> None:
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
        for ex in other.examples_ok:
            if len(self.examples_ok) < MAX_EXAMPLES:
                self.examples_ok.append(ex)
        for ex in other.examples_any:
            if len(self.examples_any) < MAX_EXAMPLES:
                self.examples_any.append(ex)
        if self.example_response is None:
            self.example_response = other.example_response
        self.created += other.created
        self.id_bodies += other.id_bodies


@dataclass(slots=True)
class SessionState:
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


class CrossSessionIndex:
    """Id-like values that responses produced, with the sessions that produced them.

    Only consulted for a request value with no producer in its own session. Two generations of at
    most ``CROSS_SESSION_GENERATION`` values each: when the newer fills up, the older is dropped.
    """

    __slots__ = ("new", "old")

    def __init__(self) -> None:
        self.new: dict[str, tuple[tuple[Candidate, str], ...]] = {}
        self.old: dict[str, tuple[tuple[Candidate, str], ...]] = {}

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

    def others(self, key: str, session: str) -> list[Candidate]:
        """Candidates that produced ``key`` in sessions other than ``session``."""
        entries = self.new.get(key) or self.old.get(key)
        if not entries:
            return []
        return [cand for cand, s in entries if s != session]


# ---------------------------------------------------------------- entry point


def infer_templates(recording: Recording | str | Path, config: InferenceConfig | VenomConfig | None = None) -> TemplateSet:
    """Learn the action templates and value bindings of a recording."""
    rec = recording if isinstance(recording, Recording) else read_recording(recording)
    cfg = config.inference if isinstance(config, VenomConfig) else (config or InferenceConfig())
    # The accumulators are many small acyclic objects: the cyclic GC would only rescan them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Inference(rec, cfg).run()
    finally:
        if gc_was_enabled:
            gc.enable()


def _replace_oldest(entries: dict[Candidate, int], cand: Candidate, pos: int) -> None:
    """A value already has ``MAX_PRODUCERS_PER_VALUE`` producers in this session: the one that
    produced it longest ago makes room (the nearest producers are the ones the evidence weighs)."""
    del entries[min(entries, key=entries.__getitem__)]
    entries[cand] = pos


def _pointed(candidates: dict[Candidate, int], locations: dict[int, tuple[str, ...]], segs: tuple[str, ...], i: int) -> set[int] | None:
    """Positions of the creates whose Location named exactly this path up to segment i."""
    out = None
    for (_, source, _), ppos in candidates.items():
        if source == "header:Location":
            where = locations.get(ppos)
            if where is not None and len(where) == i + 1 and segs[: i + 1] == where:
                if out is None:
                    out = set()
                out.add(ppos)
    return out


@lru_cache(maxsize=4096)
def _json_keys(source: str) -> tuple[str, ...]:
    if not source.startswith("body:$"):
        return ()
    try:
        return tuple(p for p in parse_json_path(source[5:]) if isinstance(p, str) and p != "*")
    except ValueError:
        return ()


def _action_subject(pattern: Pattern) -> str | None:
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


_MAX_SOURCES_REMEMBERED = 1 << 14
"""Sources whose id-likeness is cached; id-keyed maps make endless new ones, those are tested each time."""
_ID_SUFFIXES = ("id", "Id", "ID", "uuid", "guid", "pk", "slug", "key")
"""A cheap first test: a source that ends otherwise is no id (``$.paid`` passes it, and fails the next)."""


def _id_like_source(source: str) -> bool:
    """Sources worth remembering across sessions: one object's ids (a create's, a read's), not
    timestamps or counters, and not every id of a listing (the create named them first). A
    Location counts by its segments (``/orders/7`` -> ``7``), added where they are indexed."""
    if "[*]" in source:
        return False
    keys = _json_keys(source)
    if not keys:
        return False
    last = keys[-1]
    return last.lower() in ID_KEYS or last.lower().endswith(("_id", "_uuid")) or last.endswith("Id")


_SEG_LOCS: list[str] = []


def _seg_locs(n: int) -> list[str]:
    """``["seg:0", ... "seg:<n-1>"]``, built once: every exchange names its path segments so."""
    while len(_SEG_LOCS) < n:
        _SEG_LOCS.append(f"seg:{len(_SEG_LOCS)}")
    return _SEG_LOCS[:n]


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _request_name(loc: str, segs: tuple[str, ...]) -> str:
    """The name a request value was sent under; a path segment is named after the one before it."""
    if loc.startswith("seg:"):
        i = int(loc[4:])
        return _segment_name(segs[i - 1]) if i else "id"
    return _location_norm_name(loc)


@lru_cache(maxsize=4096)
def _segment_name(previous: str) -> str:
    return _norm(f"{singular(previous)}_id")


@lru_cache(maxsize=4096)
def _location_norm_name(loc: str) -> str:
    return _norm(location_name(loc))


class _Inference:
    def __init__(self, rec: Recording, cfg: InferenceConfig) -> None:
        self.rec = rec
        self.cfg = cfg
        self.ignored = 0
        self.accs: list[TemplateAcc] = []
        self.acc_index: dict[tuple[Origin, str, Pattern], int] = {}
        self.steps: list[tuple[str, int, int]] = []  # (session, seq, pre-template)
        self.writes = 0
        self._names_cache: dict[tuple[int, str, bool], set[str]] = {}
        self._request_bodies = BodyLeaves(generalize=False)
        self._response_bodies = BodyLeaves(generalize=True)
        self.cross = CrossSessionIndex()
        self._id_like_sources: dict[str, bool] = {}

    # -------------------------------------------------------- pass 0: which exchanges, first patterns

    def run(self) -> TemplateSet:
        usable: list[tuple[Exchange, Origin, tuple[str, ...]]] = []
        paths: dict[Origin, set[tuple[str, ...]]] = {}
        for ex in sorted(self.rec.exchanges, key=lambda e: e.seq):
            req = ex.request
            if ex.response is None or ex.error or (self.cfg.ignore_hosts and self.cfg.host_ignored(req.host, req.port)):
                self.ignored += 1
                continue
            segs = split_path(req.path)
            if self.cfg.ignore and self.cfg.endpoint_ignored(req.method.upper(), "/" + "/".join(segs)):
                self.ignored += 1
                continue
            origin = (req.scheme, req.host, req.port)
            usable.append((ex, origin, segs))
            paths.setdefault(origin, set()).add(segs)
        pre = {origin: infer_patterns(ps) for origin, ps in paths.items()}

        # A session's value index is dropped after its last exchange: memory then follows the
        # sessions open at once, not the length of the recording.
        last_of = {ex.session: i for i, (ex, _, _) in enumerate(usable)}
        sessions: dict[str, SessionState] = {}
        for i, (ex, origin, segs) in enumerate(usable):
            pattern = pre[origin][segs]
            method = ex.request.method.upper()
            if self.cfg.ignore and self.cfg.endpoint_ignored(method, render_pattern(pattern)):
                self.ignored += 1
                if last_of[ex.session] == i:
                    sessions.pop(ex.session, None)
                continue
            key = (origin, method, pattern)
            t = self.acc_index.get(key)
            if t is None:
                t = self.acc_index[key] = len(self.accs)
                self.accs.append(TemplateAcc(origin, method, pattern))
            st = sessions.get(ex.session)
            if st is None:
                st = sessions[ex.session] = SessionState()
            self._observe(ex, segs, t, st)
            self.steps.append((ex.session, ex.seq, t))
            if last_of[ex.session] == i:
                del sessions[ex.session]
        del sessions
        return self._finish(paths, pre)

    # -------------------------------------------------------- pass 1: one exchange

    def _observe(self, ex: Exchange, segs: tuple[str, ...], t: int, st: SessionState) -> None:
        acc = self.accs[t]
        req, resp = ex.request, ex.response
        assert resp is not None
        acc.count += 1
        acc.seqs.append(ex.seq)
        acc.statuses[resp.status] = acc.statuses.get(resp.status, 0) + 1
        acc.sessions.add(ex.session)
        pos = st.pos
        st.pos += 1

        # Request: every value, and where earlier responses produced it. Each lookup is one hash
        # probe into the session's value index (latest producing position per candidate), so the
        # cost per value does not grow with the length of the session or the recording.
        n_segs = len(segs)
        cross = self.cross
        cross_new, cross_old = cross.new, cross.old  # the generations turn over only below, in add()
        values: list[tuple[str, Any]] = list(zip(_seg_locs(n_segs), segs))
        values.extend(request_values(req, self._request_bodies, t))
        sent_now: list[str] = []
        trivial_now: list[tuple[str, str]] = []
        pattern = acc.pattern
        fields = acc.fields
        index = st.index
        for i, (loc, value) in enumerate(values):
            # value_key, inlined for the common case of a str.
            key = (value if value and len(value) <= MAX_VALUE_LEN else None) if type(value) is str else value_key(value)
            facc = fields.get(loc)
            if facc is None:
                facc = fields[loc] = FieldAcc()
            facc.add(value, key)
            if key is None:
                continue
            # is_trivial_key, with its common answers first: only all-digit keys need the full test.
            trivial = len(key) <= 2 or key[0] == "\x00" or (key[-1].isdigit() and is_trivial_key(key))
            if trivial:
                trivial_now.append((key, _request_name(loc, segs)))
            else:
                sent_now.append(key)
            if i < n_segs and pattern[i] is not PARAM and segment_kind(value) == "word":
                continue  # route words ("orders", "refund") are not data
            # Identity: every indexed producer of this very value is a candidate as indexed (the
            # index entry itself serves as the candidate map unless a transform adds to it).
            candidates: dict[Candidate, int] | None = index.get(key)
            if isinstance(value, str) and " " in value:
                # ``Bearer x`` / ``Token x``: x may have come from a response (one transform only).
                scheme, _, rest = value.partition(" ")
                if scheme.isalpha() and rest and " " not in rest:
                    rkey = value_key(rest)
                    if rkey is not None:
                        transform = "bearer" if scheme.lower() == "bearer" else f"format:{scheme} {{}}"
                        sent_now.append(rkey)
                        entries = index.get(rkey)
                        if entries:
                            candidates = dict(candidates) if candidates else {}
                            for (producer, source, ptransform), ppos in entries.items():
                                if ptransform != "identity":
                                    continue  # two transforms in a row cannot be expressed
                                cand = (producer, source, transform)
                                if candidates.get(cand, -1) < ppos:
                                    candidates[cand] = ppos
            if candidates:
                ev = acc.evidence.get(loc)
                if ev is None:
                    ev = acc.evidence[loc] = {}
                # Only small values need the Location's word for it; larger ones bind on sight.
                pointed = _pointed(candidates, st.locations, segs, i) if trivial and i < n_segs and st.locations else None
                record_instance(ev, candidates, pos, ex.session, key, trivial, pointed)
            elif key in cross_new or key in cross_old:
                others = cross.others(key, ex.session)
                if others:
                    ev = acc.evidence.get(loc)
                    if ev is None:
                        ev = acc.evidence[loc] = {}
                    record_cross_session(ev, others, trivial)
        st.sent.update(sent_now)
        for key, name in trivial_now:
            st.sent_trivial.setdefault(key, set()).add(name)

        if len(acc.examples_any) < MAX_EXAMPLES or (resp.status < 400 and len(acc.examples_ok) < MAX_EXAMPLES):
            sig = hash((req.path, tuple(req.query), bytes(req.body)))
            if sig not in acc.example_sigs:
                acc.example_sigs.add(sig)
                if len(acc.examples_any) < MAX_EXAMPLES:
                    acc.examples_any.append(req)
                if resp.status < 400 and len(acc.examples_ok) < MAX_EXAMPLES:
                    acc.examples_ok.append(req)

        # Response: index what it produced, fold its shape and noise evidence.
        data, leaves = self._response_bodies.get(resp, t)
        created = resp.status == 201 or resp.header("location") is not None
        if created:
            acc.created += 1
        if isinstance(data, dict) and "id" in data:
            acc.id_bodies += 1
        if data is not None and 200 <= resp.status < 300:
            if acc.example_response is None:
                acc.example_response = resp
            if acc.shape_bodies < MAX_SCHEMA_BODIES:
                acc.shape.add(data)
                acc.shape_bodies += 1
        elif acc.example_response is None and 200 <= resp.status < 300:
            acc.example_response = resp
        produced = response_values(resp, leaves=leaves)
        sample = acc.vol.sampled < SAMPLE_PER_TEMPLATE
        items: list[tuple[str, str]] = []
        sent = st.sent
        sent_trivial = st.sent_trivial
        index = st.index
        id_like_sources = self._id_like_sources
        cross = self.cross
        session = ex.session
        for source, value in produced:
            key = (value if value and len(value) <= MAX_VALUE_LEN else None) if type(value) is str else value_key(value)
            if key is None:
                continue
            if sample:
                items.append((source, key))
            if key not in sent and not (key in sent_trivial and self._echo_name(t, source, created) & sent_trivial[key]):
                entries = index.get(key)
                cand = (t, source, "identity")
                if entries is not None and cand in entries:
                    entries[cand] = pos  # produced again: already known across sessions too
                else:
                    if entries is None:
                        index[key] = {cand: pos}
                    elif len(entries) < MAX_PRODUCERS_PER_VALUE:
                        entries[cand] = pos
                    else:
                        _replace_oldest(entries, cand, pos)
                    id_like = id_like_sources.get(source)
                    if id_like is None:
                        id_like = source.endswith(_ID_SUFFIXES) and _id_like_source(source)
                        if len(id_like_sources) < _MAX_SOURCES_REMEMBERED:
                            id_like_sources[source] = id_like
                    if id_like:
                        cross.add(key, cand, session)
            if isinstance(value, str) and value[:1] in ("/", "h"):
                url_segs = url_segments(value)
                if source == "header:Location" and url_segs:
                    st.locations[pos] = tuple(url_segs)
                for i, seg in enumerate(url_segs):
                    skey = value_key(seg)
                    if skey is None or skey in sent or segment_kind(seg) == "word":
                        continue
                    if skey in sent_trivial and _request_name(f"seg:{i}", tuple(url_segs)) in sent_trivial[skey]:
                        continue  # the client asked for /docs/2 before: this 2 is no news
                    entries = index.get(skey)
                    cand = (t, source, f"url-segment:{i}")
                    if entries is not None and cand in entries:
                        entries[cand] = pos
                    else:
                        if entries is None:
                            index[skey] = {cand: pos}
                        elif len(entries) < MAX_PRODUCERS_PER_VALUE:
                            entries[cand] = pos
                        else:
                            _replace_oldest(entries, cand, pos)
                        if source == "header:Location":
                            cross.add(skey, cand, session)
        if sample:
            request_keys = set(sent_now)
            request_keys.update(k for k, _ in trivial_now)
            acc.vol.add(items, request_keys)
        if req.method.upper() in READ_METHODS:
            if sample:
                sig = hash((req.path, tuple(req.query), bytes(req.body)))
                now = dict(items)
                last = st.last_read.get(t)
                if last is not None and last[0] == sig and last[1] == self.writes:
                    acc.vol.repeat_differs |= repeat_differences(last[2], now)
                st.last_read[t] = (sig, self.writes, now)
        else:
            self.writes += 1

    def _echo_name(self, t: int, source: str, created: bool) -> set[str]:
        """Names a response source answers to, to tell an echoed small value from a produced one.

        An action on one resource answers with that resource: ``$.id`` in the answer to
        ``POST /orders/7/pay`` is the order the client named (``order_id``), not news. A create
        (201 or a Location header) answers with a new object, so only its own names count.
        """
        key = (t, source, created)
        names = self._names_cache.get(key)
        if names is None:
            pattern = self.accs[t].pattern
            path = render_pattern(pattern)
            names = {_norm(production_var(path, source)), _norm(location_name(source))}
            subject = None if created else _action_subject(pattern)
            if subject is not None and created_id_source(source):
                names.add(_segment_name(subject))
            self._names_cache[key] = names
        return names

    # -------------------------------------------------------- refine patterns, build templates

    def _produced_segments(self) -> dict[Origin, set[str]]:
        """Literal segments whose value an earlier response produced: they are parameters after all."""
        out: dict[Origin, set[str]] = {}
        for acc in self.accs:
            for loc, ev in acc.evidence.items():
                if not loc.startswith("seg:"):
                    continue
                i = int(loc[4:])
                seg = acc.pattern[i]
                if seg is PARAM:
                    continue
                for (_, source, _), st in ev.items():
                    if not st.support and not st.cross_nontrivial:
                        continue  # small values seen in other sessions only say nothing about a route
                    id_like_source = source.lower().endswith(("id", "_id")) or source == "header:Location"
                    if st.nontrivial or id_like_source:
                        out.setdefault(acc.origin, set()).add(seg)  # type: ignore[arg-type]
                        break
        return out

    def _finish(self, paths: dict[Origin, set[tuple[str, ...]]], pre: dict[Origin, dict[tuple[str, ...], Pattern]]) -> TemplateSet:
        produced = self._produced_segments()
        final_by_origin = {
            origin: infer_patterns(ps, produced.get(origin, set())) if produced.get(origin) else pre[origin]
            for origin, ps in paths.items()
        }
        # Each first template maps to one final template (a refined pattern only adds parameters).
        pre_members: dict[tuple[Origin, Pattern], tuple[str, ...]] = {}
        for origin, mapping in pre.items():
            for segs, pattern in mapping.items():
                pre_members.setdefault((origin, pattern), segs)
        final_of: list[int] = []
        finals: list[TemplateAcc] = []
        final_index: dict[tuple[Origin, str, Pattern], int] = {}
        for acc in self.accs:
            member = pre_members[(acc.origin, acc.pattern)]
            refined = final_by_origin[acc.origin][member]
            pattern = tuple(PARAM if p is PARAM or r is PARAM else p for p, r in zip(acc.pattern, refined))
            key = (acc.origin, acc.method, pattern)
            f = final_index.get(key)
            if f is None:
                f = final_index[key] = len(finals)
                finals.append(TemplateAcc(acc.origin, acc.method, pattern))
            final_of.append(f)
        remap = final_of.__getitem__
        for t, acc in enumerate(self.accs):
            finals[final_of[t]].merge(acc, remap)
        self.accs = []  # free the first-pass accumulators as we go

        ids = _template_ids(finals)
        paths_of = [render_pattern(a.pattern) for a in finals]
        templates: dict[str, ActionTemplate] = {}
        producer_vars: dict[int, dict[str, str]] = {}
        consumptions: list[tuple[int, str, int, Any]] = []  # consumer, location, producer, choice
        hints: dict[int, list[tuple[str, int, str, str, int]]] = {}
        effects = [classify_effect(a.method, a.pattern, a.created, a.id_bodies, a.count) for a in finals]
        creates = lambda producer: effects[producer] == "create"  # noqa: E731

        for f, acc in enumerate(finals):
            names = param_index_names(acc.pattern)
            for loc in list(acc.fields):
                if loc.startswith("seg:"):
                    i = int(loc[4:])
                    new = f"path:{names[i]}" if i in names else None
                    facc = acc.fields.pop(loc)
                    ev = acc.evidence.pop(loc, None)
                    if new is not None:
                        acc.fields[new] = facc
                        if ev:
                            acc.evidence[new] = ev
            for loc, ev in acc.evidence.items():
                present = acc.fields[loc].count
                forbidden = lambda producer, source, loc=loc, f=f: self._forbidden(ids[f], loc, ids[producer], source)  # noqa: E731
                choice = choose(loc, present, ev, paths_of.__getitem__, forbidden, consumer_path=paths_of[f], creates=creates)
                if choice is not None:
                    consumptions.append((f, loc, choice.producer, choice))  # type: ignore[arg-type]
                for producer, source, transform, n in cross_session_hints(loc, ev, paths_of.__getitem__, consumer_path=paths_of[f], creates=creates):
                    hints.setdefault(f, []).append((loc, producer, source, transform, n))  # type: ignore[arg-type]

        for f, acc in enumerate(finals):
            templates[ids[f]] = self._template(ids[f], acc, paths_of[f], effects[f])
        by_id = {tid: f for f, tid in enumerate(ids)}
        warnings: list[str] = []
        forced_locs: set[tuple[str, str]] = set()
        for fb in self.cfg.bind:
            consumer_id, producer_id = self._resolve_id(fb.consumer, ids), self._resolve_id(fb.producer, ids)
            if consumer_id is None or producer_id is None:
                missing = fb.consumer if consumer_id is None else fb.producer
                warnings.append(f"templates.bind: no template {missing!r} in this recording; binding for {fb.location} not applied")
                continue
            forced_locs.add((consumer_id, fb.location))
            var = self._var(producer_vars, by_id[producer_id], fb.source, paths_of)
            tpl = templates[consumer_id]
            tpl.consumes = [c for c in tpl.consumes if c.location != fb.location]
            tpl.consumes.append(Consumption(var, fb.location, producer_id, fb.source, fb.transform, 1.0, 0, 0))
        for f, loc, producer, choice in consumptions:
            if (ids[f], loc) in forced_locs:
                continue
            var = self._var(producer_vars, producer, choice.source, paths_of)
            templates[ids[f]].consumes.append(make_consumption(var, loc, ids[producer], choice))
        for f, acc in enumerate(finals):
            tpl = templates[ids[f]]
            tpl.consumes.sort(key=lambda c: _location_order(c.location))
            bound = {c.location for c in tpl.consumes}
            tpl.fields = [
                RequestField(loc, "constant" if len(facc.keys) <= 1 and facc.count > 1 else "input", list(facc.examples))
                for loc, facc in sorted(acc.fields.items(), key=lambda kv: _location_order(kv[0]))
                if loc not in bound
            ]
            tpl.produces = [Production(var, source) for source, var in sorted(producer_vars.get(f, {}).items(), key=lambda kv: kv[1])]
            tpl.cross_session = [
                CrossSessionHint(loc, ids[producer], source, transform, n)
                for loc, producer, source, transform, n in sorted(hints.get(f, []), key=lambda h: (_location_order(h[0]), -h[4]))
            ]

        sessions: dict[str, list[Step]] = {}
        for session, seq, t in self.steps:
            sessions.setdefault(session, []).append(Step(ids[final_of[t]], seq))
        tset = TemplateSet(templates=templates, sessions=sessions, source=str(self.rec.path), ignored=self.ignored, warnings=warnings)
        return _apply_names(tset, self.cfg)

    def _var(self, producer_vars: dict[int, dict[str, str]], producer: int, source: str, paths_of: list[str]) -> str:
        table = producer_vars.setdefault(producer, {})
        if source not in table:
            base = production_var(paths_of[producer], source)
            used = set(table.values())
            var, n = base, 2
            while var in used:
                var, n = f"{base}_{n}", n + 1
            table[source] = var
        return table[source]

    def _forbidden(self, consumer: str, location: str, producer: str, source: str) -> bool:
        if not self.cfg.forbid:
            return False
        names = self.cfg.names
        return self.cfg.forbidden(consumer, location, producer, source) or self.cfg.forbidden(
            names.get(consumer, consumer), location, names.get(producer, producer), source
        )

    def _resolve_id(self, name: str, ids: list[str]) -> str | None:
        if name in ids:
            return name
        for default, renamed in self.cfg.names.items():
            if renamed == name and default in ids:
                return default
        return None

    def _template(self, tid: str, acc: TemplateAcc, path: str, effect: Effect) -> ActionTemplate:
        scheme, host, port = acc.origin
        examples = acc.examples_ok or acc.examples_any
        volatile: dict[str, str] = {}
        for source, reason in sorted(volatile_sources(acc.vol).items()):
            entry = as_volatile_entry(source)
            if entry is not None:
                volatile[entry] = reason
        for entry in self.cfg.volatile_for(tid) + self.cfg.volatile_for(self.cfg.names.get(tid, tid)):
            volatile[entry] = "config"
        return ActionTemplate(
            id=tid,
            method=acc.method,
            path=path,
            scheme=scheme,
            host=host,
            port=port,
            count=acc.count,
            effect=effect,
            exchange_seqs=sorted(acc.seqs),
            statuses=dict(sorted(acc.statuses.items())),
            response_schema=node_schema(acc.shape),
            volatile=list(volatile),
            volatile_reasons=volatile,
            example_request=examples[0] if examples else None,
            example_response=acc.example_response,
            example_requests=list(examples),
            sessions=len(acc.sessions),
        )


def classify_effect(method: str, pattern: Pattern, created: int, id_bodies: int, count: int) -> Effect:
    """read/create/update/delete/action from the method and the shape of the path."""
    if method in READ_METHODS:
        return "read"
    if method == "DELETE":
        return "delete"
    if method in ("PUT", "PATCH"):
        return "update"
    last = pattern[-1] if pattern else ""
    if method == "POST":
        if created * 2 >= count and created:
            return "create"
        if last is PARAM:
            return "update"
        if len(pattern) >= 2 and pattern[-2] is PARAM:
            return "action"  # /orders/{order_id}/refund: a verb on one resource
        if id_bodies * 2 >= count and id_bodies and isinstance(last, str) and last.endswith("s"):
            return "create"
    return "action"


def _template_ids(finals: list[TemplateAcc]) -> list[str]:
    labels = [f"{a.method} {render_pattern(a.pattern)}" for a in finals]
    clashes = {lbl for lbl in labels if labels.count(lbl) > 1} if len(set(labels)) != len(labels) else set()
    out = []
    for acc, label in zip(finals, labels):
        if label in clashes:
            scheme, host, port = acc.origin
            out.append(f"{acc.method} {scheme}://{host}:{port}{render_pattern(acc.pattern)}")
        else:
            out.append(label)
    return out


_ORDER = {"path": 0, "query": 1, "body": 2, "form": 3, "header": 4, "cookie": 5}


def _location_order(loc: str) -> tuple[int, str]:
    return _ORDER.get(loc.partition(":")[0], 9), loc


def _apply_names(tset: TemplateSet, cfg: InferenceConfig) -> TemplateSet:
    """Rename templates as the config asks, everywhere their id appears."""
    if not cfg.names:
        return tset
    taken = set(tset.templates)
    for old, new in cfg.names.items():
        if old in tset.templates and new in taken and new != old and new not in cfg.names:
            raise ConfigError(f"templates.names: {old!r} -> {new!r} clashes with an existing template id")
    rename = {old: new for old, new in cfg.names.items() if old in tset.templates}
    if not rename:
        return tset
    templates: dict[str, ActionTemplate] = {}
    for tid, tpl in tset.templates.items():
        tpl.id = rename.get(tid, tid)
        for c in tpl.consumes:
            c.producer = rename.get(c.producer, c.producer)
        for h in tpl.cross_session:
            h.producer = rename.get(h.producer, h.producer)
        templates[tpl.id] = tpl
    tset.templates = templates
    for steps in tset.sessions.values():
        for step in steps:
            step.template = rename.get(step.template, step.template)
    return tset
