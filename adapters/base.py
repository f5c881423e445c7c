"""The one small interface every checkpoint/restore adapter implements.

The API under test is a separate process with its own connection pool, so an adapter may never rely
on a transaction or savepoint of its own connection: it must undo writes that other connections
committed (a trigger journal, the backup API, DUMP/RESTORE). ``savepoint`` mode on PostgreSQL is the
one exception, for an app that runs in-process on the very connection we hand it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.redact import mask_url_password

__all__ = ["Adapter", "AdapterError", "CannotRestore", "Checkpoint", "ContentPart", "ContentStats"]


class AdapterError(VenomError):
    """A problem with the user's database that the CLI shows as one line (missing grant, bad URL)."""


class ConnectionLost(AdapterError):
    """Our connection went away in the middle of a call (terminated by an administrator, KILL
    CONNECTION, a server restart, a network cut): whether the server applied the call is unknown.
    ``lost_database`` names the database (password masked); the explorer ends the run on it and tries
    its final restore on a new connection."""

    def __init__(self, shown_url: str, reason: str) -> None:
        super().__init__(f"the connection to {shown_url} was lost ({reason})")
        self.lost_database = shown_url


class CannotRestore(AdapterError):
    """This adapter cannot reach that checkpoint from the current state; re-execute the path instead."""


_Kept = TypeVar("_Kept")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An opaque, hashable restore point. ``adapter`` is the URL of the adapter that made it."""

    adapter: str
    value: Any
    ancestors: tuple[Any, ...] = field(default=(), compare=False)


ContentPart = dict[str, Any]
"""One piece of a database's exported content (msgpack-able: str, bytes, numbers, lists, dicts). Only
the kind of adapter that wrote it reads it back."""


@dataclass(slots=True)
class ContentStats:
    """What an export wrote or an import changed, for the one line the user sees."""

    tables: int = 0
    rows: int = 0
    """Rows (keys for Redis) exported."""
    removed: int = 0
    """Rows (keys) an import removed or replaced."""
    added: int = 0
    """Rows (keys) an import added or rewrote."""
    sequences: int = 0
    unit: str = "rows"

    def __add__(self, other: ContentStats) -> ContentStats:
        numbers = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "unit"}
        return ContentStats(**numbers, unit=self.unit if self.unit == other.unit else "rows/keys")

    def _count(self, n: int, unit: str) -> str:
        return f"{n} {unit if n != 1 else unit.removesuffix('s')}"

    def exported(self) -> str:
        tables = f"{self._count(self.tables, 'tables')}, " if self.tables else ""
        return f"{tables}{self._count(self.rows, self.unit)}"

    def imported(self) -> str:
        return f"{self._count(self.removed, self.unit)} removed, {self.added} added"


class Adapter(ABC):
    #: True when restore() can reach a checkpoint that is not an ancestor of the current state.
    restores_across_branches: bool = False
    #: How messages name this adapter's system and mode, e.g. "PostgreSQL template mode".
    label: str = "this database adapter"
    #: What to use instead when this mode cannot import a recording's start state.
    import_instead: str = "explore without the start state"

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = ()) -> None:
        self.url = url
        self.volatile_columns = frozenset(volatile_columns)
        #: Things the user should know (a baseline recovered, tables created after install, the
        #: connections a template restore cut off). The explorer shows them in its report.
        self.notes: list[str] = []

    @property
    def shown_url(self) -> str:
        """The URL with its password masked: the form every message and report shows."""
        return mask_url_password(self.url)

    def kept_for(self, token: Checkpoint, kept: Mapping[int, _Kept]) -> _Kept:
        """What ``kept`` (checkpoint id -> snapshot) holds for ``token``; CannotRestore when the token is
        another adapter's or its snapshot is gone (released, evicted, never taken)."""
        if token.adapter != self.url or token.value[0] not in kept:
            raise CannotRestore(f"unknown checkpoint for {self.shown_url}")
        return kept[token.value[0]]

    def can_restore(self, token: Checkpoint) -> bool:
        """True when restore(token) would succeed from the current state (no CannotRestore)."""
        return True

    def recover(self) -> int:
        """Restore the baseline left by a killed run, if any; return how many changes were undone."""
        return 0

    def recover_or_create(self, installed: bool, create: Callable[[], None]) -> None:
        """install()'s first step: a killed run left our objects, so put its baseline back first (and
        say so); else create them."""
        if installed:
            undone = self.recover()
            if undone:
                self.notes.append(f"restored the baseline left by a killed run ({undone} changes undone)")
        else:
            create()

    def pending_changes(self) -> int:
        """How many journalled changes lie beyond the baseline (0 when nothing is to recover)."""
        return 0

    @abstractmethod
    def install(self) -> None:
        """Prepare the database (triggers, journal) and restore a baseline left by a killed run."""

    @abstractmethod
    def checkpoint(self) -> Checkpoint: ...

    @abstractmethod
    def restore(self, token: Checkpoint) -> None:
        """Put the content back exactly as it was at ``token``. Raises CannotRestore if it can't."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A hash of the content, volatile columns left out; cheap when little changed."""

    def enable_branch_restore(self) -> bool:
        """Ask the adapter to keep what restore() undoes, so that it can redo it: afterwards every
        checkpoint is reachable from any branch and cheap to take. True if this adapter does that
        (a journal adapter); False leaves it as it was. Call before install()."""
        return False

    def snapshot(self, *, checkpoint: bool = True,
                 then_restore: Checkpoint | None = None) -> tuple[Checkpoint | None, str]:
        """The fingerprint of the present content and, if asked, a checkpoint of it; then, if given,
        restore ``then_restore``. Adapters may do all of it in one round trip; this default calls the
        methods one by one."""
        token = self.checkpoint() if checkpoint else None
        fp = self.fingerprint()
        if then_restore is not None:
            self.restore(then_restore)
        return token, fp

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        """Write the user content (what fingerprint() covers: every user table's rows and the sequence
        or auto-increment positions; for Redis every key with its TTL) as parts to ``write``. Reads only:
        needs no install() and leaves nothing behind (``record --db`` saves a recording's start state)."""
        raise AdapterError(f"{self.label} cannot export a database's content")

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        """Make the live content equal to what export_content() wrote, through writes that the
        installed journal records: a later restore() of a checkpoint taken before undoes the import.
        Call after install()."""
        raise AdapterError(f"{self.label} cannot import a recording's start state: {self.import_instead}")

    def imported(self, stats: ContentStats) -> ContentStats:
        """import_content()'s last step: say in ``notes`` (the report's warnings) what it changed."""
        self.notes.append(f"started from the recording's start state ({self.shown_url}: {stats.imported()})")
        return stats

    @abstractmethod
    def uninstall(self) -> None:
        """Remove every object this adapter created."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
