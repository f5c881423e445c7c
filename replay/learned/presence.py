"""When a learned fact may demand that a field be present: the presence rule shared by the learners.

The same rule as the response shapes' (``proxy/infer/response_shape.py``): a field must be there
only when every recorded object had it, in at least ``MIN_REQUIRED_SUPPORT`` objects, and it is not a
list or map the recording only showed non-empty (servers that leave empty lists and maps out of their
JSON omit it on every fresh object). An object with fields of its own that must be there is a record,
not a map, and may not be left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from venom_replay.proxy.infer.response_shape import MIN_REQUIRED_SUPPORT

__all__ = ["MIN_REQUIRED_SUPPORT", "may_be_left_out", "must_be_present"]


def may_be_left_out(values: Sequence[Any], depth: int = 0) -> bool:
    """Whether a field with these recorded values (all present) is one a server may omit when empty:
    only lists and maps, never seen empty, that are not records."""
    containers = [v for v in values if isinstance(v, (list, dict))]
    if not containers or any(not v for v in containers):
        return False  # a scalar, or a server that writes empties: absent would be a change
    maps = [v for v in containers if isinstance(v, dict)]
    if len(maps) < MIN_REQUIRED_SUPPORT or depth > 16:
        return True
    shared = set(maps[0]).intersection(*maps[1:])
    return not any(not may_be_left_out([m[k] for m in maps], depth + 1) for k in shared)


def must_be_present(objects: Sequence[dict[str, Any]], key: str) -> bool:
    """Whether ``key`` must be in an object like these recorded ones."""
    if len(objects) < MIN_REQUIRED_SUPPORT or any(key not in obj for obj in objects):
        return False
    return not may_be_left_out([obj[key] for obj in objects])
