"""Turn the final accumulators into action templates: ids, bindings, fields, productions, schema.

Per template, the evidence of each request location is weighed (bindings.choose) into at most one
binding, plus hints for flows seen across sessions only; bindings the config forces replace learned
ones. What is left of a request is a constant (one value in several instances) or an input; every
source some binding reads becomes a named production of its template. Volatile response fields,
the response schema and the effect come straight from the accumulators. Each template keeps its
request variants (shapes) with examples per shape and caller (variants.py), and Basic credentials
are bound to the calls that set their passwords (identities.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from venom_replay.proxy.config import InferenceConfig
from venom_replay.proxy.infer.accumulators import TemplateAcc
from venom_replay.proxy.infer.bindings import Choice, choose, cross_session_hints, make_consumption, production_var
from venom_replay.proxy.infer.effects import classify_effect
from venom_replay.proxy.infer.identities import AUTH, bind_identities
from venom_replay.proxy.infer.model import (
    ActionTemplate,
    Consumption,
    CrossSessionHint,
    Production,
    RequestField,
    RequestVariant,
    Step,
    TemplateSet,
)
from venom_replay.proxy.infer.path_patterns import param_index_names, render_pattern
from venom_replay.proxy.infer.response_shape import node_schema
from venom_replay.proxy.infer.user_rules import apply_names, configured_volatile, forbidden, resolve_id
from venom_replay.proxy.infer.variants import VariantsAcc
from venom_replay.proxy.infer.volatility import as_volatile_entry, volatile_sources
from venom_replay.proxy.recording import Exchange, Request

Hint = tuple[str, int, str, str, int]
"""(location, producer, source, transform, instances)"""


def assemble(finals: list[TemplateAcc], final_of: list[int], steps: list[tuple[str, int, int]], cfg: InferenceConfig,
             *, source: str, ignored: int, exchanges: Mapping[int, Exchange] | None = None,
             session_parts: dict[str, list[str]] | None = None) -> TemplateSet:
    """The template set of the final accumulators; ``steps`` are (flow session, seq, first-pass template),
    ``exchanges`` the exchanges by seq (with their flow session) for the identity bindings."""
    a = _Assembly(finals, cfg)
    for acc in finals:
        _name_path_fields(acc)
    consumptions, hints = a.choose_bindings()
    templates = {a.ids[f]: a.template(f) for f in range(len(finals))}
    warnings, forced = a.force_bindings(templates)
    a.bind(templates, consumptions, forced)
    a.fill_in(templates, hints)
    if exchanges:
        walk = [(exchanges[seq], a.ids[final_of[t]]) for _, seq, t in steps]
        forced_auth = {tid for tid, loc in forced if loc == AUTH}
        _mark_unbound(templates, bind_identities(templates, walk, skip=forced_auth))
    sessions: dict[str, list[Step]] = {}
    for session, seq, t in steps:
        sessions.setdefault(session, []).append(Step(a.ids[final_of[t]], seq))
    tset = TemplateSet(templates=templates, sessions=sessions, source=source, ignored=ignored, warnings=warnings,
                       session_parts=session_parts or {s: [s] for s in sessions})
    return apply_names(tset, cfg)


def _mark_unbound(templates: dict[str, ActionTemplate], unbound: set[tuple[str, int]]) -> None:
    """Examples whose recorded credential did not come from their identity binding keep it."""
    for tid, tpl in templates.items():
        for i, seq in enumerate(tpl.example_seqs):
            if (tid, seq) in unbound:
                tpl.unbound_examples.setdefault(i, []).append(AUTH)


class _Assembly:
    """The final templates by index, with their ids, paths and effects, and the production names given out."""

    def __init__(self, finals: list[TemplateAcc], cfg: InferenceConfig) -> None:
        self.finals = finals
        self.cfg = cfg
        self.ids = template_ids(finals)
        self.paths_of = [render_pattern(acc.pattern) for acc in finals]
        self.effects = [classify_effect(acc.method, acc.pattern, acc.created, acc.id_bodies, acc.count, acc.behaviour) for acc in finals]
        self.producer_vars: dict[int, dict[str, str]] = {}
        """producer -> {source: production name}, named in the order bindings ask for them."""

    def choose_bindings(self) -> tuple[list[tuple[int, str, int, Choice]], dict[int, list[Hint]]]:
        """Per template and location, the binding the evidence supports (if any) and cross-session hints."""
        consumptions: list[tuple[int, str, int, Choice]] = []  # consumer, location, producer, choice
        hints: dict[int, list[Hint]] = {}
        ids, paths_of = self.ids, self.paths_of
        creates = lambda producer: self.effects[producer] == "create"  # noqa: E731
        for f, acc in enumerate(self.finals):
            for loc, ev in acc.evidence.items():
                present = acc.fields[loc].count
                refused = lambda producer, source, loc=loc, f=f: forbidden(self.cfg, ids[f], loc, ids[producer], source)  # noqa: E731
                choice = choose(loc, present, ev, paths_of.__getitem__, refused, consumer_path=paths_of[f], creates=creates)
                if choice is not None:
                    consumptions.append((f, loc, choice.producer, choice))  # type: ignore[arg-type]
                for producer, source, transform, n in cross_session_hints(loc, ev, paths_of.__getitem__, consumer_path=paths_of[f], creates=creates):
                    hints.setdefault(f, []).append((loc, producer, source, transform, n))  # type: ignore[arg-type]
        return consumptions, hints

    def template(self, f: int) -> ActionTemplate:
        """Template ``f`` without its bindings, fields and productions (they come after)."""
        acc, tid = self.finals[f], self.ids[f]
        scheme, host, port = acc.origin
        examples, seqs, variants = _variants(acc.variants)
        volatile: dict[str, str] = {}
        for source, reason in sorted(volatile_sources(acc.vol).items()):
            entry = as_volatile_entry(source)
            if entry is not None:
                volatile[entry] = reason
        for entry in configured_volatile(self.cfg, tid):
            volatile[entry] = "config"
        return ActionTemplate(
            id=tid,
            method=acc.method,
            path=self.paths_of[f],
            scheme=scheme,
            host=host,
            port=port,
            count=acc.count,
            effect=self.effects[f],
            exchange_seqs=sorted(acc.seqs),
            statuses=dict(sorted(acc.statuses.items())),
            response_schema=node_schema(acc.shape),
            volatile=list(volatile),
            volatile_reasons=volatile,
            example_request=examples[0] if examples else None,
            example_response=acc.example_response,
            example_requests=examples,
            sessions=len(acc.sessions),
            variants=variants,
            example_seqs=seqs,
        )

    def force_bindings(self, templates: dict[str, ActionTemplate]) -> tuple[list[str], set[tuple[str, str]]]:
        """Apply the config's ``bind`` rules; returns warnings and the (template, location) pairs they set."""
        warnings: list[str] = []
        forced: set[tuple[str, str]] = set()
        by_id = {tid: f for f, tid in enumerate(self.ids)}
        for fb in self.cfg.bind:
            consumer_id, producer_id = resolve_id(self.cfg, fb.consumer, self.ids), resolve_id(self.cfg, fb.producer, self.ids)
            if consumer_id is None or producer_id is None:
                missing = fb.consumer if consumer_id is None else fb.producer
                warnings.append(f"templates.bind: no template {missing!r} in this recording; binding for {fb.location} not applied")
                continue
            forced.add((consumer_id, fb.location))
            var = self._var(by_id[producer_id], fb.source)
            tpl = templates[consumer_id]
            tpl.consumes = [c for c in tpl.consumes if c.location != fb.location]
            tpl.consumes.append(Consumption(var, fb.location, producer_id, fb.source, fb.transform, 1.0, 0, 0))
        return warnings, forced

    def bind(self, templates: dict[str, ActionTemplate], consumptions: list[tuple[int, str, int, Choice]],
             forced: set[tuple[str, str]]) -> None:
        """The learned bindings, except where the config forced one."""
        for f, loc, producer, choice in consumptions:
            if (self.ids[f], loc) in forced:
                continue
            var = self._var(producer, choice.source)
            templates[self.ids[f]].consumes.append(make_consumption(var, loc, self.ids[producer], choice))

    def fill_in(self, templates: dict[str, ActionTemplate], hints: dict[int, list[Hint]]) -> None:
        """Each template's unbound fields, its productions and its cross-session hints, in a stable order."""
        for f, acc in enumerate(self.finals):
            tpl = templates[self.ids[f]]
            tpl.consumes.sort(key=lambda c: _location_order(c.location))
            bound = {c.location for c in tpl.consumes}
            tpl.fields = [
                RequestField(loc, "constant" if len(facc.keys) <= 1 and facc.count > 1 else "input", list(facc.examples))
                for loc, facc in sorted(acc.fields.items(), key=lambda kv: _location_order(kv[0]))
                if loc not in bound
            ]
            tpl.produces = [Production(var, source) for source, var in sorted(self.producer_vars.get(f, {}).items(), key=lambda kv: kv[1])]
            tpl.cross_session = [
                CrossSessionHint(loc, self.ids[producer], source, transform, n)
                for loc, producer, source, transform, n in sorted(hints.get(f, []), key=lambda h: (_location_order(h[0]), -h[4]))
            ]

    def _var(self, producer: int, source: str) -> str:
        """The production name of ``source`` on ``producer``, unique within that template."""
        table = self.producer_vars.setdefault(producer, {})
        if source not in table:
            base = production_var(self.paths_of[producer], source)
            used = set(table.values())
            var, n = base, 2
            while var in used:
                var, n = f"{base}_{n}", n + 1
            table[source] = var
        return table[source]


def _variants(acc: VariantsAcc) -> tuple[list[Request], list[int], list[RequestVariant]]:
    """The examples (the default first), the exchange each came from, and the variants indexing them."""
    examples: list[Request] = []
    seqs: list[int] = []
    variants: list[RequestVariant] = []
    for shape, shape_acc, kept in acc.ordered():
        first = len(examples)
        examples.extend(ex.request for ex in kept)
        seqs.extend(ex.seq for ex in kept)
        variants.append(RequestVariant(list(shape), list(range(first, len(examples))), shape_acc.count,
                                       dict(sorted(shape_acc.statuses.items())), len(shape_acc.callers)))
    return examples, seqs, variants


def _name_path_fields(acc: TemplateAcc) -> None:
    """``seg:<i>`` fields and evidence become ``path:<param>``; literal segments are dropped."""
    names = param_index_names(acc.pattern)
    for loc in list(acc.fields):
        if loc.startswith("seg:"):
            i = int(loc[4:])
            new = f"path:{names[i]}" if i in names else None
            facc = acc.fields.pop(loc)
            ev = acc.evidence.pop(loc, None)
            if new is not None:
                acc.fields[new] = facc
                if ev:
                    acc.evidence[new] = ev


def template_ids(finals: list[TemplateAcc]) -> list[str]:
    """``METHOD /path``; with the origin too where two origins share that label."""
    labels = [f"{a.method} {render_pattern(a.pattern)}" for a in finals]
    clashes = {lbl for lbl in labels if labels.count(lbl) > 1} if len(set(labels)) != len(labels) else set()
    out = []
    for acc, label in zip(finals, labels):
        if label in clashes:
            scheme, host, port = acc.origin
            out.append(f"{acc.method} {scheme}://{host}:{port}{render_pattern(acc.pattern)}")
        else:
            out.append(label)
    return out


_ORDER = {"path": 0, "query": 1, "body": 2, "form": 3, "header": 4, "cookie": 5}


def _location_order(loc: str) -> tuple[int, str]:
    return _ORDER.get(loc.partition(":")[0], 9), loc
