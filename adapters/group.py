"""Several adapters behind one interface, for an API that uses a database and a cache at once."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from venom_replay.adapters.base import Adapter, AdapterError, CannotRestore, Checkpoint, ContentPart, ContentStats
from venom_replay.adapters.content_hash import combine

__all__ = ["AdapterGroup"]

GROUP = "group"


class AdapterGroup(Adapter):
    def __init__(self, adapters: Iterable[Adapter]) -> None:
        self.adapters = list(adapters)
        super().__init__(GROUP + ":" + ",".join(a.url for a in self.adapters))
        self.restores_across_branches = all(a.restores_across_branches for a in self.adapters)

    @property
    def notes(self) -> list[str]:  # type: ignore[override]
        return [note for a in self.adapters for note in a.notes]

    @notes.setter
    def notes(self, value: list[str]) -> None:  # base __init__ assigns []; members keep their own
        pass

    def enable_branch_restore(self) -> bool:
        enabled = [a.enable_branch_restore() for a in self.adapters]
        self.restores_across_branches = all(a.restores_across_branches for a in self.adapters)
        return all(enabled)

    def snapshot(self, *, checkpoint: bool = True,
                 then_restore: Checkpoint | None = None) -> tuple[Checkpoint | None, str]:
        if then_restore is not None and not self.can_restore(then_restore):
            raise CannotRestore(f"checkpoint not reachable by every member of {self.shown_url}")
        members = then_restore.value if then_restore is not None else [None] * len(self.adapters)
        parts = [a.snapshot(checkpoint=checkpoint, then_restore=t) for a, t in zip(self.adapters, members)]
        token = Checkpoint(self.url, tuple(t for t, _ in parts)) if checkpoint else None
        return token, _combined([fp for _, fp in parts])

    def install(self) -> None:
        for adapter in self.adapters:
            adapter.install()

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.url, tuple(a.checkpoint() for a in self.adapters))

    def can_restore(self, token: Checkpoint) -> bool:
        return token.adapter == self.url and all(a.can_restore(t) for a, t in zip(self.adapters, token.value))

    def restore(self, token: Checkpoint) -> None:
        # Check every member first, so a CannotRestore never leaves some members restored.
        if not self.can_restore(token):
            raise CannotRestore(f"checkpoint not reachable by every member of {self.shown_url}")
        for adapter, member_token in zip(self.adapters, token.value):
            adapter.restore(member_token)

    def fingerprint(self) -> str:
        return _combined([a.fingerprint() for a in self.adapters])

    def recover(self) -> int:
        return sum(a.recover() for a in self.adapters)

    def pending_changes(self) -> int:
        return sum(a.pending_changes() for a in self.adapters)

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        """Each member's parts in turn, each wrapped as ``{"member": i, "part": ...}``."""
        stats = ContentStats()
        for i, adapter in enumerate(self.adapters):
            stats += adapter.export_content(lambda part, i=i: write({"member": i, "part": part}))
        return stats

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        """Parts as export_content() wraps them, one member's after the other's; a member without
        parts keeps its content."""
        stats = ContentStats()
        for i, group in itertools.groupby(parts, key=lambda p: p.get("member")):
            if not isinstance(i, int) or not 0 <= i < len(self.adapters):
                raise AdapterError(f"the start state is damaged: no database number {i!r} in {self.shown_url}")
            stats += self.adapters[i].import_content(p["part"] for p in group)
        return stats

    def uninstall(self) -> None:
        for adapter in self.adapters:
            adapter.uninstall()

    def close(self) -> None:
        for adapter in self.adapters:
            adapter.close()


def _combined(fingerprints: list[str]) -> str:
    """The members' fingerprints by position, not by URL: replicas of an `explore --workers` run hold
    the same content in copies with other names, and must fingerprint alike."""
    return combine({str(i): fp for i, fp in enumerate(fingerprints)})
