"""``dir:///path``: a directory tree checkpointed and restored like a database.

The tree's present state is a map of relative path -> ``Entry`` (kind, mode, content hash, link
target, mtime), kept current from inotify events: a step costs what it changed, never a scan. Each
file version is copied once into the store (content-addressed). A checkpoint freezes the changes
since the previous one as a delta (path -> (before, after)) on a tree of checkpoints, so restore()
reaches any checkpoint, on any branch: undo the deltas up to the common ancestor, redo them down.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable

from venom_replay.adapters.base import (
    Adapter,
    AdapterError,
    CannotRestore,
    Checkpoint,
    ContentPart,
    ContentStats,
)
from venom_replay.adapters.files.entries import (
    DIRECTORY,
    FILE,
    MASK64,
    Entry,
    read_entry,
    walk,
)
from venom_replay.adapters.files.store import TreeStore
from venom_replay.adapters.files.tree import apply_changes
from venom_replay.adapters.files.watch import TreeWatch

__all__ = ["FileTreeAdapter", "root_from_url"]

Delta = dict[str, tuple[Entry | None, Entry | None]]


def root_from_url(url: str) -> str:
    if not url.startswith("dir:///"):
        raise AdapterError(f"a directory URL looks like dir:///absolute/path/to/uploads, got {url!r}")
    root = os.path.normpath(url[len("dir://"):])
    if not os.path.isdir(root):
        raise AdapterError(f"directory {root} does not exist")
    return root


def parent_of(rel: str) -> str:
    return rel.rpartition("/")[0]


class FileTreeAdapter(Adapter):
    restores_across_branches = True
    label = "the file-tree adapter"

    def __init__(self, url: str, *, volatile_columns: Iterable[str] = ()) -> None:
        super().__init__(url, volatile_columns=volatile_columns)
        self.root = root_from_url(url)
        self.store = TreeStore(self.root)
        self._watch: TreeWatch | None = None
        self._known: dict[str, Entry] = {}
        self._children: dict[str, set[str]] = {}
        self._fp = 0
        self._pending: Delta = {}
        self._deltas: dict[int, tuple[int | None, Delta]] = {}
        self._depth: dict[int, int] = {0: 0}
        self._current = 0
        self._ids = itertools.count(1)
        #: The tree as install() found it (what explore and `db check` put back at the end).
        self.baseline: Checkpoint | None = None

    # -- the present state -------------------------------------------------------------------------

    def _place(self, rel: str, entry: Entry | None) -> None:
        """Record ``entry`` as what ``rel`` holds now (the fingerprint and the parent index follow)."""
        old = self._known.get(rel)
        if old is not None:
            self._fp = (self._fp - old.identity_hash(rel)) & MASK64
        if entry is None:
            self._known.pop(rel, None)
            self._children.get(parent_of(rel), set()).discard(rel)
            return
        self._known[rel] = entry
        self._fp = (self._fp + entry.identity_hash(rel)) & MASK64
        self._children.setdefault(parent_of(rel), set()).add(rel)

    def _change(self, rel: str, entry: Entry | None) -> None:
        """A change the API made: placed, and kept in the delta of the next checkpoint."""
        before = self._pending[rel][0] if rel in self._pending else self._known.get(rel)
        if before == entry:
            self._pending.pop(rel, None)
        else:
            self._pending[rel] = (before, entry)
        self._place(rel, entry)

    def _forget_below(self, rel: str, change: Callable[[str, Entry | None], None]) -> None:
        for child in list(self._children.pop(rel, ())):
            self._forget_below(child, change)
            change(child, None)

    def _refresh(self, rel: str, change: Callable[[str, Entry | None], None], *, rescan: bool = False) -> None:
        """Read ``rel`` again and record what it holds. A directory that is new, or that an event named
        itself (re-created, moved in, chmod), is watched again and read whole, its subdirectories too:
        a folder deleted and re-created looks the same as before but holds other files."""
        got = read_entry(os.path.join(self.root, rel))
        entry, data = got if got is not None else (None, None)
        old = self._known.get(rel)
        if old is not None and old.kind == DIRECTORY and (entry is None or entry.kind != DIRECTORY):
            self._forget_below(rel, change)
        if entry is not None and entry.kind == FILE and data is not None:
            self.store.blobs.put(entry.digest, data)
        if entry != old:
            change(rel, entry)
        if entry is not None and entry.kind == DIRECTORY and (rescan or old is None or old.kind != DIRECTORY):
            assert self._watch is not None
            self._watch.add(rel)  # before listing: a file created meanwhile is listed or reported
            try:
                names = {f"{rel}/{name}" for name in os.listdir(os.path.join(self.root, rel))}
            except (FileNotFoundError, NotADirectoryError):
                names = set()
            for child in sorted(names | self._children.get(rel, set())):
                self._refresh(child, change, rescan=True)

    def _sync(self) -> None:
        """Bring the map up to date with what the API wrote since the last call."""
        watch = self._require_watch()
        changed, lost = watch.drain()
        if lost:  # events were dropped: compare everything once, and watch every directory again
            changed = set(self._known) | set(walk(self.root))
            for rel, entry in list(self._known.items()):
                if entry.kind == DIRECTORY:
                    watch.add(rel)
            note = f"{self.shown_url}: inotify lost events (a step wrote more than its queue holds); rescanned"
            if note not in self.notes:
                self.notes.append(note)
        for rel in sorted(changed, key=lambda r: r.count("/")):
            self._refresh(rel, self._change, rescan=True)

    def _require_watch(self) -> TreeWatch:
        if self._watch is None:
            raise AdapterError(f"{self.shown_url}: install() first")
        return self._watch

    # -- Adapter -----------------------------------------------------------------------------------

    def install(self) -> None:
        self.recover_or_create(self.store.installed, lambda: None)
        self._watch = TreeWatch(self.root)
        self._watch.add("")
        self._known, self._children, self._fp = {}, {}, 0
        for name in sorted(os.listdir(self.root)):
            self._refresh(name, self._place)
        self.store.save_baseline(self._known)
        self._pending, self._deltas, self._depth, self._current = {}, {0: (None, {})}, {0: 0}, 0
        self.baseline = Checkpoint(self.url, (0,))

    def enable_branch_restore(self) -> bool:
        return True

    def checkpoint(self) -> Checkpoint:
        self._sync()
        cp_id = next(self._ids)
        self._deltas[cp_id] = (self._current, self._pending)
        self._depth[cp_id] = self._depth[self._current] + 1
        self._pending, self._current = {}, cp_id
        return Checkpoint(self.url, (cp_id,))

    def can_restore(self, token: Checkpoint) -> bool:
        return token.adapter == self.url and token.value[0] in self._deltas

    def _paths_to(self, target: int) -> tuple[list[int], list[int]]:
        """The checkpoints from the present up to the common ancestor with ``target`` (newest first),
        and those from that ancestor down to ``target`` (newest first); walked by depth, so the cost
        is the distance between the two, not the length of the run."""
        up, down = [], []
        here, there = self._current, target
        while here != there:
            if self._depth[here] >= self._depth[there]:
                up.append(here)
                here = self._deltas[here][0]  # type: ignore[assignment]
            else:
                down.append(there)
                there = self._deltas[there][0]  # type: ignore[assignment]
        return up, down

    def restore(self, token: Checkpoint) -> None:
        if not self.can_restore(token):
            raise CannotRestore(f"unknown checkpoint for {self.shown_url}")
        self._sync()
        target = token.value[0]
        wanted: dict[str, Entry | None] = {rel: before for rel, (before, _) in self._pending.items()}
        up, down = self._paths_to(target)
        for cp in up:  # newest first: the oldest "before" wins
            wanted.update({rel: before for rel, (before, _) in self._deltas[cp][1].items()})
        for cp in reversed(down):  # oldest first: the newest "after" wins
            wanted.update({rel: after for rel, (_, after) in self._deltas[cp][1].items()})
        watch = self._require_watch()
        apply_changes(self.root, wanted, self._known, self.store.blobs.get, watch.add)
        for rel in sorted(wanted, key=lambda r: r.count("/"), reverse=True):
            if wanted[rel] is None or wanted[rel].kind != DIRECTORY:  # type: ignore[union-attr]
                self._forget_below(rel, self._place)
            self._place(rel, wanted[rel])
        watch.drain()  # the events of our own writes
        self._pending, self._current = {}, target

    def fingerprint(self) -> str:
        self._sync()
        return f"{self._fp:016x}"

    # -- a killed run ------------------------------------------------------------------------------

    def _differences(self) -> tuple[dict[str, Entry | None], dict[str, Entry | None]]:
        """What the tree must become to equal the stored baseline, and what it holds now (a full scan)."""
        baseline = self.store.load_baseline()
        present: dict[str, Entry | None] = {}
        for rel in walk(self.root):
            got = read_entry(os.path.join(self.root, rel))
            present[rel] = got[0] if got is not None else None
        wanted: dict[str, Entry | None] = {rel: None for rel in present if rel not in baseline}
        wanted.update({rel: entry for rel, entry in baseline.items() if present.get(rel) != entry})
        return wanted, present

    def pending_changes(self) -> int:
        return len(self._differences()[0]) if self.store.installed else 0

    def recover(self) -> int:
        if not self.store.installed:
            return 0
        wanted, present = self._differences()
        apply_changes(self.root, wanted, present, self.store.blobs.get, lambda _rel: None)
        return len(wanted)

    def uninstall(self) -> None:
        self.close()
        self.store.remove()
        self.baseline = None

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    # -- a recording's start state -----------------------------------------------------------------

    def export_content(self, write: Callable[[ContentPart], None]) -> ContentStats:
        count = 0
        for rel in walk(self.root):
            got = read_entry(os.path.join(self.root, rel))
            if got is None:
                continue
            entry, data = got
            write({"path": rel, "entry": entry.as_list(), "data": data or b""})
            count += 1
        return ContentStats(rows=count, unit="files")

    def import_content(self, parts: Iterable[ContentPart]) -> ContentStats:
        self._sync()
        wanted: dict[str, Entry | None] = {}
        for part in parts:
            entry = Entry.from_list(list(part["entry"]))
            if entry.kind == FILE:
                self.store.blobs.put(entry.digest, part["data"])
            wanted[part["path"]] = entry
        removed = [rel for rel in self._known if rel not in wanted]
        added = [rel for rel, entry in wanted.items() if self._known.get(rel) != entry]
        wanted.update({rel: None for rel in removed})
        apply_changes(self.root, wanted, self._known, self.store.blobs.get, self._require_watch().add)
        self._sync()  # our writes become the pending delta: a restore of an earlier checkpoint undoes them
        return self.imported(ContentStats(removed=len(removed), added=len(added), unit="files"))
