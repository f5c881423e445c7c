"""Request variants: the distinct shapes of one template's requests, each with its own examples.

One endpoint serves several intents: ``PUT /records/{id}`` with ``If-None-Match: *`` creates only,
with ``If-Match`` updates the version read, with neither overwrites; a list read with ``?_since=``
asks for changes, without it for everything. A shape is the set of parts a request had (header
names, ``If-None-Match: *`` apart, query parameter names, form and JSON body fields with array
items folded), and replay sends a shape as it was recorded.

Examples are kept per shape and per caller (the Basic user, else the credential), so that bob's
calls keep bob's requests instead of being replayed as alice. Within one (shape, caller) a few are
kept, successful ones and refused ones apart. Every shape is kept, whatever their number: an
example is a reference to a request the recording holds anyway, and keys that are data (ids in
id-keyed maps) are folded so that they do not make a shape per request. Callers with examples of
their own are bounded per shape (load tests with thousands of users).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from venom_replay.proxy.infer.path_patterns import segment_kind
from venom_replay.proxy.infer.credentials import basic_credentials, credential_of, short_hash
from venom_replay.proxy.infer.values import (
    canonical_header,
    form_pairs,
    is_form,
    parse_json_path,
    walk_json,
    SKIP_REQUEST_HEADERS,
)
from venom_replay.proxy.recording import Request

Shape = tuple[str, ...]

MAX_OK_PER_GROUP = 3
"""Successful examples kept per (shape, caller); the first ones seen."""
MAX_REFUSED_PER_GROUP = 2
"""Refused (4xx/5xx) examples kept per (shape, caller)."""
MAX_CALLERS_PER_SHAPE = 32
"""Callers with examples of their own per shape (load tests with thousands of users share)."""
CONDITIONAL_ANY = "header:If-None-Match=*"
"""``If-None-Match: *`` (create only) is its own part: a different intent from a version check."""


def request_shape(req: Request) -> Shape:
    """The parts a request has, sorted: headers, query names, form or JSON body fields."""
    parts: set[str] = set()
    for name, value in req.headers:
        lname = name.lower()
        if lname in SKIP_REQUEST_HEADERS or lname.startswith(("sec-ch-", "x-forwarded-")):
            continue
        if lname == "if-none-match" and value.strip() == "*":
            parts.add(CONDITIONAL_ANY)
        else:
            parts.add(f"header:{canonical_header(name)}")
    parts.update(f"query:{name}" for name, _ in req.query)
    if req.body and not req.body_truncated:
        if is_form(req.headers):
            parts.update(f"form:{name}" for name, _ in form_pairs(req.body))
        else:
            data = req.json()
            if data is not None:
                parts.update(_field_part(path) for path, _ in walk_json(data, "body:$", generalize=True))
    return tuple(sorted(parts))


def _field_part(path: str) -> str:
    """``body:$.carts['1017'].qty`` -> ``body:$.carts[*].qty``: keys that are data are not fields."""
    if "['" not in path:
        return path
    out = "body:$"
    for part in parse_json_path(path[5:]):
        if part == "*" or isinstance(part, int):
            out += "[*]"
        elif part.isidentifier() or segment_kind(part) in ("word", "slug"):
            out += f".{part}" if part.isidentifier() else f"['{part}']"
        else:
            out += "[*]"
    return out


def request_caller(req: Request, credential: str | None = None) -> str:
    """Who sends a request: ``basic:<user>`` (a password change keeps the user), a hash of any other
    credential (``credential``: the request's, when the caller has it), or ``""`` when anonymous."""
    credential = credential if credential is not None else credential_of(req)
    if credential is None:
        return ""
    basic = basic_credentials(credential.partition(":")[2]) if credential.startswith("authorization:") else None
    return "basic:" + basic[0] if basic is not None else short_hash(credential)


def _signature(req: Request, shape: Shape, credential: str | None, ok: bool) -> int:
    """Equal for requests that send the same thing with the same credential and got the same kind of
    answer: the same call refused later (a password since changed, a grant revoked) is its own example."""
    return hash((req.path, tuple(req.query), bytes(req.body), shape, credential, ok))


@dataclass(slots=True)
class Example:
    request: Request
    seq: int
    status: int
    shape: Shape
    caller: str


@dataclass(slots=True)
class ShapeAcc:
    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    callers: dict[str, list[int]] = field(default_factory=dict)
    """caller -> [successful examples kept, refused examples kept]"""


@dataclass(slots=True)
class VariantsAcc:
    """The shapes of one template's requests and the examples kept for each (shape, caller)."""

    shapes: dict[Shape, ShapeAcc] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    signatures: set[int] = field(default_factory=set)

    def add(self, req: Request, seq: int, status: int) -> None:
        shape = request_shape(req)
        acc = self.shapes.get(shape)
        if acc is None:
            acc = self.shapes[shape] = ShapeAcc()
        acc.count += 1
        acc.statuses[status] = acc.statuses.get(status, 0) + 1
        credential = credential_of(req)
        caller = request_caller(req, credential)
        kept = acc.callers.get(caller)
        if kept is None:
            if len(acc.callers) >= MAX_CALLERS_PER_SHAPE:
                return
            kept = acc.callers[caller] = [0, 0]
        ok = status < 400
        if kept[0 if ok else 1] >= (MAX_OK_PER_GROUP if ok else MAX_REFUSED_PER_GROUP):
            return
        sig = _signature(req, shape, credential, ok)
        if sig in self.signatures:
            return
        self.signatures.add(sig)
        kept[0 if ok else 1] += 1
        self.examples.append(Example(req, seq, status, shape, caller))

    def merge(self, other: VariantsAcc) -> None:
        """Fold another first-pass template's variants in (refine merges templates)."""
        for shape, acc in other.shapes.items():
            mine = self.shapes.setdefault(shape, ShapeAcc())
            mine.count += acc.count
            for status, n in acc.statuses.items():
                mine.statuses[status] = mine.statuses.get(status, 0) + n
            for caller in acc.callers:  # after the pass only who called counts, not how many were kept
                mine.callers.setdefault(caller, [0, 0])
        for ex in other.examples:
            sig = _signature(ex.request, ex.shape, credential_of(ex.request), ex.status < 400)
            if sig not in self.signatures:
                self.signatures.add(sig)
                self.examples.append(ex)

    def ordered(self) -> list[tuple[Shape, ShapeAcc, list[Example]]]:
        """Shapes, the most frequent first (then the first seen), each with its examples: successful
        ones first, then by arrival. A shape whose requests all failed comes after those with a success.

        The first example of the first shape is the template's default request.
        """
        by_shape: dict[Shape, list[Example]] = {}
        for ex in sorted(self.examples, key=lambda e: e.seq):
            by_shape.setdefault(ex.shape, []).append(ex)  # a shape's first request is always kept

        def rank(shape: Shape) -> tuple[bool, int, int]:
            kept = by_shape.get(shape, [])
            succeeded = any(e.status < 400 for e in kept)
            return not succeeded, -self.shapes[shape].count, kept[0].seq if kept else 0

        out = []
        for shape in sorted(self.shapes, key=rank):
            examples = sorted(by_shape.get(shape, []), key=lambda e: (e.status >= 400, e.seq))
            out.append((shape, self.shapes[shape], examples))
        return out
