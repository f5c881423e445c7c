"""The user's word on inference (``templates:`` in the config), applied to what was learned.

Inference names templates by method and path; the config may rename them, forbid or force a
binding, and declare fields volatile, all by the default names or by the new ones. These helpers
resolve either spelling, so assemble.py can apply each rule without knowing about renaming.
"""

from __future__ import annotations

from venom_replay.proxy.config import InferenceConfig
from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet


def forbidden(cfg: InferenceConfig, consumer: str, location: str, producer: str, source: str) -> bool:
    """Does the config forbid this binding, under the default template ids or the configured names?"""
    if not cfg.forbid:
        return False
    names = cfg.names
    return cfg.forbidden(consumer, location, producer, source) or cfg.forbidden(
        names.get(consumer, consumer), location, names.get(producer, producer), source
    )


def resolve_id(cfg: InferenceConfig, name: str, ids: list[str]) -> str | None:
    """The default id of the template the config calls ``name`` (a default id or a configured name)."""
    if name in ids:
        return name
    for default, renamed in cfg.names.items():
        if renamed == name and default in ids:
            return default
    return None


def configured_volatile(cfg: InferenceConfig, tid: str) -> list[str]:
    """Entries the config declares volatile for a template, by its default id or its configured name."""
    return cfg.volatile_for(tid) + cfg.volatile_for(cfg.names.get(tid, tid))


def apply_names(tset: TemplateSet, cfg: InferenceConfig) -> TemplateSet:
    """Rename templates as the config asks, everywhere their id appears."""
    if not cfg.names:
        return tset
    taken = set(tset.templates)
    for old, new in cfg.names.items():
        if old in tset.templates and new in taken and new != old and new not in cfg.names:
            raise ConfigError(f"templates.names: {old!r} -> {new!r} clashes with an existing template id")
    rename = {old: new for old, new in cfg.names.items() if old in tset.templates}
    if not rename:
        return tset
    templates: dict[str, ActionTemplate] = {}
    for tid, tpl in tset.templates.items():
        tpl.id = rename.get(tid, tid)
        for c in tpl.consumes:
            c.producer = rename.get(c.producer, c.producer)
        for h in tpl.cross_session:
            h.producer = rename.get(h.producer, h.producer)
        templates[tpl.id] = tpl
    tset.templates = templates
    for steps in tset.sessions.values():
        for step in steps:
            step.template = rename.get(step.template, step.template)
    return tset
