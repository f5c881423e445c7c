"""The mutation phase's settings: ``--mutations N`` / ``--no-mutations`` / ``--strict-domains`` and
the ``[mutations]`` section of venom.toml::

    [mutations]
    per_template = 12                 # mutated calls per template variant (0: none)
    skip_fields = ["password", "body:$.meta.trace_id", "query:page"]
    extra_values = { title = ["' OR 1=1 --"], "*" = ["%00"] }   # field name, location, or every field
    strict_domains = false            # as --strict-domains
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from venom_replay.proxy.config import VenomConfig
from venom_replay.proxy.errors import ConfigError

DEFAULT_PER_TEMPLATE = 12
"""Mutated calls per template variant by default: about a second (80 calls) of a 10 s demo exploration."""


@dataclass(slots=True)
class MutationSettings:
    per_template: int = DEFAULT_PER_TEMPLATE
    skip_fields: frozenset[str] = frozenset()
    """Locations (``body:$.password``, ``query:page``) or bare field names never mutated."""
    extra_values: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    """Field name or location -> values to send there; ``*``: to every field."""
    strict_domains: bool = False
    """A 2xx that accepted a value outside a domain learned with high support is a (low-severity) finding."""

    def skips(self, location: str) -> bool:
        return location in self.skip_fields or field_name(location) in self.skip_fields

    @classmethod
    def from_config(cls, config: VenomConfig, *, per_template: int | None = None,
                    strict_domains: bool = False) -> MutationSettings:
        """The ``[mutations]`` section; ``per_template`` (the command line's) wins over its own."""
        section = config.section("mutations")
        where = f"{config.path or 'venom.toml'}: [mutations]"
        skip = section.get("skip_fields", [])
        if not isinstance(skip, list) or not all(isinstance(s, str) for s in skip):
            raise ConfigError(f"{where} skip_fields must be a list of field names or locations")
        extra = section.get("extra_values", {})
        if not isinstance(extra, dict) or not all(isinstance(v, list) for v in extra.values()):
            raise ConfigError(f"{where} extra_values must be a table of field -> list of values")
        count = per_template if per_template is not None else section.get("per_template", DEFAULT_PER_TEMPLATE)
        if count < 0:
            raise ConfigError(f"{where} per_template = {count}: expected 0 or more")
        strict = strict_domains or bool(section.get("strict_domains", False))
        return cls(per_template=count, skip_fields=frozenset(skip), extra_values=dict(extra), strict_domains=strict)


def field_name(location: str) -> str:
    """``body:$.post.title`` -> ``title``; ``query:page`` -> ``page``."""
    kind, _, where = location.partition(":")
    if kind == "body":
        return re.split(r"[.\[\]']+", where.rstrip("]'"))[-1]
    return where
