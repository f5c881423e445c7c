"""SQLite copies: the backup API into ``<dir>/<stem>__vr_<run>_<replica><suffix>``, next to the source.
The backup reads a consistent state even while another process writes (WAL or not), which copying
the file would not. Our trigger journal is left out, as for the server kinds."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies.locations import Location, sibling_path
from venom_replay.adapters.registry import open_adapter

JOURNAL_META = "venom_replay_meta"
SIDE_FILES = ("-wal", "-shm", "-journal")


def make_copy(source: Location, name: str) -> str:
    path = source.file_path
    target = sibling_path(path, name)
    if not os.path.isfile(path):
        raise AdapterError(f"cannot copy {source.shown}: the file does not exist")
    if os.path.exists(target):
        raise AdapterError(f"cannot copy {source.shown}: its copy {target} already exists (drop it first)")
    copy_url = source.with_database(target)
    try:
        # mode=ro: never create or change the source
        source_uri = Path(path).absolute().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(source_uri, uri=True, timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        _leave_out_journal(target, Location.of(copy_url).clean)
    except sqlite3.Error as exc:
        _remove(target)
        raise AdapterError(f"cannot copy {source.shown}: {exc}") from exc
    except BaseException:
        _remove(target)
        raise
    return copy_url


def _leave_out_journal(path: str, copy_clean_url: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        installed = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (JOURNAL_META,)).fetchone()
    if installed:
        with open_adapter(copy_clean_url, mode="triggers") as journal:
            journal.uninstall()


def _remove(path: str) -> None:
    for suffix in ("", *SIDE_FILES):
        Path(path + suffix).unlink(missing_ok=True)


def drop(copy: Location) -> None:
    _remove(copy.file_path)


def exists(copy: Location) -> bool:
    return os.path.exists(copy.file_path)
