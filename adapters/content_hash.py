"""Shared pieces of fingerprint(): which columns are volatile, and one hash over per-table hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

MASK64 = (1 << 64) - 1


def volatile_for(table: str, volatile_columns: Iterable[str], schema: str | None = None) -> list[str]:
    """Columns of ``table`` left out of fingerprints; entries are ``table.column`` or ``schema.table.column``."""
    names = {table} | ({f"{schema}.{table}"} if schema else set())
    found = []
    for entry in volatile_columns:
        owner, _, column = entry.rpartition(".")
        if owner in names and column:
            found.append(column)
    return sorted(found)


def combine(table_hashes: Mapping[str, object]) -> str:
    """One stable hex digest over {table: hash}; independent of dict order."""
    digest = hashlib.sha256()
    for name in sorted(table_hashes):
        digest.update(f"{name}\0{table_hashes[name]}\n".encode())
    return digest.hexdigest()
