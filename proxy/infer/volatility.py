"""Noise in responses: fields whose values vary with nothing in the traffic to explain them.

Two kinds of evidence, gathered per template while the recording is read:

- the same request sent twice in a session with no state-changing call in between came back with a
  different value (``repeat-differs``): the strongest sign, it needs no guess about the value;
- the value is different in (nearly) every instance, is not an echo of the request, and looks like a
  clock reading (``timestamp``) or a random token (``random``); fields named like identifiers are
  left alone (a new id per create is data, not noise), unless named like request or trace ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from venom_replay.proxy.infer.path_patterns import segment_kind

MAX_DISTINCT = 64
SAMPLE_PER_TEMPLATE = 400
"""Instances per template whose response values are tracked: enough to tell noise from data."""

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_HTTP_DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
_ID_NAME = re.compile(r"(^|[._\['])(id|uuid|guid|[a-z0-9]+_(id|uuid)|[a-z0-9]+(Id|Uuid))'?\]?$")
_NOISE_NAME = re.compile(r"(request|trace|correlation|span|nonce)", re.IGNORECASE)


def looks_like_time(key: str) -> bool:
    if _ISO_TIME.match(key) or _HTTP_DATE.match(key):
        return True
    try:
        num = float(key)
    except ValueError:
        return False
    return 1e9 <= num <= 2e10 or 1e12 <= num <= 2e13  # unix seconds or milliseconds


def looks_random(key: str) -> bool:
    return len(key) >= 12 and segment_kind(key) in ("uuid", "hex", "token")


@dataclass(slots=True)
class SourceStats:
    count: int = 0
    distinct: set[str] = field(default_factory=set)
    explained: int = 0
    timelike: int = 0
    randomlike: int = 0

    def add(self, key: str, echoed: bool) -> None:
        self.count += 1
        if len(self.distinct) < MAX_DISTINCT:
            self.distinct.add(key)
        if echoed:
            self.explained += 1
        if looks_like_time(key):
            self.timelike += 1
        elif looks_random(key):
            self.randomlike += 1

    def merge(self, other: "SourceStats") -> None:
        self.count += other.count
        for key in other.distinct:
            if len(self.distinct) >= MAX_DISTINCT:
                break
            self.distinct.add(key)
        self.explained += other.explained
        self.timelike += other.timelike
        self.randomlike += other.randomlike


@dataclass(slots=True)
class VolatilityAcc:
    """Per-template evidence; ``merge`` joins templates that turned out to be one."""

    sources: dict[str, SourceStats] = field(default_factory=dict)
    repeat_differs: set[str] = field(default_factory=set)
    sampled: int = 0

    def add(self, items: list[tuple[str, str]], request_keys: set[str]) -> None:
        self.sampled += 1
        for source, key in items:
            stats = self.sources.get(source)
            if stats is None:
                stats = self.sources[source] = SourceStats()
            stats.add(key, key in request_keys)

    def merge(self, other: "VolatilityAcc") -> None:
        self.sampled += other.sampled
        self.repeat_differs |= other.repeat_differs
        for source, stats in other.sources.items():
            if source in self.sources:
                self.sources[source].merge(stats)
            else:
                self.sources[source] = stats


def repeat_differences(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Sources present in both answers to one repeated request whose values differ."""
    return {s for s, v in after.items() if s in before and before[s] != v}


def volatile_sources(acc: VolatilityAcc) -> dict[str, str]:
    """``source -> reason`` for every source judged noise."""
    out: dict[str, str] = {}
    for source in acc.repeat_differs:
        out[source] = "repeat-differs"
    for source, st in acc.sources.items():
        if source in out or st.count < 3 or len(st.distinct) < 2:
            continue
        if st.explained * 2 >= st.count:
            continue  # mostly an echo of what the client sent
        id_named = bool(_ID_NAME.search(source)) and not _NOISE_NAME.search(source)
        if id_named:
            continue
        distinct_ratio = 1.0 if len(st.distinct) >= MAX_DISTINCT else len(st.distinct) / st.count
        if st.timelike >= 0.8 * st.count:
            out[source] = "timestamp"  # clocks that move at all are noise, even within one second
        elif st.randomlike >= 0.8 * st.count and distinct_ratio >= 0.9:
            out[source] = "random"
        elif _NOISE_NAME.search(source) and distinct_ratio >= 0.9:
            out[source] = "random"
    return out


def as_volatile_entry(source: str) -> str | None:
    """The ``volatile`` list spelling: ``$.created_at`` for body fields, ``header:Name`` for headers."""
    if source.startswith("body:"):
        return source[len("body:"):]
    if source.startswith("header:"):
        return source
    return None
