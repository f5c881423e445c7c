"""Where the traffic is silent, the spec speaks: answer fields the recording never showed.

A recorded template's response schema only knows the fields its recorded answers carried. Fields the
spec declares for the operation's 2xx answer but the recording never showed join the schema as
optional properties with the spec's type (checked when present, never required); where the recording
did show a field, its learned type stays (disagreements are match.py's warnings).
"""

from __future__ import annotations

from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.infer.openapi_input.load import Operation

_KEPT = ("type", "format", "enum", "items", "properties")


def _from_spec(prop: dict[str, Any]) -> dict[str, Any]:
    """The spec's property as the shape checker reads it (types and structure; nothing required)."""
    out = {k: v for k, v in prop.items() if k in _KEPT}
    if prop.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out


def join_answer_fields(template: ActionTemplate, op: Operation) -> list[str]:
    """Add to ``template``'s response schema the top-level answer fields only the spec declares; their names."""
    spec_props = (op.response_schema or {}).get("properties") or {}
    schema = template.response_schema
    if not spec_props or not isinstance(schema, dict) or "object" not in str(schema.get("type", "")):
        return []
    props = schema.setdefault("properties", {})
    added = [name for name, prop in spec_props.items() if name not in props and isinstance(prop, dict)]
    for name in added:
        props[name] = _from_spec(spec_props[name])
    return added
