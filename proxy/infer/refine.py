"""Refine the first path patterns with what the pass learned, and merge their accumulators.

The first patterns only knew the paths: a segment seen once (``/items/red-shoes``) stayed literal.
After the pass, a literal segment whose value an earlier response produced (a slug, an id) is a
parameter too. Refining only adds parameters, so each first-pass template maps to exactly one final
template, and the final one's accumulator is the merge of its first-pass ones.
"""

from __future__ import annotations

from venom_replay.proxy.infer.accumulators import Origin, TemplateAcc
from venom_replay.proxy.infer.path_patterns import PARAM, Pattern, infer_patterns

Segments = tuple[str, ...]


def refine(accs: list[TemplateAcc], paths: dict[Origin, set[Segments]],
           first: dict[Origin, dict[Segments, Pattern]]) -> tuple[list[TemplateAcc], list[int]]:
    """The final templates' accumulators, and for each first-pass template the index of its final one.

    ``accs`` is emptied: the first-pass accumulators are merged into the final ones as we go.
    """
    produced = produced_segments(accs)
    final_by_origin = {
        origin: infer_patterns(ps, produced[origin]) if produced.get(origin) else first[origin]
        for origin, ps in paths.items()
    }
    # One path of each first pattern finds what it became.
    member_of: dict[tuple[Origin, Pattern], Segments] = {}
    for origin, mapping in first.items():
        for segs, pattern in mapping.items():
            member_of.setdefault((origin, pattern), segs)
    final_of: list[int] = []
    finals: list[TemplateAcc] = []
    final_index: dict[tuple[Origin, str, Pattern], int] = {}
    for acc in accs:
        refined = final_by_origin[acc.origin][member_of[(acc.origin, acc.pattern)]]
        pattern = tuple(PARAM if p is PARAM or r is PARAM else p for p, r in zip(acc.pattern, refined))
        key = (acc.origin, acc.method, pattern)
        f = final_index.get(key)
        if f is None:
            f = final_index[key] = len(finals)
            finals.append(TemplateAcc(acc.origin, acc.method, pattern))
        final_of.append(f)
    remap = final_of.__getitem__
    for t, acc in enumerate(accs):
        finals[final_of[t]].merge(acc, remap)
    accs.clear()
    return finals, final_of


def produced_segments(accs: list[TemplateAcc]) -> dict[Origin, set[str]]:
    """Literal segments whose value an earlier response produced: they are parameters after all."""
    out: dict[Origin, set[str]] = {}
    for acc in accs:
        for loc, ev in acc.evidence.items():
            if not loc.startswith("seg:"):
                continue
            seg = acc.pattern[int(loc[4:])]
            if seg is PARAM:
                continue
            for (_, source, _), st in ev.items():
                if not st.support and not st.cross_nontrivial:
                    continue  # small values seen in other sessions only say nothing about a route
                id_like_source = source.lower().endswith(("id", "_id")) or source == "header:Location"
                if st.nontrivial or id_like_source:
                    out.setdefault(acc.origin, set()).add(seg)
                    break
    return out
