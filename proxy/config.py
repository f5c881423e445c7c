"""The user's configuration: ``venom.toml``, or ``[tool.venom-replay]`` in ``pyproject.toml``.

This module reads the file, keeps every section in ``raw`` (other parts of venom-replay read their
own sections, such as ``[invariants]`` or ``[explore]``), and checks the ``[templates]`` section that
steers inference::

    [templates]
    host = "api.example.com"                         # whose calls become templates (several hosts recorded)
    ignore_hosts = ["telemetry.local", "*.cdn.example"]
    ignore = ["GET /health", "* /static/*"]        # "METHOD path-glob" or "path-glob"
    volatile = ["$.generated_at", "header:X-Trace"]  # in every template
    [templates.volatile_in]
    "GET /items" = ["$.page_token"]
    [templates.names]
    "POST /orders/{order_id}/refund" = "refund"
    [[templates.bind]]                               # force a binding inference missed
    consumer = "GET /items/{item_id}"
    in = "path:item_id"
    producer = "POST /items"
    from = "body:$.id"
    transform = "identity"                         # optional
    [[templates.forbid]]                             # forbid a binding; every key is a glob, all optional
    in = "body:$.quantity"

Every section's keys are checked when the file is loaded (config_schema.py). A problem raises
ConfigError with one line naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from venom_replay.proxy.config_schema import check_sections
from venom_replay.proxy.errors import ConfigError

CONFIG_NAME = "venom.toml"
PYPROJECT = "pyproject.toml"
TOOL_KEY = "venom-replay"

_LOCATION_KINDS = ("path:", "query:", "body:$", "form:", "header:", "cookie:")
_SOURCE_KINDS = ("body:$", "header:", "cookie:")


@dataclass(slots=True)
class ForcedBinding:
    consumer: str
    location: str
    producer: str
    source: str
    transform: str = "identity"


@dataclass(slots=True)
class ForbiddenBinding:
    """Globs; an empty one matches anything."""

    consumer: str = "*"
    location: str = "*"
    producer: str = "*"
    source: str = "*"

    def matches(self, consumer: str, location: str, producer: str, source: str) -> bool:
        return (
            fnmatch.fnmatchcase(consumer, self.consumer)
            and fnmatch.fnmatchcase(location, self.location)
            and fnmatch.fnmatchcase(producer, self.producer)
            and fnmatch.fnmatchcase(source, self.source)
        )


@dataclass(slots=True)
class InferenceConfig:
    ignore_hosts: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    volatile: list[str] = field(default_factory=list)
    volatile_in: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    bind: list[ForcedBinding] = field(default_factory=list)
    forbid: list[ForbiddenBinding] = field(default_factory=list)
    host: str | None = None
    """The recorded host whose calls become templates (``--host``, ``[templates] host``); None: the
    one ``replay_target`` names, else the one with most exchanges (proxy/infer/inference.py)."""
    host_setting: str = "--host"
    """Where ``host`` was set, for messages."""
    replay_target: str | None = None
    """The URL the calls will be replayed to (``explore --target``), when known."""
    openapi: str | None = None
    """An OpenAPI document (YAML or JSON) joined with the learned templates (``--openapi``,
    ``[templates] openapi``; proxy/infer/openapi_input/)."""

    def host_ignored(self, host: str, port: int) -> bool:
        return any(fnmatch.fnmatchcase(host, pat) or fnmatch.fnmatchcase(f"{host}:{port}", pat) for pat in self.ignore_hosts)

    def endpoint_ignored(self, method: str, path: str) -> bool:
        """``path`` may be a recorded path or a pattern such as ``/items/{item_id}``."""
        for pat in self.ignore:
            if " " in pat:
                pmethod, _, ppath = pat.partition(" ")
                if fnmatch.fnmatchcase(method, pmethod.upper()) and fnmatch.fnmatchcase(path, ppath.strip()):
                    return True
            elif fnmatch.fnmatchcase(path, pat):
                return True
        return False

    def forbidden(self, consumer: str, location: str, producer: str, source: str) -> bool:
        return any(f.matches(consumer, location, producer, source) for f in self.forbid)

    def volatile_for(self, template_id: str) -> list[str]:
        return list(self.volatile) + list(self.volatile_in.get(template_id, []))


@dataclass(slots=True)
class VenomConfig:
    path: Path | None = None
    """The file read, or None when there was none."""
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    raw: dict[str, Any] = field(default_factory=dict)
    """Every section of the file, as read (``raw["explore"]``, ``raw["invariants"]`` ...)."""

    def with_host(self, host: str | None, *, target: str | None = None) -> VenomConfig:
        """This configuration with the host chosen on the command line (None keeps the file's) and
        the URL the calls will be replayed to."""
        inference = self.inference
        if host is not None:
            inference = replace(inference, host=host, host_setting="--host")
        if target is not None:
            inference = replace(inference, replay_target=target)
        return replace(self, inference=inference)

    def with_openapi(self, spec: str | Path | None) -> VenomConfig:
        """This configuration with the OpenAPI document chosen on the command line (None keeps the file's)."""
        if spec is None:
            return self
        return replace(self, inference=replace(self.inference, openapi=str(spec)))

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path}: [{name}] must be a table")
        return value


def find_config(start_dir: Path) -> Path | None:
    """The nearest ``venom.toml``, or ``pyproject.toml`` holding ``[tool.venom-replay]``, upwards."""
    for folder in [start_dir, *start_dir.parents]:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                continue
            if isinstance(data.get("tool"), dict) and TOOL_KEY in data["tool"]:
                return pyproject
    return None


def load_config(path: Path | None = None, start_dir: Path | None = None) -> VenomConfig:
    """Read the configuration (``path``, else the nearest one from ``start_dir``/cwd); empty if none."""
    if path is None:
        path = find_config(Path(start_dir) if start_dir else Path.cwd())
        if path is None:
            return VenomConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if path.name == PYPROJECT:
        tool = data.get("tool", {})
        data = tool.get(TOOL_KEY, {}) if isinstance(tool, dict) else {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: tool.{TOOL_KEY} must be a table")
        prefix = f"tool.{TOOL_KEY}."
    else:
        prefix = ""
    check_sections(data, path, prefix)
    return VenomConfig(path=path, inference=_inference(path, prefix, data.get("templates", {})), raw=data)


# ---------------------------------------------------------------- checking [templates]


def _inference(path: Path, prefix: str, section: Any) -> InferenceConfig:
    key = f"{prefix}templates"
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {key} must be a table")
    cfg = InferenceConfig(
        ignore_hosts=_str_list(path, f"{key}.ignore_hosts", section.get("ignore_hosts", [])),
        ignore=_str_list(path, f"{key}.ignore", section.get("ignore", [])),
        volatile=_str_list(path, f"{key}.volatile", section.get("volatile", [])),
    )
    host = section.get("host")
    if host is not None:
        if not host.strip():
            raise ConfigError(f"{path}: {key}.host must name a host (api.example.com or host:port)")
        cfg.host, cfg.host_setting = host.strip(), f"{path}: {key}.host"
    openapi = section.get("openapi")
    if openapi is not None:
        cfg.openapi = str((path.parent / openapi.strip()).resolve())  # relative to the config file
    for v in cfg.volatile:
        _check_volatile(path, f"{key}.volatile", v)
    vin = section.get("volatile_in", {})
    if not isinstance(vin, dict):
        raise ConfigError(f"{path}: {key}.volatile_in must be a table of template id = [fields]")
    for tid, fields in vin.items():
        cfg.volatile_in[tid] = _str_list(path, f"{key}.volatile_in.{tid!r}", fields)
        for v in cfg.volatile_in[tid]:
            _check_volatile(path, f"{key}.volatile_in.{tid!r}", v)
    names = section.get("names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) and v.strip() for v in names.values()):
        raise ConfigError(f"{path}: {key}.names must map template ids to non-empty names")
    if len(set(names.values())) != len(names):
        raise ConfigError(f"{path}: {key}.names gives two templates the same name")
    cfg.names = dict(names)
    for i, entry in enumerate(_table_list(path, f"{key}.bind", section.get("bind", []))):
        where = f"{key}.bind[{i}]"
        missing = [k for k in ("consumer", "in", "producer", "from") if not isinstance(entry.get(k), str) or not entry.get(k)]
        if missing:
            raise ConfigError(f"{path}: {where}.{missing[0]} is required (a string)")
        extra = sorted(set(entry) - {"consumer", "in", "producer", "from", "transform"})
        if extra:
            raise ConfigError(f"{path}: {where}.{extra[0]} is not a known key (consumer, in, producer, from, transform)")
        if not entry["in"].startswith(_LOCATION_KINDS):
            raise ConfigError(f"{path}: {where}.in {entry['in']!r} must start with one of {', '.join(_LOCATION_KINDS)}")
        if not entry["from"].startswith(_SOURCE_KINDS):
            raise ConfigError(f"{path}: {where}.from {entry['from']!r} must start with one of {', '.join(_SOURCE_KINDS)}")
        transform = entry.get("transform", "identity")
        if not isinstance(transform, str) or not _valid_transform(transform):
            raise ConfigError(f"{path}: {where}.transform {transform!r} must be identity, bearer, url-segment:<n> or format:<text with {{}}>")
        cfg.bind.append(ForcedBinding(entry["consumer"], entry["in"], entry["producer"], entry["from"], transform))
    for i, entry in enumerate(_table_list(path, f"{key}.forbid", section.get("forbid", []))):
        where = f"{key}.forbid[{i}]"
        extra = sorted(set(entry) - {"consumer", "in", "producer", "from"})
        if extra:
            raise ConfigError(f"{path}: {where}.{extra[0]} is not a known key (consumer, in, producer, from)")
        bad = [k for k, v in entry.items() if not isinstance(v, str)]
        if bad:
            raise ConfigError(f"{path}: {where}.{bad[0]} must be a string (a glob)")
        if not entry:
            raise ConfigError(f"{path}: {where} is empty: it would forbid every binding")
        cfg.forbid.append(ForbiddenBinding(entry.get("consumer", "*"), entry.get("in", "*"), entry.get("producer", "*"), entry.get("from", "*")))
    return cfg


def _valid_transform(t: str) -> bool:
    if t in ("identity", "bearer"):
        return True
    if t.startswith("url-segment:"):
        return t.split(":", 1)[1].lstrip("-").isdigit()
    return t.startswith("format:") and "{}" in t


def _check_volatile(path: Path, key: str, value: str) -> None:
    if not value.startswith(("$", "header:")):
        raise ConfigError(f"{path}: {key} entry {value!r} must be a JSON path ($.field) or header:<Name>")


def _str_list(path: Path, key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return list(value)


def _table_list(path: Path, key: str, value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{path}: {key} must be an array of tables ([[{key}]])")
    return value
