"""Writing the document: YAML or JSON, chosen by the file's extension."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from venom_replay.proxy.errors import ConfigError

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def format_for(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown extension {path.suffix or '(none)'}; use .yaml, .yml or .json")
    return fmt


def render(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    # ruamel.yaml comes with mitmproxy; the safe, pure dumper writes plain YAML 1.2.
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # keep the document's order (openapi, info, paths)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def write_document(document: dict[str, Any], path: Path) -> str:
    """Write ``document`` to ``path`` in the format its extension names; returns that format."""
    fmt = format_for(path)
    path.write_text(render(document, fmt), encoding="utf-8")
    return fmt
