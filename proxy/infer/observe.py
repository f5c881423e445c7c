"""The pass over the exchanges: fold each one into its template's and its session's accumulators.

Per exchange, in this order:

1. the request: every value goes into its field; each is one hash probe into the session's index
   of values earlier responses produced, and the producers found are kept as binding evidence
   (``record_instance``); a value with no producer in its session may have one in another
   (``CrossSessionIndex``). ``Bearer x`` is looked up as ``x`` too.
2. the response: its body's shape and effect signals, then every value it carries is indexed as
   produced by this template, unless the client sent it first (an echo). URLs are indexed by their
   path segments as well (``Location: /orders/7`` produced ``7``).
3. noise: the response's values beside the request's, and a read repeated with no write between
   whose answer differs (volatility.py).
4. behaviour: the objects the request named (its last id in the path, its id-named fields) are
   handed to ``FollowUps``: a write waits there for the next read of the same object, whose answer
   (404, marked deleted, alive again) says what the write did (effects.py).

The work per exchange is bounded (``MAX_PRODUCERS_PER_VALUE``, ``MAX_ARRAY_ITEMS``), so the pass is
linear in the traffic. The two inner loops run for every value of the recording: they are written
for speed (locals, ``value_key`` inlined), and the rarer cases are helpers.
"""

from __future__ import annotations

from typing import Any

from venom_replay.proxy.infer.accumulators import CrossSessionIndex, FieldAcc, Origin, SessionState, TemplateAcc, request_signature
from venom_replay.proxy.infer.bindings import (Candidate, alias_from_sibling, generic_id_sibling, id_field_name,
                                               record_cross_session, record_instance)
from venom_replay.proxy.infer.echoes import answer_names, request_name
from venom_replay.proxy.infer.effects import READ_METHODS, FollowUps, Subject, is_read_call
from venom_replay.proxy.infer.path_patterns import PARAM, Pattern, segment_kind
from venom_replay.proxy.infer.values import MAX_VALUE_LEN, BodyLeaves, is_trivial_key, request_values, response_values, url_segments, value_key
from venom_replay.proxy.infer.volatility import SAMPLE_PER_TEMPLATE, repeat_differences
from venom_replay.proxy.recording import Exchange, Request

TemplateKey = tuple[Origin, str, Pattern]
"""(origin, method, first pattern)"""


class Observer:
    """The first-pass templates and everything observed about them, one exchange at a time."""

    def __init__(self) -> None:
        self.accs: list[TemplateAcc] = []
        self._acc_index: dict[TemplateKey, int] = {}
        self.cross = CrossSessionIndex()
        self.writes = 0
        """Exchanges so far whose method may change state: a repeated read after one is no noise."""
        self._request_bodies = BodyLeaves(generalize=False)
        self._response_bodies = BodyLeaves(generalize=True)
        self._names_cache: dict[tuple[int, str, bool], set[str]] = {}
        self.follow = FollowUps()
        self._reads: list[bool] = []
        """Per template: does it only read (a GET, or an RPC read verb such as ``POST .../search``)."""

    def template(self, key: TemplateKey) -> int:
        """The index of a first-pass template, created at its first exchange."""
        t = self._acc_index.get(key)
        if t is None:
            t = self._acc_index[key] = len(self.accs)
            self.accs.append(TemplateAcc(*key))
            self._reads.append(is_read_call(key[1], key[2]))
        return t

    def observe(self, ex: Exchange, segs: tuple[str, ...], t: int, st: SessionState) -> None:
        """Fold one exchange (an instance of template ``t``) into the accumulators."""
        acc = self.accs[t]
        req, resp = ex.request, ex.response
        assert resp is not None
        acc.tally(ex.seq, ex.session, resp.status)
        pos = st.pos
        st.pos += 1
        values: list[tuple[str, Any]] = list(zip(_seg_locs(len(segs)), segs))
        values.extend(request_values(req, self._request_bodies, t))
        sent_now, trivial_now = self._observe_request(acc, values, segs, st, pos, ex.session)
        acc.keep_example(req, resp.status)
        data, leaves = self._response_bodies.get(resp, t)
        created = resp.status == 201 or resp.header("location") is not None
        acc.fold_body(resp, data, created)
        produced = response_values(resp, leaves=leaves)
        items = self._index_response(t, produced, created, st, pos, ex.session, acc.vol.sampled < SAMPLE_PER_TEMPLATE)
        if items is not None:
            request_keys = set(sent_now)
            request_keys.update(k for k, _ in trivial_now)
            acc.vol.add(items, request_keys)
        if req.method.upper() in READ_METHODS:
            if items is not None:
                self._compare_repeated_read(acc, t, req, items, st)
        else:
            self.writes += 1
        reads = self._reads[t]
        # A write that failed did nothing to follow up; a read matters only while one is waiting.
        if (reads and self.follow.watching()) or (not reads and 200 <= resp.status < 300):
            subjects = _subjects(acc.origin, acc.pattern, segs, values, st.index)
            if subjects:
                if reads:
                    self.follow.read(subjects, resp.status, data, resp.body)
                else:
                    self.follow.wrote(subjects, acc.behaviour)

    # -------------------------------------------------------- the request

    def _observe_request(self, acc: TemplateAcc, values: list[tuple[str, Any]], segs: tuple[str, ...], st: SessionState,
                         pos: int, session: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Every request value (``values``: the path segments first) into its field, and its
        producers into the evidence.

        Returns the distinctive value keys sent, and the small ones with the names they were sent under.
        """
        n_segs = len(segs)
        sent_now: list[str] = []
        trivial_now: list[tuple[str, str]] = []
        pattern, fields, evidence, index = acc.pattern, acc.fields, acc.evidence, st.index
        cross = self.cross
        cross_new, cross_old = cross.new, cross.old  # the generations turn over only in add()
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
                trivial_now.append((key, request_name(loc, segs)))
            else:
                sent_now.append(key)
            if i < n_segs and pattern[i] is not PARAM and segment_kind(value) == "word":
                continue  # route words ("orders", "refund") are not data
            # Every indexed producer of this very value is a candidate as indexed (the index entry
            # itself serves as the candidate map unless a transform adds to it).
            candidates: dict[Candidate, int] | None = index.get(key)
            if isinstance(value, str) and " " in value:
                candidates = _with_scheme(value, candidates, index, sent_now)
            if candidates:
                # Only small values need the Location's word for it; larger ones bind on sight.
                pointed = _pointed(candidates, st.locations, segs, i) if trivial and i < n_segs and st.locations else None
                alias = _alias(loc, values) if i >= n_segs and generic_id_sibling(loc) else None
                record_instance(evidence.get(loc) or evidence.setdefault(loc, {}), candidates, pos, session, key, trivial,
                                pointed, alias)
            elif key in cross_new or key in cross_old:
                others = cross.others(key, session)
                if others:
                    record_cross_session(evidence.get(loc) or evidence.setdefault(loc, {}), others, trivial)
        st.sent.update(sent_now)
        for key, name in trivial_now:
            st.sent_trivial.setdefault(key, set()).add(name)
        return sent_now, trivial_now

    # -------------------------------------------------------- the response

    def _index_response(self, t: int, produced: list[tuple[str, Any]], created: bool, st: SessionState, pos: int,
                        session: str, sample: bool) -> list[tuple[str, str]] | None:
        """Index the values a response produced; returns them as ``(source, key)`` when sampled for noise."""
        items: list[tuple[str, str]] = []
        sent, sent_trivial = st.sent, st.sent_trivial
        index_producer = st.index_producer
        cross = self.cross
        for source, value in produced:
            key = (value if value and len(value) <= MAX_VALUE_LEN else None) if type(value) is str else value_key(value)
            if key is None:
                continue
            if sample:
                items.append((source, key))
            if key not in sent and not (key in sent_trivial and self._answer_names(t, source, created) & sent_trivial[key]):
                cand = (t, source, "identity")
                if index_producer(key, cand, pos):
                    cross.add_if_id(key, cand, session)
            if isinstance(value, str) and value[:1] in ("/", "h"):
                self._index_url_segments(t, source, value, st, pos, session)
        return items if sample else None

    def _index_url_segments(self, t: int, source: str, url: str, st: SessionState, pos: int, session: str) -> None:
        """``Location: /orders/7`` (or a URL in the body) produced ``7``, as segment 1 of the URL."""
        url_segs = url_segments(url)
        if source == "header:Location" and url_segs:
            st.locations[pos] = tuple(url_segs)
        for i, seg in enumerate(url_segs):
            skey = value_key(seg)
            if skey is None or skey in st.sent or segment_kind(seg) == "word":
                continue
            if skey in st.sent_trivial and request_name(f"seg:{i}", tuple(url_segs)) in st.sent_trivial[skey]:
                continue  # the client asked for /docs/2 before: this 2 is no news
            cand = (t, source, f"url-segment:{i}")
            if st.index_producer(skey, cand, pos) and source == "header:Location":
                self.cross.add(skey, cand, session)

    def _answer_names(self, t: int, source: str, created: bool) -> set[str]:
        """``answer_names`` of template ``t``, cached: the same few sources come back all the time."""
        key = (t, source, created)
        names = self._names_cache.get(key)
        if names is None:
            names = self._names_cache[key] = answer_names(self.accs[t].pattern, source, created)
        return names

    # -------------------------------------------------------- noise

    def _compare_repeated_read(self, acc: TemplateAcc, t: int, req: Request, items: list[tuple[str, str]], st: SessionState) -> None:
        """The same read again with no write in between: what differs in its answer is noise."""
        sig = request_signature(req)
        now = dict(items)
        last = st.last_read.get(t)
        if last is not None and last[0] == sig and last[1] == self.writes:
            acc.vol.repeat_differs |= repeat_differences(last[2], now)
        st.last_read[t] = (sig, self.writes, now)


def _alias(loc: str, values: list[tuple[str, Any]]) -> str | None:
    """``resource_id`` sent beside ``resource_type: "experiment"`` goes by ``experiment_id``."""
    sibling = generic_id_sibling(loc)
    for other, value in values:
        if other == sibling:
            return alias_from_sibling(value)
    return None


_ID_SEGMENT_KINDS = frozenset({"int", "uuid", "hex", "token"})


def _subjects(origin: Any, pattern: Pattern, segs: tuple[str, ...], values: list[tuple[str, Any]],
              produced: dict[str, Any]) -> list[Subject]:
    """The objects a request names, as ``(origin, name, value)``: the last id in its path
    (``/orders/7/pay`` names order 7; a slug counts once a response produced it) and its id-named
    query, form and body fields outside lists (``{"experiment_id": "2"}``; not ``experiment_ids[0]``,
    a search across several)."""
    out: list[Subject] = []
    n_segs = len(segs)
    for i in range(n_segs - 1, -1, -1):
        seg = segs[i]
        kind = segment_kind(seg)
        if pattern[i] is PARAM or kind in _ID_SEGMENT_KINDS or (kind == "slug" and seg in produced):
            out.append((origin, request_name(f"seg:{i}", segs), seg))
            break
    for loc, value in values[n_segs:]:
        name = id_field_name(loc)
        if name is not None:
            key = value_key(value)
            if key is not None and key[0] != "\x00":
                out.append((origin, name, key))
    return out


_SEG_LOCS: list[str] = []


def _seg_locs(n: int) -> list[str]:
    """``["seg:0", ... "seg:<n-1>"]``, built once: every exchange names its path segments so."""
    while len(_SEG_LOCS) < n:
        _SEG_LOCS.append(f"seg:{len(_SEG_LOCS)}")
    return _SEG_LOCS[:n]


def _with_scheme(value: str, candidates: dict[Candidate, int] | None, index: dict[str, dict[Candidate, int]],
                 sent_now: list[str]) -> dict[Candidate, int] | None:
    """``Bearer x`` / ``Token x``: x may have come from a response (one transform only)."""
    scheme, _, rest = value.partition(" ")
    if not (scheme.isalpha() and rest and " " not in rest):
        return candidates
    rkey = value_key(rest)
    if rkey is None:
        return candidates
    transform = "bearer" if scheme.lower() == "bearer" else f"format:{scheme} {{}}"
    sent_now.append(rkey)
    entries = index.get(rkey)
    if not entries:
        return candidates
    candidates = dict(candidates) if candidates else {}
    for (producer, source, ptransform), ppos in entries.items():
        if ptransform != "identity":
            continue  # two transforms in a row cannot be expressed
        cand = (producer, source, transform)
        if candidates.get(cand, -1) < ppos:
            candidates[cand] = ppos
    return candidates


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
