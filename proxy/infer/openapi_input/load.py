"""Reading an OpenAPI 3 document (YAML or JSON) into the operations inference joins with traffic.

Only what inference uses is kept: each operation's method, path template, parameters, JSON request
body schema and example, 2xx response schema and links. Local ``$ref``s are resolved; a document
that cannot be read is a ConfigError naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from venom_replay.proxy.errors import ConfigError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(slots=True)
class Parameter:
    name: str
    where: str
    """``path``, ``query``, ``header`` or ``cookie``."""
    required: bool
    schema: dict[str, Any]
    example: Any = None


@dataclass(slots=True)
class Link:
    """A spec ``link``: a value of this operation's answer feeds a parameter of another operation."""

    operation_id: str
    parameter: str
    """The target's parameter name, or ``body:$.x`` for a request body field."""
    source: str
    """Where in this operation's answer: ``body:$.id`` or ``header:Location``."""


@dataclass(slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    parameters: list[Parameter] = field(default_factory=list)
    body_schema: dict[str, Any] | None = None
    body_example: Any = None
    response_schema: dict[str, Any] | None = None
    links: list[Link] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def params_in(self, where: str) -> list[Parameter]:
        return [p for p in self.parameters if p.where == where]


@dataclass(slots=True)
class Spec:
    path: Path
    operations: list[Operation]

    def by_id(self, operation_id: str) -> Operation | None:
        return next((op for op in self.operations if op.operation_id == operation_id), None)


def load_spec(path: str | Path) -> Spec:
    """The operations of the OpenAPI document at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        doc = json.loads(text) if file.suffix.lower() == ".json" else _yaml(file, text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--openapi {file}: cannot read it: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ConfigError(f"--openapi {file}: not an OpenAPI document (no 'paths' object)")
    resolver = _Resolver(doc)
    operations: list[Operation] = []
    prefix = _base_path(doc)
    for route, item in doc["paths"].items():
        route = prefix + route
        item = resolver.resolve(item)
        shared = [resolver.resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if isinstance(item.get(method), dict):
                operations.append(_operation(method.upper(), route, item[method], shared, resolver))
    return Spec(file, operations)


def _base_path(doc: dict[str, Any]) -> str:
    """The path of the first server URL (``https://api.example.com/v1`` -> ``/v1``): the spec's paths
    are relative to it, the recorded ones are not."""
    servers = doc.get("servers") or []
    url = servers[0].get("url", "") if servers and isinstance(servers[0], dict) else ""
    path = urlsplit(url).path if "://" in url else url
    return "" if "{" in path else path.rstrip("/")


def _yaml(file: Path, text: str) -> Any:
    try:
        import yaml  # the `openapi` extra; a JSON spec does without
    except ImportError as exc:
        raise ConfigError(f"--openapi {file}: reading YAML needs PyYAML (pip install 'venom-replay[openapi]'), "
                          "or give the spec as JSON") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--openapi {file}: cannot read it: {exc}") from exc


def _operation(method: str, route: str, raw: dict[str, Any], shared: list[dict[str, Any]], resolver: _Resolver) -> Operation:
    own = [resolver.resolve(p) for p in raw.get("parameters", [])]
    merged = {(p.get("in"), p.get("name")): p for p in [*shared, *own]}  # an operation's own parameter wins
    params = [
        Parameter(name=str(p["name"]), where=str(p["in"]), required=bool(p.get("required", p.get("in") == "path")),
                  schema=resolver.deep(p.get("schema", {})), example=p.get("example"))
        for p in merged.values() if p.get("name") and p.get("in")
    ]
    declared = {p.name for p in params if p.where == "path"}
    params += [Parameter(seg[1:-1], "path", True, {}) for seg in route.split("/")  # left undeclared by the spec
               if seg.startswith("{") and seg.endswith("}") and seg[1:-1] not in declared]
    op = Operation(method, route, str(raw.get("operationId") or f"{method} {route}"), params)
    media = resolver.resolve(raw.get("requestBody", {})).get("content", {}).get("application/json")
    if isinstance(media, dict):
        op.body_schema = resolver.deep(media.get("schema", {}))
        op.body_example = media.get("example", op.body_schema.get("example"))
    for status, answer in (raw.get("responses") or {}).items():
        if not str(status).startswith("2"):
            continue
        answer = resolver.resolve(answer)
        content = (answer.get("content") or {}).get("application/json")
        if op.response_schema is None and isinstance(content, dict):
            op.response_schema = resolver.deep(content.get("schema", {}))
        for link in (answer.get("links") or {}).values():
            op.links.extend(_links(resolver.resolve(link)))
    return op


def _links(raw: dict[str, Any]) -> list[Link]:
    target = raw.get("operationId")
    if not target:
        return []
    out = []
    for name, expression in (raw.get("parameters") or {}).items():
        source = _runtime_source(str(expression))
        if source:
            out.append(Link(str(target), str(name), source))
    return out


def _runtime_source(expression: str) -> str | None:
    """``$response.body#/id`` -> ``body:$.id``; ``$response.header.Location`` -> ``header:Location``."""
    if expression.startswith("$response.body#/"):
        pointer = expression[len("$response.body#/"):].split("/")
        return "body:$" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in pointer)
    if expression.startswith("$response.header."):
        return "header:" + expression[len("$response.header."):]
    return None


class _Resolver:
    """Local ``$ref`` resolution (``#/components/...``); cycles stop at the second visit."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def resolve(self, node: Any) -> Any:
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"] not in seen:
            seen.add(node["$ref"])
            node = self._target(node["$ref"])
        return node if node is not None else {}

    def deep(self, node: Any, depth: int = 0) -> Any:
        node = self.resolve(node)
        if depth > 12:
            return node
        if isinstance(node, dict):
            return {k: self.deep(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.deep(v, depth + 1) for v in node]
        return node

    def _target(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {}  # another file: not followed
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        return node
