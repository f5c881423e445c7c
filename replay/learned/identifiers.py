"""Strings that name one object or one moment rather than a state: ids, URIs, hashes, timestamps.

An enumeration learned over such values (``artifact_uri in {"store:/1/9f2c.../artifacts", ...}``)
breaks on every new object, so the enum learner skips fields whose values look like these.
"""

from __future__ import annotations

import re

__all__ = ["looks_like_identifier"]

_PATTERNS = (
    re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),  # a UUID anywhere
    re.compile(r"(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}"),  # a hash or a hex id
    re.compile(r"\d{4,}"),  # a counter, an epoch time, a zero-padded number
    re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}:\d{2}"),  # a date or a time of day
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/|^/|^\./|^[^\s/]+/[^\s/]+/"),  # a URI, a path
    re.compile(r"^\d+$"),  # a number written as a string
    re.compile(r"^(?=\S*\d)(?=\S*[A-Za-z])\S{20,}$"),  # a token: long, no spaces, letters and digits
)


def looks_like_identifier(value: str) -> bool:
    """Whether ``value`` looks like an id, a URI or path, a hash, a token or a timestamp."""
    return any(p.search(value) for p in _PATTERNS)
