"""What the learners look at: the recording replayed as paths of template steps, one per session.

The checker sees explored paths as ``StepResult`` lists; the learners see the recorded sessions the
same way, so that a fact learned from the recording and the check of that fact on an explored path
are computed by the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.recording import Exchange, Recording, read_recording
from venom_replay.proxy.infer.model import TemplateSet

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.batch import batch_answer, strip_inner_answers
from venom_replay.replay.checkers.steps import succeeded
from venom_replay.replay.learned.model import is_volatile, request_json, volatile_paths


@dataclass(slots=True)
class LearnConfig:
    """Thresholds for believing a fact. Override in ``[learned]`` of venom.toml."""

    min_support: int = 5
    """Observations a per-response fact needs (types, non-negative, relations)."""
    min_distinct: int = 3
    """Distinct values (or value tuples) a fact needs: identical repeats are not evidence."""
    min_confidence: float = 0.5
    """Relations: 1 - chance that unrelated fields would have shown the relation anyway."""
    max_enum: int = 8
    """Most distinct string values an enumeration may have."""
    enum_min_confidence: float = 0.8
    """Enumerations: 1 - Good-Turing chance that the next value is one never seen."""
    echo_min_support: int = 3
    """Request/response echoes: calls that showed the sent value come back."""
    enum_max_values_per_object: float = 0.5
    """Enumerations: most distinct values per distinct object that showed them (a state is shared by
    several objects; a value each object has for itself, such as its URI, is not an enumeration)."""
    range_min_support: int = 20
    """Ranges need this many observations, and both bounds hit by at least two distinct objects."""
    min_path_support: int = 2
    """Collection and status facts: recorded situations that showed them."""
    max_relation_fields: int = 24
    """Numeric fields per object considered for relations (the search is cubic in this)."""

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any] | None) -> LearnConfig:
        cfg = cls()
        if not section:
            return cfg
        known = {f.name: f for f in fields(cls)}
        for name, value in section.items():
            if name not in known or name == "ignore":
                continue
            default = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"[learned] {name} = {value!r}: expected a number")
            setattr(cfg, name, type(default)(value))
        return cfg


def load_recording(recording: Recording | str | Path | None, tset: TemplateSet) -> Recording:
    if isinstance(recording, Recording):
        return recording
    source = recording if recording is not None else tset.source
    if not source:
        raise ConfigError("learning invariants needs the recording the templates were inferred from")
    return read_recording(source)


def recorded_paths(tset: TemplateSet, recording: Recording) -> dict[str, list[StepResult]]:
    """Each recorded session as the path of template steps it took, in order."""
    by_seq: dict[int, Exchange] = {ex.seq: ex for ex in recording.exchanges}
    paths: dict[str, list[StepResult]] = {}
    if tset.sessions:
        for session, steps in tset.sessions.items():
            path = [_step(tset, s.template, by_seq.get(s.seq)) for s in steps]
            paths[session] = [s for s in path if s is not None]
        return paths
    # No session order from inference: rebuild it from each template's exchanges.
    owner = {seq: tid for tid, t in tset.templates.items() for seq in t.exchange_seqs}
    for ex in sorted(recording.exchanges, key=lambda e: e.seq):
        if ex.seq in owner:
            step = _step(tset, owner[ex.seq], ex)
            if step is not None:
                paths.setdefault(ex.session, []).append(step)
    return paths


def _step(tset: TemplateSet, template_id: str, ex: Exchange | None) -> StepResult | None:
    template = tset.templates.get(template_id)
    if template is None or ex is None:
        return None
    return StepResult(template=template, request=ex.request, response=ex.response, error=ex.error)


def response_body(step: StepResult) -> Any:
    """The JSON body of a successful response, or None (error bodies say nothing about normal data).
    A batch answer without its inner answers: those are the outcomes of other requests (learned
    facts about them would break whenever an inner request is refused), judged by the checkers that
    know them (``checkers/batch.py``)."""
    from venom_replay.replay.learned.paths import body_of

    if not succeeded(step):
        return None
    body = body_of(step)
    if isinstance(body, (dict, list)):
        batch = batch_answer(body, status=step.response.status if step.response is not None else None,
                             request_body=request_json(step.request), request_path=step.request.path)
        if batch is not None:
            return strip_inner_answers(body, batch)
    return body


def strip_volatile(body: Any, volatile: set[str], path: str = "$") -> Any:
    """A copy of ``body`` without the volatile fields (learners must not learn noise)."""
    from venom_replay.replay.learned.model import child_path

    if not volatile:
        return body
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            sub = child_path(path, str(key))
            if not is_volatile(sub, volatile):
                out[key] = strip_volatile(value, volatile, sub)
        return out
    if isinstance(body, list):
        return [strip_volatile(v, volatile, f"{path}[*]") for v in body]
    return body


@dataclass(slots=True)
class TemplateSamples:
    """One template's successful recorded calls: request bodies and volatile-free response bodies."""

    bodies: list[Any]
    requests: list[Any]
    """Request JSON bodies, aligned with ``bodies``."""


def template_samples(paths: Mapping[str, list[StepResult]]) -> dict[str, TemplateSamples]:
    out: dict[str, TemplateSamples] = {}
    for steps in paths.values():
        for step in steps:
            body = response_body(step)
            if body is None:
                continue
            samples = out.setdefault(step.template.id, TemplateSamples([], []))
            samples.bodies.append(strip_volatile(body, volatile_paths(step.template)))
            samples.requests.append(request_json(step.request))
    return out
