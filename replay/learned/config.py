"""The ``[learned]`` configuration section: thresholds and the invariants a user silenced.

```toml
[learned]
min_support = 5
ignore = ["GET /orders/{order_id} :: $.status in {\\"paid\\",\\"refunded\\"}"]
```
An ignore entry is ``<template> :: <expr>``, where ``<template>`` is the template id or its label
(``METHOD /path``); findings print the exact entry that silences them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from venom_replay.proxy.errors import ConfigError


def learned_section(config: Any = None) -> dict[str, Any]:
    """The ``[learned]`` section from a config object (``.raw``), a mapping, a file, or the project's
    venom.toml / pyproject.toml when ``config`` is None."""
    if config is None:
        return _from_project(None)
    if isinstance(config, (str, Path)):
        return _from_project(Path(config))
    raw = getattr(config, "raw", config)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"learned oracles: cannot read configuration from {type(config).__name__}")
    # A whole configuration (``.raw``, or a mapping with a ``learned`` table) or the section itself.
    section = raw.get("learned") or {} if hasattr(config, "raw") or "learned" in raw else raw
    if not isinstance(section, Mapping):
        raise ConfigError(f"{getattr(config, 'path', None) or 'configuration'}: [learned] must be a table")
    return _validated(dict(section), str(getattr(config, "path", None) or "configuration"))


def _from_project(path: Path | None) -> dict[str, Any]:
    try:
        from venom_replay.proxy.config import load_config  # the shared loader, when it is installed
    except ImportError:
        load_config = None
    if load_config is not None:
        cfg = load_config(path) if path is not None else load_config()
        section = (getattr(cfg, "raw", None) or {}).get("learned") or {}
        return _validated(dict(section), str(getattr(cfg, "path", None) or path or "venom.toml"))
    return _validated(_toml_section(path), str(path or "venom.toml"))


def _toml_section(path: Path | None) -> dict[str, Any]:
    candidates = [path] if path is not None else [Path("venom.toml"), Path("pyproject.toml")]
    for candidate in candidates:
        if not candidate.is_file():
            if path is not None:
                raise ConfigError(f"{candidate}: no such configuration file")
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{candidate}: not valid TOML ({exc})") from None
        if candidate.name == "pyproject.toml":
            data = data.get("tool", {}).get("venom-replay", {})
        return dict(data.get("learned") or {})
    return {}


def _validated(section: dict[str, Any], where: str) -> dict[str, Any]:
    ignore = section.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(e, str) and " :: " in e for e in ignore):
        raise ConfigError(f'{where}: [learned] ignore must be a list of "<template> :: <expr>" strings')
    return section


def ignore_entries(section: Mapping[str, Any]) -> set[str]:
    return {" :: ".join(part.strip() for part in entry.split(" :: ", 1)) for entry in section.get("ignore", [])}
