"""One value mutation: which request part is changed, how, and to what.

A mutation rides on the explored step it changes (``Action.mutation``): the explorer renders the
request as usual, then applies the mutation (apply.py), so shrinking, confirming and ``reproduce``
send exactly what the search sent. Nothing here imports the explorer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS = ("drop", "null", "wrong-type", "empty-object", "number", "string", "format", "foreign-id", "other-kind-id",
         "other-identity-id", "echo", "extra")
"""drop: the part left out; null: sent as null; wrong-type: a string for a number, a number for a
string...; empty-object: ``{}`` where a list was; number / string: boundary values; format: a value
that breaks a learned format (date, email, uuid); foreign-id: an id never produced; other-kind-id: an
id a recorded create of another kind handed out (a comment's id where a post's goes);
other-identity-id (with --swap-identities): an id of the same kind that another identity created; echo: a field the answers about this resource carry, sent back; extra: a value from
the ``[mutations] extra_values`` setting."""


@dataclass(frozen=True, slots=True)
class Mutation:
    kind: str
    location: str
    """The request part: ``body:$.title``, ``query:per_page``, ``path:post_id``."""
    value: Any = None
    """The value sent there (JSON); unused by ``drop``."""
    note: str = ""
    """Why this value: ``learned max 100, + 1``, ``2^31``, ``the checksum the list answer shows``."""
    outside_domain: bool = False
    """The value lies outside a domain the recording shows with high support (``--strict-domains``)."""

    def __hash__(self) -> int:  # values may be lists or objects
        return hash((self.kind, self.location, json.dumps(self.value, sort_keys=True, default=str), self.note))

    def describe(self) -> str:
        """``body:$.id dropped``, ``query:per_page = 100001 (learned max 100000, + 1)``."""
        if self.kind == "drop":
            what = f"{self.location} left out"
        else:
            what = f"{self.location} = {shown_value(self.value)}"
        return f"{what} ({self.kind}{': ' + self.note if self.note else ''})"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "location": self.location, "note": self.note}
        if self.kind != "drop":
            out["value"] = self.value
        if self.outside_domain:
            out["outside_domain"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mutation:
        return cls(str(data["kind"]), str(data["location"]), data.get("value"), str(data.get("note", "")),
                   bool(data.get("outside_domain", False)))


def shown_value(value: Any, limit: int = 40) -> str:
    """A value as a report line shows it: JSON, long strings cut with their length."""
    if isinstance(value, str) and len(value) > limit:
        return json.dumps(value[:limit // 2], ensure_ascii=False)[:-1] + f"…\" ({len(value)} characters)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit * 2 else text[: limit * 2] + "…"
