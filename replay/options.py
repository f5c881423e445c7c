"""The explorer's options: ``ExploreOptions`` is the only home of their defaults.

The ``[explore]`` section of venom.toml is validated against it (unknown keys and wrong types are
refused with the file and key named), the command line's help texts read their defaults from
``DEFAULTS``, and ``Limits`` and ``explore()`` take theirs from it too.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.config import VenomConfig
from venom_replay.proxy.errors import ConfigError

STRATEGIES = ("bfs", "dfs", "coverage")
"""bfs: shortest reproductions first; dfs: deep first; coverage: unseen pairs and new statuses first."""


@dataclass(slots=True)
class ExploreOptions:
    """Every knob of one exploration, with its default. Nothing else in the code base holds these."""

    strategy: str = "bfs"
    depth: int = 3
    max_transitions: int = 2000
    time_limit: float | None = None
    """Seconds for the whole run (replay of the recording, search, shrinking and confirming the
    findings), shared between them as replay/explorer/budget.py says; None: no limit."""
    max_recorded_steps: int = 5000
    """At most this many recorded steps are replayed before the search (the whole recording, as a rule)."""
    prefix_roots: int = 12
    """How many states that the replay of the recording reaches are searched from, besides the baseline."""
    prefix_depth: int = 1
    """How many explored steps follow a recorded prefix: one unseen step off the recorded path (a second
    refund, a read after the recorded delete) is cheap to try from every prefix; longer unseen
    sequences are the baseline search's job."""
    swap_identities: bool = False
    learned: bool = True
    timeout: float = 10.0
    """Seconds to wait for each reply."""
    confirm: bool = True
    """Replay the recording first (measures the replay agreement, confirms learned oracles, gives the
    prefix roots)."""
    shrink: bool = True
    min_agreement: float = 0.5
    """Share of the replayed recorded steps that must answer with their recorded status class (2xx, 4xx...)
    for the target to count as the recorded API; below it the run is not searched and exits 2. Half:
    a changed start state or a few changed endpoints stay above it, a server answering 404 (or
    nothing) to everything falls far below."""
    mutations: int | None = None
    """Mutated calls per template variant after the search (replay/mutations); None: ``[mutations]
    per_template``, else its default; 0: no mutations."""
    ca_cert: str | None = None
    """A CA bundle (PEM) to trust for an HTTPS target, e.g. a staging server's own CA."""
    insecure: bool = False
    """Do not verify the HTTPS target's certificate (a self-signed development server)."""
    strict_domains: bool = False
    workers: int = 1
    """Workers, each on its own replica of the API and its databases (replay/scale/); 1: one explorer."""
    api_cmd: str | None = None
    """The command that starts one replica of the API (``{port}``, ``{db}``...): see ``--api-cmd``."""
    api_ready: str = "/"
    """With ``api_cmd``: the path a started replica answers when it is ready."""
    """A mutated call answered 2xx although its value lies outside a domain learned with high support
    is a low-severity finding (also ``[mutations] strict_domains``)."""

    # Keys of [explore] in venom.toml, with the type each must have.
    CONFIG_KEYS = {"strategy": str, "depth": int, "max_transitions": int, "time_limit": (int, float),
                   "max_recorded_steps": int, "prefix_roots": int, "prefix_depth": int, "swap_identities": bool,
                   "learned": bool, "timeout": (int, float), "min_agreement": (int, float), "ca_cert": str,
                   "insecure": bool, "workers": int, "api_cmd": str, "api_ready": str}

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r} (choose {', '.join(STRATEGIES)})")
        if not 0 <= self.min_agreement <= 1:
            raise ConfigError(f"min_agreement = {self.min_agreement!r}: expected a share between 0 and 1")

    @classmethod
    def from_config(cls, config: VenomConfig) -> ExploreOptions:
        """The defaults, overridden by the ``[explore]`` section (unknown keys and wrong types refused)."""
        section = config.section("explore")
        where = f"{config.path or 'venom.toml'}: [explore]"
        values: dict[str, Any] = {}
        for key, value in section.items():
            kind = cls.CONFIG_KEYS.get(key)
            if kind is None:
                close = difflib.get_close_matches(key, list(cls.CONFIG_KEYS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(cls.CONFIG_KEYS)})"
                raise ConfigError(f"{where} unknown key {key!r}{hint}")
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{where} {key} = {value!r}: expected {_kind_name(kind)}")
            values[key] = value
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{where} {exc}") from None

    def with_overrides(self, **overrides: Any) -> ExploreOptions:
        """A copy with the given values; None means 'not given' and keeps the current one."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


DEFAULTS = ExploreOptions()
"""The defaults, for help texts."""


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false"}[k.__name__]
                       for k in kinds)
