"""Batch and multi-status answers: one HTTP answer that carries the answers of several inner requests.

Kinto's ``POST /v1/batch`` answers 200 with ``{"responses": [{"status", "path", "body", "headers"}, ...]}``;
WebDAV-style multi-status (207) answers list entries such as ``{"href": ..., "status": "HTTP/1.1 404
Not Found", "propstat": ...}``. The outer status says only that the batch was read; each inner answer
is the outcome of its own request and is judged as that step would be: an inner 5xx is a server
error, an inner 4xx is a refusal (a sane answer to an ordering, never a shape problem), and an inner
body belongs to the inner request, not to the batch call's recorded shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["BatchAnswer", "InnerAnswer", "batch_answer", "generic_path", "strip_inner_answers"]

INNER_CONTENT_KEYS = ("body", "headers", "propstat")
"""Keys of an inner answer that hold the inner request's own content."""
_LOCATION_KEYS = ("path", "href", "url", "uri", "location")
_STATUS_LINE = re.compile(r"^\s*(?:HTTP/\d(?:\.\d)?\s+)?([1-5]\d\d)\b")


@dataclass(frozen=True, slots=True)
class InnerAnswer:
    index: int
    status: int
    path: str | None
    """The inner request's path (or href) as the answer or the batch request names it."""
    method: str | None
    """The inner request's method, from the batch request's list of requests."""
    body: Any

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.method, self.path) if p) or f"inner request {self.index + 1}"


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    keys: tuple[str, ...]
    """Where the list of inner answers sits: ``("responses",)``; empty when the body is the list."""
    answers: tuple[InnerAnswer, ...]

    @property
    def list_path(self) -> str:
        """JSON path of the list of inner answers (``$.responses``), written as the shape checker does."""
        return "$" + "".join(f".{k}" for k in self.keys)

    def holds(self, json_path: str) -> bool:
        """Whether ``json_path`` (``$.responses[*].body.data``) lies inside one inner answer's own
        content: its body, headers or properties."""
        for key in INNER_CONTENT_KEYS:
            inner = f"{self.list_path}[*].{key}"
            if json_path == inner or json_path.startswith((inner + ".", inner + "[")):
                return True
        return False


def _status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 100 <= value <= 599 else None
    if isinstance(value, str):
        m = _STATUS_LINE.match(value)
        return int(m.group(1)) if m else None
    return None


def _is_inner_answer(item: Any, multi_status: bool) -> bool:
    """An object with an HTTP status and the inner request's content (or, in a 207, its location)."""
    if not isinstance(item, dict) or _status(item.get("status")) is None:
        return False
    if any(key in item for key in INNER_CONTENT_KEYS):
        return True
    return multi_status and any(isinstance(item.get(key), str) for key in _LOCATION_KEYS)


def _candidate_lists(body: Any) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    """Lists at the top of the body, or one object down (``{"multistatus": {"responses": [...]}}``)."""
    if isinstance(body, list):
        yield (), body
        return
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        if isinstance(value, list):
            yield (str(key),), value
        elif isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, list):
                    yield (str(key), str(sub)), inner


def _inner_requests(request_body: Any) -> list[dict[str, Any]] | None:
    """The batch request's own list of requests (Kinto: ``{"requests": [...], "defaults": {...}}``)."""
    if not isinstance(request_body, dict) or not isinstance(request_body.get("requests"), list):
        return None
    defaults = request_body.get("defaults") if isinstance(request_body.get("defaults"), dict) else {}
    return [{**defaults, **r} if isinstance(r, dict) else dict(defaults) for r in request_body["requests"]]


_BATCH_WORDS = re.compile(r"(^|[/_.$-])(batch|bulk|multi|multistatus)([/_.-]|$)", re.IGNORECASE)


def batch_answer(body: Any, *, status: int | None = None, request_body: Any = None,
                 request_path: str | None = None) -> BatchAnswer | None:
    """The inner answers of a batch or multi-status answer, or None when ``body`` is not one.

    The call must say it is one: a 207 status, a request body that lists requests, or a batch-named
    path (``/batch``, ``/bulk``, ``/$batch``). Then a list counts when every one of its (at least
    one) elements is an object with an HTTP status and the inner request's content (``body``,
    ``headers``, ``propstat``); in a 207 answer a location (``href``, ``path``) is enough. A list of
    orders with a ``status`` field, or a log of webhook deliveries, is not one."""
    multi_status = status == 207
    named = bool(request_path and _BATCH_WORDS.search(request_path.split("?", 1)[0]))
    if not (multi_status or named or _inner_requests(request_body) is not None):
        return None
    for keys, items in _candidate_lists(body):
        if not items or not all(_is_inner_answer(item, multi_status) for item in items):
            continue
        requests = _inner_requests(request_body)
        if requests is not None and len(requests) != len(items):
            requests = None  # not aligned with the answers: names from the answers only
        answers = []
        for i, item in enumerate(items):
            sent = requests[i] if requests is not None else {}
            path = next((item[k] for k in _LOCATION_KEYS if isinstance(item.get(k), str)), None) or sent.get("path")
            method = item.get("method") if isinstance(item.get("method"), str) else sent.get("method")
            answers.append(InnerAnswer(i, _status(item["status"]) or 0, path if isinstance(path, str) else None,
                                       method.upper() if isinstance(method, str) else None, item.get("body")))
        return BatchAnswer(keys, tuple(answers))
    return None


def strip_inner_answers(body: Any, batch: BatchAnswer) -> Any:
    """``body`` without its list of inner answers: what the batch call itself answered."""
    keys = batch.keys
    if not keys:
        return []
    out = dict(body)
    if len(keys) == 1:
        out.pop(keys[0], None)
    else:
        out[keys[0]] = {k: v for k, v in out[keys[0]].items() if k != keys[1]}
    return out


_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{12,}|"
    r"(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,})$"
)


def generic_path(path: str) -> str:
    """An inner path with its id-like segments written ``{}``: one crash of ``PUT .../records/{}``
    is one bug, whichever record it hit."""
    path = path.split("?", 1)[0]
    return "/".join("{}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))
