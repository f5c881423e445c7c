"""Journal entry ids as sorted (lo, hi] ranges: which entries make up the path to a checkpoint.

Every change the API makes gets a journal id larger than all earlier ones. A checkpoint's content is
the baseline plus the entries on its path, and a path is an increasing set of ids, stored as a few
ranges: after a restore, new entries start above every id handed out so far, so each restore that
was followed by writes adds one range. Two paths share the entries up to their branch point; what
lies after it on the present path is undone, what lies after it on the target path is redone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Ranges = tuple[tuple[int, int], ...]

#: The end of the open range of the present path (entries the adapter has not seen yet).
OPEN_END = 1 << 62


def normalise(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, non-empty, non-touching ranges: equal id sets get equal tuples."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def extend(path: Sequence[tuple[int, int]], tail_from: int, hwm: int) -> Ranges:
    """The present path: ``path`` plus the entries (tail_from, hwm] written since the last restore."""
    return normalise([*path, (tail_from, hwm)]) if hwm > tail_from else normalise(path)


def branch_point(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> int:
    """The largest id up to which both id sets agree (they hold the same ids <= it)."""
    agreed = 0
    for (alo, ahi), (blo, bhi) in zip(a, b):
        if alo != blo:
            return min(alo, blo)
        if ahi != bhi:
            return min(ahi, bhi)
        agreed = ahi
    if len(a) != len(b):
        longer = a if len(a) > len(b) else b
        return longer[len(min(a, b, key=len))][0]
    return agreed


def flat(ranges: Ranges) -> list[int]:
    """``[lo1, hi1, lo2, hi2, ...]`` for the server-side restore function."""
    return [n for pair in ranges for n in pair]
