"""The one small interface every checkpoint/restore adapter implements.

The API under test is a separate process with its own connection pool, so an adapter may never rely
on a transaction or savepoint of its own connection: it must undo writes that other connections
committed (a trigger journal, the backup API, DUMP/RESTORE). ``savepoint`` mode on PostgreSQL is the
one exception, for an app that runs in-process on the very connection we hand it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.redact import mask_url_password

__all__ = ["Adapter", "AdapterError", "CannotRestore", "Checkpoint"]


class AdapterError(VenomError):
    """A problem with the user's database that the CLI shows as one line (missing grant, bad URL)."""


class CannotRestore(AdapterError):
    """This adapter cannot reach that checkpoint from the current state; re-execute the path instead."""


_Kept = TypeVar("_Kept")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An opaque, hashable restore point. ``adapter`` is the URL of the adapter that made it."""

    adapter: str
    value: Any
    ancestors: tuple[Any, ...] = field(default=(), compare=False)


class Adapter(ABC):
    #: True when restore() can reach a checkpoint that is not an ancestor of the current state.
    restores_across_branches: bool = False

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

    @abstractmethod
    def uninstall(self) -> None:
        """Remove every object this adapter created."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
