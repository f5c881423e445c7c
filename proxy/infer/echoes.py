"""Names under which small values travel, to tell an echo from a production.

A small value (``2``, ``true``) that a response returns is news only if the client did not just send
it under the same name: ``{"quantity": 2}`` answered with ``$.quantity`` is an echo, while ``qty=2``
does not make every later ``2`` one. Requests name their values by location (a path segment after
the segment before it: ``/orders/7`` sends ``order_id``); responses by source, plus, for an action on
one resource, the resource it acts on. Names are compared normalised (``norm_name``).
"""

from __future__ import annotations

from functools import lru_cache

from venom_replay.proxy.infer.bindings import created_id_source, location_name, norm_name, production_var
from venom_replay.proxy.infer.path_patterns import Pattern, action_subject, render_pattern, singular


def request_name(loc: str, segs: tuple[str, ...]) -> str:
    """The name a request value was sent under; a path segment is named after the one before it."""
    if loc.startswith("seg:"):
        i = int(loc[4:])
        return _segment_name(segs[i - 1]) if i else "id"
    return _location_norm_name(loc)


def answer_names(pattern: Pattern, source: str, created: bool) -> set[str]:
    """Names a response source answers to.

    An action on one resource answers with that resource: ``$.id`` in the answer to
    ``POST /orders/7/pay`` is the order the client named (``order_id``), not news. A create
    (201 or a Location header) answers with a new object, so only its own names count.
    """
    path = render_pattern(pattern)
    names = {norm_name(production_var(path, source)), norm_name(location_name(source))}
    subject = None if created else action_subject(pattern)
    if subject is not None and created_id_source(source):
        names.add(_segment_name(subject))
    return names


@lru_cache(maxsize=4096)
def _segment_name(previous: str) -> str:
    return norm_name(f"{singular(previous)}_id")


@lru_cache(maxsize=4096)
def _location_norm_name(loc: str) -> str:
    return norm_name(location_name(loc))
