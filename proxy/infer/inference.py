"""Template inference: from a recording's raw exchanges to action templates with value bindings.

The recording is read in one pass, in order, keeping small per-template accumulators (so memory
grows with the number of templates and sessions, not with the traffic). The steps, each in its
own module:

1. grouping.py: which exchanges count, a first path pattern per origin (identifier-looking segments
   that vary), and one state per session, dropped after the session's last exchange.
2. observe.py: one pass over the exchanges. Per session, an index of the values earlier responses
   produced; each request value is one hash lookup there, and the matches are kept as evidence
   (bindings.py). Request fields, response noise and body shapes are folded into the same
   accumulators (accumulators.py). The work per exchange is bounded, so the pass is linear.
3. refine.py: segments that were produced by earlier responses (a slug, an id seen once) become
   parameters too; the first patterns are refined and their accumulators merged.
4. assemble.py: evidence is weighed per request location (bindings.py); the rest of each template
   (constants, inputs, volatile fields, schema, effect) is read off the accumulators, and the
   config's rules (user_rules.py) are applied.
"""

from __future__ import annotations

import gc
from pathlib import Path

from venom_replay.proxy.config import InferenceConfig, VenomConfig
from venom_replay.proxy.infer.assemble import assemble
from venom_replay.proxy.infer.grouping import Traffic
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.infer.observe import Observer
from venom_replay.proxy.infer.refine import refine
from venom_replay.proxy.recording import Recording, read_recording


def infer_templates(recording: Recording | str | Path, config: InferenceConfig | VenomConfig | None = None) -> TemplateSet:
    """Learn the action templates and value bindings of a recording."""
    rec = recording if isinstance(recording, Recording) else read_recording(recording)
    cfg = config.inference if isinstance(config, VenomConfig) else (config or InferenceConfig())
    # The accumulators are many small acyclic objects: the cyclic GC would only rescan them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _infer(rec, cfg)
    finally:
        if gc_was_enabled:
            gc.enable()


def _infer(rec: Recording, cfg: InferenceConfig) -> TemplateSet:
    traffic = Traffic(rec, cfg)
    observer = Observer()
    steps: list[tuple[str, int, int]] = []  # (session, seq, first-pass template)
    for ex, segs, key, st in traffic.walk():
        t = observer.template(key)
        observer.observe(ex, segs, t, st)
        steps.append((ex.session, ex.seq, t))
    accs = observer.accs
    del observer  # the session indexes and body caches are done with
    finals, final_of = refine(accs, traffic.paths, traffic.first)
    tset = assemble(finals, final_of, steps, cfg, source=str(rec.path), ignored=traffic.ignored,
                    exchanges={ex.seq: ex for ex, _, _ in traffic.usable}, session_parts=traffic.session_parts)
    tset.warnings[:0] = rec.problems()  # a damaged or torn file: every command that learns from it says so
    return tset
