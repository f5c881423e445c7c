"""Every section of ``venom.toml`` (or ``[tool.venom-replay]``) and the keys each may hold, in one place.

``check_sections`` runs where the file is loaded (``config.load_config``), so every command refuses
the same mistakes before it does anything: an unknown section or key (with the nearest known one:
``depht`` -> "did you mean depth?"), and a scalar of the wrong type. Each is one line naming the file
and the key. What a value must look like beyond its type (a JSON path, a ``<template> :: <expr>``
entry, a strategy name) is checked by the code that reads the section, with its own message.

The keys of ``[explore]`` mirror ``ExploreOptions.CONFIG_KEYS`` (replay/options.py) and those of
``[learned]`` the fields of ``LearnConfig`` (replay/learned/observe.py): the proxy layer cannot
import them, and tests/hardening/test_config_sections.py fails when the two drift apart.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from venom_replay.proxy.errors import ConfigError

WHOLE = (int,)
NUMBER = (int, float)
TEXT = (str,)
FLAG = (bool,)
CHECKED_BY_READER = None
"""The section's reader checks this value's shape with a message of its own (lists, tables)."""

Kind = tuple[type, ...] | None

SECTIONS: dict[str, dict[str, Kind]] = {
    "templates": {  # proxy/config.py
        "host": TEXT,
        "openapi": TEXT,
        "ignore_hosts": CHECKED_BY_READER,
        "ignore": CHECKED_BY_READER,
        "volatile": CHECKED_BY_READER,
        "volatile_in": CHECKED_BY_READER,
        "names": CHECKED_BY_READER,
        "bind": CHECKED_BY_READER,
        "forbid": CHECKED_BY_READER,
    },
    "explore": {  # replay/options.py, ExploreOptions.CONFIG_KEYS
        "strategy": TEXT,
        "depth": WHOLE,
        "max_transitions": WHOLE,
        "time_limit": NUMBER,
        "max_recorded_steps": WHOLE,
        "prefix_roots": WHOLE,
        "prefix_depth": WHOLE,
        "swap_identities": FLAG,
        "learned": FLAG,
        "timeout": NUMBER,
        "min_agreement": NUMBER,
        "ca_cert": TEXT,
        "insecure": FLAG,
        "workers": WHOLE,
        "api_cmd": TEXT,
        "api_ready": TEXT,
    },
    "mutations": {  # replay/mutations/settings.py
        "per_template": WHOLE,
        "skip_fields": CHECKED_BY_READER,
        "extra_values": CHECKED_BY_READER,
        "strict_domains": FLAG,
    },
    "invariants": {  # replay/checkers/user_invariants.py
        "sql": CHECKED_BY_READER,
    },
    "learned": {  # replay/learned/config.py and LearnConfig in replay/learned/observe.py
        "ignore": CHECKED_BY_READER,
        "min_support": WHOLE,
        "min_distinct": WHOLE,
        "min_confidence": NUMBER,
        "max_enum": WHOLE,
        "enum_min_confidence": NUMBER,
        "echo_min_support": WHOLE,
        "enum_max_values_per_object": NUMBER,
        "range_min_support": WHOLE,
        "min_path_support": WHOLE,
        "max_relation_fields": WHOLE,
    },
}

OPEN_SECTIONS: dict[str, str] = {
    "auth": "replay/auth.py",  # identity = "basic:USER:PASS": the keys are the recording's identity names
}
"""Sections whose keys are the user's names; their reader checks keys and values."""

ENTRY_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("invariants", "sql"): ("name", "query", "database"),
}
"""Keys of the tables inside a list (``[[invariants.sql]]``); the ``[[templates.bind]]`` and
``[[templates.forbid]]`` entries are checked by proxy/config.py."""

_KIND_NAMES = {WHOLE: "a whole number", NUMBER: "a number", TEXT: "a string", FLAG: "true or false"}


def check_sections(data: dict[str, Any], path: Path, prefix: str = "") -> None:
    """Refuse unknown sections and keys and scalars of the wrong type; ``prefix`` is
    ``"tool.venom-replay."`` for pyproject.toml."""
    for name, section in data.items():
        if name in OPEN_SECTIONS:
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: [{prefix}{name}] must be a table")
            continue
        keys = SECTIONS.get(name)
        if keys is None:
            raise ConfigError(f"{path}: {_unknown_top_level(name, section, prefix)}")
        where = f"{path}: [{prefix}{name}]"
        if not isinstance(section, dict):
            raise ConfigError(f"{where} must be a table")
        for key, value in section.items():
            if key not in keys:
                raise ConfigError(f"{where} unknown key {key!r}{_hint(key, keys)}")
            kind = keys[key]
            if kind is not None and not _is_kind(value, kind):
                raise ConfigError(f"{where} {key} = {value!r}: expected {_KIND_NAMES[kind]}")
            entry_keys = ENTRY_KEYS.get((name, key))
            if entry_keys is not None:
                _check_entries(value, entry_keys, f"{where} {key}")


def _is_kind(value: Any, kind: tuple[type, ...]) -> bool:
    # TOML's true is a Python int too: a flag is never a number, a number never a flag.
    if isinstance(value, bool):
        return bool in kind
    return isinstance(value, kind)


def _check_entries(value: Any, allowed: tuple[str, ...], where: str) -> None:
    entries = value if isinstance(value, list) else [value]
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            continue  # a plain string entry; its reader checks the rest
        for key in entry:
            if key not in allowed:
                raise ConfigError(f"{where} entry {i}: unknown key {key!r}{_hint(key, allowed)}")


def _unknown_top_level(name: str, value: Any, prefix: str) -> str:
    if isinstance(value, dict):
        return f"unknown section [{prefix}{name}]{_hint(name, SECTIONS, brackets=True)}"
    owners = [section for section, keys in SECTIONS.items() if name in keys]
    if owners:
        return f"{name} must be inside a section (did you mean [{prefix}{owners[0]}] {name}?)"
    return f"unknown key {name!r} outside any section (sections: {', '.join(f'[{s}]' for s in SECTIONS)})"


def _hint(key: str, known: Any, *, brackets: bool = False) -> str:
    names = list(known)
    close = difflib.get_close_matches(key, names, n=1)
    shown = (lambda n: f"[{n}]") if brackets else (lambda n: n)
    if close:
        return f" (did you mean {shown(close[0])}?)"
    return f" (known: {', '.join(shown(n) for n in names)})"
