"""A recording's start state: what its databases held before its first exchange.

Why: a recording changes the databases. Explored from the content it ended in, recorded sign-ups
answer 409, a password changed later in the recording makes every earlier call 401, and create-only
calls fail. ``record --db URL`` saves each database's content (``Adapter.export_content``) before the
proxy takes its first request; ``explore`` and ``reproduce`` import it after installing the rollback
(``Position.install``), explore from there, and put the user's own content back at the end.

The file is ``<recording>.start``, beside the recording, mode 0600 (it holds whatever the database
holds, passwords included). A msgpack stream of ``[kind, payload]`` records:

    ["header",   {"format": "venom-replay-start", "version": 1, "created": t, "recording": name}]
    ["database", {"kind", "name", "address", "url" (password masked), "label"}]   then that database's
    ["part", {...}] ...                                                           export, as written
    ["end",      {"tables", "rows", "sequences", "unit"}]                         (once per database)
    ["complete", {}]                                                              last of all

It is written under a temporary name and linked into place: never half there, never overwriting a
file. A file without the ``complete`` record (an export cut short) is refused. Reading scans the
records once, skipping the parts' payloads, to find where each database's parts start; they are then
streamed from there, so a large start state is never held in memory.

Matching at explore time, per ``--db`` URL: the entry of the same kind and database name (the
address decides between several). A URL without an entry starts from its present content, and an
entry no URL takes is not used: both are warnings in the result, because the rest of the run is
still sound. A damaged or cut-short file, or an entry that two URLs could take, is a one-line error.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from venom_replay.adapters.base import Adapter, ContentPart, ContentStats
from venom_replay.adapters.registry import DatabaseIdentity, database_identity
from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.redact import mask_url_password

__all__ = ["UNKNOWN_START", "StartBinding", "StartState", "read_start_state", "save_start_state", "start_state_path"]

FORMAT = "venom-replay-start"
VERSION = 1
SUFFIX = ".start"
UNKNOWN_START = ("the recording's start state is unknown (recorded without `record --db`): recorded calls replay"
                 " against the databases' present content, which already holds what the recording created")


def start_state_path(recording: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(recording)}{SUFFIX}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One database in a start-state file."""

    identity: DatabaseIdentity
    url: str
    """The URL it was exported from, password masked."""
    offset: int
    """Where its first part starts in the file."""
    stats: ContentStats

    def describe(self) -> str:
        return f"{self.identity.kind} {self.identity.name!r} ({self.stats.exported()})"


# ---------------------------------------------------------------- writing


class _Writer:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.packer = msgpack.Packer(use_bin_type=True)

    def record(self, kind: str, payload: Any) -> None:
        self.fh.write(self.packer.pack([kind, payload]))


def save_start_state(recording: str | os.PathLike[str], urls: Sequence[str],
                     *, open_adapter: Callable[[str], Adapter] | None = None) -> tuple[Path, list[Entry]]:
    """Export every database of ``urls`` into ``<recording>.start``; refuses to overwrite one."""
    if open_adapter is None:
        from venom_replay.adapters.registry import open_adapter
    target = start_state_path(recording)
    if target.exists():
        raise VenomError(f"{target}: a start state is there already; choose another --out or remove it")
    identities = [database_identity(url) for url in urls]  # a bad URL is one line before anything is written
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    entries: list[Entry] = []
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
            out = _Writer(fh)
            out.record("header", {"format": FORMAT, "version": VERSION, "created": time.time(),
                                  "recording": Path(recording).name})
            for url, identity in zip(urls, identities):
                entries.append(_export_one(out, open_adapter(url), url, identity, fh))
            out.record("complete", {})
            fh.flush()
            os.fsync(fh.fileno())
        os.link(partial, target)  # fails rather than replace a file that appeared meanwhile
    except FileExistsError:
        raise VenomError(f"{target}: a start state is there already; choose another --out or remove it") from None
    finally:
        partial.unlink(missing_ok=True)
    return target, entries


def _export_one(out: _Writer, adapter: Adapter, url: str, identity: DatabaseIdentity, fh: BinaryIO) -> Entry:
    try:
        out.record("database", {**identity._asdict(), "url": mask_url_password(url), "label": adapter.label})
        offset = fh.tell()
        stats = adapter.export_content(lambda part: out.record("part", part))
        out.record("end", asdict(stats))
        return Entry(identity, mask_url_password(url), offset, stats)
    finally:
        adapter.close()


# ---------------------------------------------------------------- reading


@dataclass
class StartState:
    """A start-state file, scanned: its databases and where their parts are."""

    path: Path
    created: float
    entries: list[Entry] = field(default_factory=list)

    def parts(self, entry: Entry) -> Iterator[ContentPart]:
        """The parts ``entry``'s adapter wrote, streamed from the file."""
        with open(self.path, "rb") as fh:
            fh.seek(entry.offset)
            unpacker = msgpack.Unpacker(fh, raw=False)
            try:
                while True:
                    if unpacker.read_array_header() != 2:
                        raise self._damaged()
                    kind = unpacker.unpack()
                    if kind == "end":
                        return
                    if kind != "part":
                        raise self._damaged()
                    yield unpacker.unpack()
            except (msgpack.OutOfData, ValueError, msgpack.UnpackException) as exc:
                raise self._damaged() from exc

    def describe(self) -> str:
        return ", ".join(e.describe() for e in self.entries) or "no database"

    def bind(self, urls: Sequence[str]) -> StartBinding:
        """Give each URL its entry (see the module docstring); what is left over becomes a warning."""
        binding = StartBinding(self)
        unused = list(self.entries)
        for url in urls:
            identity = database_identity(url)
            same = [e for e in unused if e.identity[:2] == identity[:2]]
            here = [e for e in same if e.identity.address == identity.address]
            if len(here) > 1 or (not here and len(same) > 1):
                raise VenomError(f"{self.path}: several start states fit {mask_url_password(url)}"
                                 f" ({', '.join(e.url for e in same)}); record each database once")
            chosen = (here or same or [None])[0]
            if chosen is None:
                binding.warnings.append(f"no start state for {mask_url_password(url)} (`record` was not given it with"
                                        " --db): explored from its present content")
                continue
            unused.remove(chosen)
            binding.entries[identity] = chosen
        for entry in unused:
            binding.warnings.append(f"the recording's start state of {entry.describe()} is not used: no --db names"
                                    f" {entry.identity.kind} database {entry.identity.name!r}")
        return binding

    def _damaged(self) -> VenomError:
        return VenomError(f"{self.path}: the start state is damaged (not what `record --db` writes); remove it"
                          " and record again")


@dataclass
class StartBinding:
    """A start state with an entry for each ``--db`` URL that has one: what ``Position.install`` imports."""

    state: StartState
    entries: dict[DatabaseIdentity, Entry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def describe(self) -> str:
        return ", ".join(e.describe() for e in self.entries.values())

    def parts_for(self, adapter: Adapter) -> Iterator[ContentPart]:
        """What ``adapter.import_content`` takes: its entry's parts; for a group, each member's that has
        one, wrapped the way ``AdapterGroup.import_content`` reads them."""
        from venom_replay.adapters.group import AdapterGroup

        if isinstance(adapter, AdapterGroup):
            return itertools.chain.from_iterable(
                ({"member": i, "part": p} for p in self._parts_of(member)) for i, member in enumerate(adapter.adapters))
        return self._parts_of(adapter)

    def _parts_of(self, adapter: Adapter) -> Iterator[ContentPart]:
        entry = self.entries.get(database_identity(adapter.url))
        return self.state.parts(entry) if entry is not None else iter(())


def read_start_state(recording: str | os.PathLike[str]) -> StartState | None:
    """The start state beside ``recording``; None when it was recorded without ``--db``."""
    path = start_state_path(recording)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VenomError(f"{path}: cannot read the start state: {exc.strerror}") from None
    with fh:
        return _scan(path, fh)


def _scan(path: Path, fh: BinaryIO) -> StartState:
    unpacker = msgpack.Unpacker(fh, raw=False)
    state: StartState | None = None
    current: dict[str, Any] | None = None
    offset = 0
    try:
        while True:
            if unpacker.read_array_header() != 2:
                raise ValueError("not a record")
            kind = unpacker.unpack()
            if kind == "part":
                unpacker.skip()
                continue
            payload = unpacker.unpack()
            if state is None:
                if kind != "header" or not isinstance(payload, dict) or payload.get("format") != FORMAT:
                    raise ValueError("no header")
                if payload.get("version") != VERSION:
                    raise VenomError(f"{path}: start state version {payload.get('version')!r}; this venom-replay"
                                     f" reads version {VERSION} (record again)")
                state = StartState(path, float(payload.get("created") or 0))
            elif kind == "database":
                current, offset = payload, unpacker.tell()
            elif kind == "end" and current is not None:
                identity = DatabaseIdentity(current["kind"], current["name"], current["address"])
                state.entries.append(Entry(identity, current["url"], offset, ContentStats(**payload)))
                current = None
            elif kind == "complete":
                return state
            else:
                raise ValueError(f"unexpected record {kind!r}")
    except msgpack.OutOfData:
        raise VenomError(f"{path}: the start state was cut short (its export did not finish); remove it and record"
                         " again") from None
    except (ValueError, TypeError, KeyError, msgpack.UnpackException):
        raise VenomError(f"{path}: not a venom-replay start state (damaged?); remove it and record again") from None
