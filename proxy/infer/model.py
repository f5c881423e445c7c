"""Action templates: the unit that the graph and the explorer work on.

A template is one kind of call (method + path pattern on one origin) learned from many recorded
exchanges. It says which values its responses produce and which values its requests consume from
earlier responses (bindings), which request fields are constants and which are free inputs, and what
its responses normally look like.

Values bound on a replayed path are keyed by ``(producer template id, source)``: a consumer asks for
the latest value that its producer's source yielded on the current path.

Location strings (where a value sits in a request):
    ``path:<param>``, ``query:<name>``, ``body:$.a.b[0]`` (JSON), ``form:<name>``,
    ``header:<Name>``, ``cookie:<name>``
Source strings (where a value is read from a response):
    ``body:$.a.b``, ``header:Location``, ``header:ETag``, ``cookie:<name>`` (from Set-Cookie)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from venom_replay.proxy.recording import Request, Response, origin_url

FieldKind = Literal["constant", "input", "bound"]
Effect = Literal["read", "create", "update", "delete", "archive", "restore", "action"]


@dataclass(slots=True)
class Production:
    """A value that a template's responses yield and some later call consumes."""

    var: str
    """Readable name, e.g. ``order_id`` or ``token``."""
    source: str
    """Where in the response: ``body:$.id``, ``header:Location``, ``header:ETag``, ``cookie:sid``; or,
    for an identity, where in the request: ``request:body:$.password``."""
    user_from: str = ""
    """Set for an identity (a password some later call logs in with): where the user name it belongs to
    is, in the same exchange (``request:body:$.username``, ``request:path:<param>``, ``body:$.user.name``,
    or ``caller``: the producing call's own Basic user). Replay keeps the latest password per user, read
    from whichever template set it last (a user create, then a password change)."""


@dataclass(slots=True)
class Consumption:
    """A binding: a request value that comes from an earlier response (producer -> consumer)."""

    var: str
    location: str
    """Where in this template's request the value goes: ``path:order_id``, ``header:Authorization``..."""
    producer: str
    """Id of the producing template."""
    source: str
    """Where in the producer's response the value is read (one of the producer's Production sources)."""
    transform: str = "identity"
    """How the produced value becomes the request value: ``identity``, ``bearer`` ("Bearer <v>"),
    ``basic`` (HTTP Basic: the recorded user with the password that user has on the current path),
    ``url-segment:<i>`` (segment i of a URL path, e.g. an id inside a Location header), or a
    ``format:<text with {}>`` pattern."""
    score: float = 1.0
    """Confidence in [0, 1]."""
    support: int = 1
    """How many recorded exchanges showed this flow."""
    sessions: int = 1
    """How many distinct sessions showed it."""
    same_resource: bool = False
    """The value belongs to the resource the request is about (an ETag or version sent back to the
    path it was read from): replay takes it from the latest answer about that same resource, not
    from the latest answer of the producing template."""


@dataclass(slots=True)
class CrossSessionHint:
    """A request value that an earlier response produced, but only in another session.

    No binding (a replayed path cannot carry a value across sessions), kept so that users see the
    flow: an admin refunding the order a shopper created.
    """

    location: str
    producer: str
    source: str
    transform: str = "identity"
    instances: int = 0
    """How many recorded requests carried a value that only another session had produced."""


@dataclass(slots=True)
class RequestField:
    """A request value that no earlier response explains."""

    location: str
    kind: FieldKind
    """``constant`` (the same in every instance) or ``input`` (varies; replay uses the examples)."""
    examples: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class RequestVariant:
    """One request shape of a template: which parts its requests had.

    ``PUT /records/{id}`` with ``If-None-Match: *`` (create only), with ``If-Match`` (update this
    version) and with neither are three intents of one endpoint; optional query parameters and body
    fields make shapes too. Replay renders a variant as recorded and never adds a part it lacked.
    """

    parts: list[str]
    """The locations present, sorted: ``header:If-Match``, ``header:If-None-Match=*``, ``query:_since``,
    ``body:$.data.last_modified`` (array items as ``[*]``), ``form:qty``; cookies are left out."""
    examples: list[int] = field(default_factory=list)
    """Indices into the template's ``example_requests``: at least one per recorded identity."""
    count: int = 0
    """Recorded requests of this shape."""
    statuses: dict[int, int] = field(default_factory=dict)
    identities: int = 0
    """Distinct callers seen with this shape (a Basic user, another credential, or nobody)."""


@dataclass(slots=True)
class ActionTemplate:
    id: str
    method: str
    path: str
    """Path pattern with ``{name}`` parameters, e.g. ``/orders/{order_id}/refund``."""
    scheme: str = "http"
    host: str = ""
    port: int = 80
    count: int = 0
    effect: Effect = "action"
    exchange_seqs: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    produces: list[Production] = field(default_factory=list)
    consumes: list[Consumption] = field(default_factory=list)
    fields: list[RequestField] = field(default_factory=list)
    response_schema: dict[str, Any] | None = None
    """JSON schema inferred from the 2xx response bodies (volatile fields included, but listed)."""
    volatile: list[str] = field(default_factory=list)
    """JSON paths (``$.created_at``) or ``header:<Name>`` whose values vary with nothing to explain them."""
    example_request: Request | None = None
    example_response: Response | None = None
    example_requests: list[Request] = field(default_factory=list)
    """A few distinct recorded requests (the first is ``example_request``); ``render_request(example=i)``
    uses the i-th as the skeleton so that a replayed call keeps one recorded instance's inputs together."""
    sessions: int = 0
    """How many recorded sessions called this template."""
    volatile_reasons: dict[str, str] = field(default_factory=dict)
    """Why each entry of ``volatile`` was judged noise (``timestamp``, ``random``, ``repeat-differs``, ``config``)."""
    cross_session: list[CrossSessionHint] = field(default_factory=list)
    """Values this template's requests carried that were produced in other sessions only (not bindings)."""
    variants: list[RequestVariant] = field(default_factory=list)
    """Every distinct request shape seen, the most frequent first (empty for hand-built templates:
    the explorer then takes the first example)."""
    example_seqs: list[int] = field(default_factory=list)
    """The recorded exchange each of ``example_requests`` is (same order; may be empty)."""
    unbound_examples: dict[int, list[str]] = field(default_factory=dict)
    """Example index -> bound locations whose recorded value did not come from the binding (a
    password that was stale when sent, a user no call created): that example keeps its recorded value."""

    @property
    def params(self) -> list[str]:
        """Path parameter names in order, e.g. ``['user_id', 'order_id']``."""
        return [seg[1:-1] for seg in self.path.split("/") if seg.startswith("{") and seg.endswith("}")]

    @property
    def origin(self) -> str:
        return origin_url(self.scheme, self.host, self.port)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(slots=True)
class Step:
    """One recorded exchange, seen as an instance of a template."""

    template: str
    seq: int


@dataclass(slots=True)
class TemplateSet:
    """Everything learned from one recording."""

    templates: dict[str, ActionTemplate]
    sessions: dict[str, list[Step]]
    """Each session's recorded exchanges, in order, as template instances."""
    source: str = ""
    """Path of the recording this was learned from."""
    ignored: int = 0
    """Exchanges left out (ignored by config, failed, non-HTTP)."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know, e.g. a configured binding that names a template not in the recording."""
    session_parts: dict[str, list[str]] = field(default_factory=dict)
    """Each (flow) session -> the recorded sessions its exchanges came on: inference regroups the
    recorded connections by credential and value flow (grouping.py)."""
