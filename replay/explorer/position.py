"""Where the databases are: which explored state their content is, and how to get to another one.

The explorer walks a state graph, but the databases can only be in one state at a time, and every
restore is a round trip. ``Position`` is the one owner of that bookkeeping, so that the search, the
determinism probe, minimisation and the reproduction command all move the databases the same way:

- ``goto(node, redo)``: put the databases at a state. An adapter that can keep what it undoes
  (``enable_branch_restore()``, the PostgreSQL journal) has a checkpoint for every state that will be
  expanded, and going there is one restore. Other journal adapters undo but cannot redo: a stack of
  checkpoints (frames) along the present lineage is kept, the deepest one on the target's path is
  restored, and ``redo`` re-executes the rest of the path, one lineage step at a time.
- ``observe()``: after a step, the fingerprint (and a checkpoint if asked); in branching mode the
  restore to where the next step starts rides in the same round trip.
- ``mark_changed()``: something was written that is no known state (a replay, a broken branch).
- ``root()`` / ``goto_root()`` / ``finish()``: the baseline; ``finish`` restores it and checks that
  the content is exactly what it was before the run.
- ``install(start_state)``: with the recording's start state (``record --db``), the user's present
  content is checkpointed and fingerprinted first, then the start content is imported through the
  adapter (journalled, like any write) and becomes the baseline; ``finish`` restores the baseline and
  then the user's content, and checks the latter against the fingerprint taken before the import.

Skipping a restore is only safe when the content is known: ``at`` is the state the databases hold
(None: unknown), ``cp`` the checkpoint whose content they hold unless ``dirty``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from venom_replay.adapters.base import Adapter, CannotRestore, Checkpoint, ContentPart
from venom_replay.replay.explorer.guards import DeferSigint
from venom_replay.replay.explorer.state import StateNode

Redo = Callable[[StateNode, int], bool]
"""``redo(node, i)``: re-execute ``node``'s path from ``node.lineage[i]`` (where the databases are)
to ``node.lineage[i + 1]``, calling ``Position.observe()`` after each request; False if it failed."""


class StartContent(Protocol):
    """A recording's start state matched to the databases (replay/start_state.py's ``StartBinding``)."""

    def parts_for(self, adapter: Adapter) -> Iterable[ContentPart]:
        """What ``adapter.import_content()`` takes to write the start content."""
        ...


class NoDatabase(Adapter):
    """Stand-in when no --db is given: nothing is checkpointed, nothing is rolled back."""

    def __init__(self) -> None:
        super().__init__("none")

    def install(self) -> None: ...

    def checkpoint(self) -> Checkpoint:
        return Checkpoint("none", None)

    def restore(self, token: Checkpoint) -> None: ...

    def fingerprint(self) -> str:
        return ""

    def uninstall(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class Observation:
    """What ``observe()`` saw after a step."""

    checkpoint: Checkpoint | None
    """A checkpoint of the content the step left, when one was asked for."""
    fingerprint: str
    """The fingerprint of the content the step left."""
    restored: bool
    """The databases were put back to ``then`` in the same round trip: they are not at the step's state."""


@dataclass(slots=True)
class _Frame:
    """A restorable state on the present lineage (non-branching adapters)."""

    key: str
    checkpoint: Checkpoint
    fingerprint: str


class Position:
    """The databases' position among the explored states (see the module docstring)."""

    def __init__(self, db: Adapter | None) -> None:
        self.rollback = db is not None
        self.db: Adapter = db if db is not None else NoDatabase()
        self.branching = False
        """The adapter restores any checkpoint (it redoes undone branches): no re-execution."""
        self.frames: list[_Frame] = []
        """Non-branching: checkpoints along the present lineage, the root first."""
        self.checkpoints: dict[str, Checkpoint] = {}
        """The root's, the prefix roots', and in branching mode every state's that will be expanded."""
        self.kept_fp: dict[str, str] = {}
        """The fingerprints of the checkpoints kept with one (a restore must know what it restored)."""
        self.at: str | None = None
        """The state the databases hold now; None when that is not known."""
        self.base: str | None = None
        """The state whose checkpoint the databases were last put at (``dirty``: changed since)."""
        self.cp: Checkpoint | None = None
        """The checkpoint whose content the databases hold unless ``dirty``: a step that changed nothing
        leaves them at it, whichever state it led to."""
        self.dirty = False
        self.fp = ""
        """The latest fingerprint taken (or known after a restore)."""
        self.baseline_fp = ""
        self.user: _Frame | None = None
        """With a start state: the user's own content before it was imported (put back by ``finish``)."""

    # ---------------------------------------------------------------- the baseline

    def install(self, start_state: StartContent | None = None) -> str:
        """Install the rollback machinery; the baseline's fingerprint ("" without a database).

        ``start_state``: the databases' content when the recording started (``record --db``). Given,
        it is imported over the user's content (checkpointed first) and is the baseline. If the import
        fails, the user's content is put back and the machinery removed before the error goes on."""
        self.branching = self.rollback and self.db.enable_branch_restore()  # must come before install()
        self.db.install()
        if self.rollback:
            self.fp = self.db.fingerprint()
            if start_state is not None:
                self._enter_start_state(start_state)
        self.baseline_fp = self.fp
        return self.fp

    def _enter_start_state(self, start_state: StartContent) -> None:
        self.user = _Frame("user", self.db.checkpoint(), self.fp)
        try:
            self.db.import_content(start_state.parts_for(self.db))
            self.fp = self.db.fingerprint()
        except BaseException:
            with DeferSigint():
                try:
                    self._leave_start_state()
                finally:
                    self.db.uninstall()
            raise

    def _leave_start_state(self) -> bool:
        """Restore the user's own content; True when it is exactly what it was before the import."""
        assert self.user is not None
        self.db.restore(self.user.checkpoint)
        self.fp = self.db.fingerprint()
        return self.fp == self.user.fingerprint

    def root(self, key: str) -> None:
        """The present content is the search root ``key``: checkpoint it."""
        cp = self.db.checkpoint()
        self.frames = [_Frame(key, cp, self.fp)]
        self.checkpoints[key] = cp
        self.at = self.base = key
        self.cp = cp

    def goto_root(self) -> None:
        """Restore the root's checkpoint (always: whatever is known, the content may have moved)."""
        if self.rollback:
            del self.frames[1:]
            self._restore(self.frames[0])

    def finish(self) -> bool | None:
        """Restore the baseline (and then, after a start state, the user's own content); True when both
        equal what they were before the run (None: no database)."""
        if not self.rollback:
            return None
        try:
            self.goto_root()
            same = self.db.fingerprint() == self.baseline_fp
        finally:
            if self.user is not None:  # whatever happened above: the user's content goes back
                same_user = self._leave_start_state()
        return same and (self.user is None or same_user)

    def uninstall(self) -> None:
        if self.rollback:
            self.db.uninstall()

    # ---------------------------------------------------------------- after a step

    def observe(self, *, checkpoint: bool = False, then: StateNode | None = None) -> Observation:
        """After a step: the new fingerprint (and a checkpoint of it), then, in branching mode, the
        databases put back to ``then`` — in one round trip when the adapter can."""
        if not self.rollback:
            return Observation(None, "", False)
        target = self.checkpoints.get(then.key) if then is not None and self.branching else None
        if target is not None and self.db.can_restore(target):
            token, fp = self.db.snapshot(checkpoint=checkpoint, then_restore=target)
            self.fp, self.dirty, self.cp = then.fingerprint, False, target
            self.at = self.base = then.key
            return Observation(token, fp, True)
        token, fp = self.db.snapshot(checkpoint=checkpoint)
        if fp != self.fp:
            self.dirty = True
        self.fp = fp
        return Observation(token, fp, False)

    def keep(self, key: str, checkpoint: Checkpoint, *, here: bool = False, fingerprint: str | None = None) -> None:
        """Remember ``checkpoint`` as state ``key``'s; ``here``: the databases hold exactly it now."""
        self.checkpoints[key] = checkpoint
        if fingerprint is not None:
            self.kept_fp[key] = fingerprint
        if here:
            self.base, self.dirty, self.cp = key, False, checkpoint

    def arrive(self, key: str | None, seen: Observation) -> None:
        """The step that ``seen`` observed led to state ``key`` (None: to content of no known state),
        unless ``observe()`` has put the databases back already."""
        if not seen.restored:
            self.at = key

    def forget(self, key: str) -> None:
        """State ``key`` is no longer what its checkpoint holds (its bound values were replaced by
        another visit's): its checkpoint and frame are dropped, and the databases' position, if it was
        there, becomes unknown."""
        if self.frames and self.frames[0].key == key:
            return  # the root: no bound values, nothing to replace
        self.checkpoints.pop(key, None)
        self.kept_fp.pop(key, None)
        for i, frame in enumerate(self.frames):
            if i and frame.key == key:
                del self.frames[i:]
                break
        if self.at == key:
            self.at = None
        if self.base == key:
            self.base, self.dirty = None, True

    def mark_changed(self) -> None:
        """The databases were written to and hold no known state (a replay, a branch that broke off)."""
        self.at, self.dirty = None, True

    # ---------------------------------------------------------------- moving between states

    def goto(self, node: StateNode, redo: Redo) -> bool:
        """Put the databases into ``node``'s state; False when its path no longer replays."""
        if not self.rollback:
            return True
        if self.branching:
            if self.at is not None and self.base == node.key and not self.dirty:
                self.at = node.key  # already there: a step that changed nothing came in between
                return True
            cp = self.checkpoints.get(node.key)
            if cp is not None and self.db.can_restore(cp):
                self._restore(_Frame(node.key, cp, node.fingerprint))
                return True
            # No checkpoint for it (another worker reached it first): re-execute its path from the
            # deepest state on it that has one, else from the root.
            del self.frames[1:]
            for key in reversed(node.lineage[1:-1]):
                cp = self.checkpoints.get(key)
                if cp is not None and key in self.kept_fp and self.db.can_restore(cp):
                    self.frames.append(_Frame(key, cp, self.kept_fp[key]))
                    break
            self.mark_changed()
        if self.at == node.key:
            if self.frames[-1].key != node.key:
                self._push_frame(node.key)
            return True
        on_path = {k: i for i, k in enumerate(node.lineage)}
        while len(self.frames) > 1 and self.frames[-1].key not in on_path:
            self.frames.pop()
        frame = self.frames[-1]
        # Not dirty only says nothing changed since the last checkpoint: a branch whose last step
        # changed nothing (a 404) still holds its own deeper content, not this frame's.
        if self.dirty or self.at is None or self.cp != frame.checkpoint:
            try:
                self._restore(frame)
            except CannotRestore:
                del self.frames[1:]
                frame = self.frames[0]
                self._restore(frame)
        self.at = frame.key
        # Re-execute the rest of the path: the states between were reached before, on a branch
        # whose journal is gone.
        for i in range(on_path[frame.key], len(node.lineage) - 1):
            if not redo(node, i):
                self.mark_changed()
                return False
            self.at = node.lineage[i + 1]
            self._push_frame(self.at)
        return True

    def _push_frame(self, key: str) -> None:
        """Make ``key`` (whose content the databases hold now) restorable."""
        if self.frames and not self.dirty:
            top = self.frames[-1]
            self.frames.append(_Frame(key, top.checkpoint, top.fingerprint))  # same content, same token
        else:
            self.frames.append(_Frame(key, self.db.checkpoint(), self.fp))
        self.dirty = False
        self.cp = self.frames[-1].checkpoint

    def _restore(self, frame: _Frame) -> None:
        self.db.restore(frame.checkpoint)
        self.fp, self.cp = frame.fingerprint, frame.checkpoint
        self.dirty = False
        self.at = self.base = frame.key
