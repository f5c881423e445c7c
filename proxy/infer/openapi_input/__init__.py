"""An OpenAPI document as extra input to inference (``--openapi``, ``[templates] openapi``).

load.py reads the document; match.py matches recorded templates to its operations (they take the
spec's parameter names; type and required-field disagreements are warnings, the traffic is kept);
synthesize.py makes templates, marked ``from spec``, for operations never recorded, added after the
recorded ones so the explorer tries them last; bindings.py binds them (links, recorded flows of the
same name, recorded creates, the nearest recorded template's credentials); join.py adds the answer
fields only the spec declares to recorded templates' schemas (the spec speaks where traffic is silent).
"""

from __future__ import annotations

from pathlib import Path

from venom_replay.proxy.config import InferenceConfig
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.openapi_input.bindings import bindings_for
from venom_replay.proxy.infer.openapi_input.join import join_answer_fields
from venom_replay.proxy.infer.openapi_input.load import Spec, load_spec
from venom_replay.proxy.infer.openapi_input.match import (
    adopt_parameter_names,
    adopt_template_ids,
    disagreements,
    match_templates,
)
from venom_replay.proxy.infer.openapi_input.synthesize import (
    is_from_spec,
    neighbour,
    synthesize,
)
from venom_replay.proxy.infer.openapi_input.values import LearnedValues

__all__ = ["apply_openapi", "is_from_spec", "load_spec"]


def apply_openapi(tset: TemplateSet, spec_path: str | Path, cfg: InferenceConfig) -> Spec:
    """Join the spec at ``spec_path`` with the learned templates, in place; what disagrees is a warning."""
    spec = load_spec(spec_path)
    matches = match_templates(tset, spec)
    template_of: dict[str, ActionTemplate] = {}
    joined: list[str] = []
    for m in matches:
        adopt_parameter_names(m)
        tset.warnings.extend(disagreements(m))
        joined += [f"{m.template.id} {name}" for name in join_answer_fields(m.template, m.operation)]
        template_of.setdefault(m.operation.operation_id, m.template)
    if joined:
        tset.warnings.append(f"--openapi {spec.path.name}: {len(joined)} answer field(s) the recording never showed "
                             f"are checked as the spec types them: {', '.join(joined[:8])}{' ...' if len(joined) > 8 else ''}")
    adopt_template_ids(tset)
    learned = LearnedValues(tset)
    added: list[tuple[ActionTemplate, ActionTemplate | None]] = []
    for op in spec.operations:
        if op.operation_id in template_of or cfg.endpoint_ignored(op.method, op.path):
            continue
        near = neighbour(op, tset)
        tpl = synthesize(op, tset, learned, near)
        tset.templates[tpl.id] = tpl
        template_of[op.operation_id] = tpl
        added.append((tpl, near))
    by_template = {id(t): op for op in spec.operations for t in [template_of.get(op.operation_id)] if t is not None}
    for tpl, near in added:
        tpl.consumes = bindings_for(by_template[id(tpl)], tpl, spec, tset, template_of, near)
    if added:
        tset.warnings.append(f"--openapi {spec.path.name}: {len(added)} operation(s) never recorded became templates "
                             f"(from spec, explored after the recorded ones): {', '.join(t.id for t, _ in added)}")
    return spec
