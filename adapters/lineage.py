"""Which checkpoints are still reachable: the ones on the path from the baseline to the present.

Journal adapters undo changes; they cannot redo them. After restoring to checkpoint C, every
checkpoint taken after C describes a branch whose journal entries were deleted, so restoring to it
raises CannotRestore and the explorer re-executes that path instead.

An adapter that keeps what it undoes (``branches=True``) can also redo it: then every checkpoint
taken since the last reset stays reachable.
"""

from __future__ import annotations

import itertools

from venom_replay.adapters.base import AdapterError, CannotRestore, Checkpoint
from venom_replay.proxy.redact import mask_url_password


class Lineage:
    def __init__(self, adapter_url: str, *, branches: bool = False) -> None:
        self.adapter_url = adapter_url
        self.branches = branches
        self._ids = itertools.count(1)
        self._path: list[int] = []  # checkpoint ids, oldest first; all ancestors of the present
        self._known: set[int] = set()  # the same ids, for a quick look-up

    def new_id(self) -> int:
        cp_id = next(self._ids)
        self._path.append(cp_id)
        self._known.add(cp_id)
        return cp_id

    def reachable(self, token: Checkpoint) -> bool:
        return token.adapter == self.adapter_url and token.value[0] in self._known

    def check(self, token: Checkpoint) -> None:
        if token.adapter != self.adapter_url:
            raise AdapterError(f"checkpoint belongs to {mask_url_password(token.adapter)},"
                               f" not to {mask_url_password(self.adapter_url)}")
        if token.value[0] not in self._known:
            raise CannotRestore(
                f"checkpoint {token.value[0]} is not an ancestor of the current state of"
                f" {mask_url_password(self.adapter_url)}"
                " (journal adapters undo but do not redo); re-execute the path instead")

    def rewind_to(self, token: Checkpoint) -> None:
        """After restoring to ``token``: checkpoints taken later are on a dead branch (unless kept)."""
        if self.branches:
            return
        dead = self._path[self._path.index(token.value[0]) + 1:]
        del self._path[len(self._path) - len(dead):]
        self._known.difference_update(dead)

    def reset(self) -> None:
        self._path.clear()
        self._known.clear()
