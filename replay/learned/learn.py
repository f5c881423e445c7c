"""Learned oracles: likely invariants inferred from recorded traffic, checked after every explored step.

    invariants = learn_invariants(tset, "shop.vrec")
    checker = LearnedChecker(invariants, config)      # checkers.base.Checker, name "learned"

What is learned, per template from its successful recorded responses and across templates:
- field domains (learned/domains.py): types, non-negative numbers, enumerations, strong ranges,
  string formats;
- relations (learned/relations.py): ``a <= b``, ``a == b``, ``a == b + c`` within one object,
  and request -> response echoes;
- collection facts (learned/collections.py): list objects have the read's shape, listed ids
  are readable, deleted ids stop being listed;
- status expectations (learned/status.py): calls that the recording always saw refused in a
  situation (after a delete, when repeated).
Volatile fields (``template.volatile``) are left out. Every invariant keeps its support, distinct
value count, confidence and examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from venom_replay.proxy.recording import Recording
from venom_replay.proxy.infer.model import TemplateSet

from venom_replay.replay.learned.checker import DroppedInvariant, LearnedChecker, signature_of
from venom_replay.replay.learned.collections import learn_collections
from venom_replay.replay.learned.config import learned_section
from venom_replay.replay.learned.domains import learn_domains
from venom_replay.replay.learned.model import KIND_ORDER, LearnedInvariant, cross_template_strings, object_tables, sent_strings
from venom_replay.replay.learned.observe import LearnConfig, load_recording, recorded_paths, template_samples
from venom_replay.replay.learned.relations import learn_echoes, learn_numeric_relations
from venom_replay.replay.learned.status import learn_status

__all__ = [
    "DroppedInvariant",
    "LearnConfig",
    "LearnedChecker",
    "LearnedInvariant",
    "learn_invariants",
    "signature_of",
]



def learn_invariants(
    tset: TemplateSet, recording: Recording | str | Path | None = None, config: Any = None
) -> list[LearnedInvariant]:
    """Likely invariants of each template, learned from the recording the templates came from.

    ``config``: a ``LearnConfig``, or anything ``learned_section`` reads (``.raw``, a mapping, a
    TOML path); None uses the defaults (the CLI passes the project's configuration).
    """
    cfg = config if isinstance(config, LearnConfig) else LearnConfig.from_mapping(learned_section(config) if config is not None else None)
    rec = load_recording(recording, tset)
    paths = recorded_paths(tset, rec)
    samples = template_samples(paths)
    tables = {tid: object_tables(sample.bodies) for tid, sample in samples.items()}
    enum_union = cross_template_strings(tables.values())
    client_strings = sent_strings([r for s in samples.values() for r in s.requests])
    client_strings.update(v for ex in rec.exchanges for _, v in ex.request.query)

    found: list[LearnedInvariant] = []
    for tid, sample in samples.items():
        found += learn_domains(tid, tables[tid], cfg, enum_union=enum_union, client_strings=client_strings)
        found += learn_numeric_relations(tid, tables[tid], cfg)
        found += learn_echoes(tid, sample, cfg)
    found += learn_collections(tset, paths, cfg)
    found += learn_status(tset, paths, cfg)

    for inv in found:
        template = tset.templates.get(inv.template)
        inv.label = template.label if template is not None else inv.template
    found.sort(key=lambda inv: (inv.label, KIND_ORDER.get(inv.kind, 99), inv.expr))
    return found
