"""The SQLite database of a test app: one short connection per request, as a small API would."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager


def sqlite_opener(path: str, schema: Iterable[str] = ()) -> Callable[[], AbstractContextManager[sqlite3.Connection]]:
    """A function opening ``path`` (rows as ``sqlite3.Row``; committed on leaving the block, closed
    always), after running ``schema``'s statements once."""

    @contextmanager
    def db() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()

    with db() as conn:
        for statement in schema:
            conn.execute(statement)
    return db
