"""Which paths changed since the last drain, from inotify: no scan of the tree per step.

The kernel queues an event while the writing call runs, so once the API has answered, its writes are
in the queue. A queue overflow (or a watch limit hit) is reported, and the adapter rescans instead.
"""

from __future__ import annotations

import errno
import os

from venom_replay.adapters.base import AdapterError

try:
    from inotify_simple import INotify, flags
except ImportError as missing:  # pragma: no cover - depends on the installation
    raise AdapterError("dir:/// needs inotify_simple: pip install 'venom-replay[files]'") from missing

MASK = (flags.CREATE | flags.DELETE | flags.MODIFY | flags.ATTRIB | flags.MOVED_FROM | flags.MOVED_TO
        | flags.CLOSE_WRITE | flags.DELETE_SELF | flags.MOVE_SELF | flags.DONT_FOLLOW | flags.ONLYDIR
        | flags.EXCL_UNLINK)


class TreeWatch:
    def __init__(self, root: str) -> None:
        self.root = root
        self._inotify = INotify(nonblocking=True)
        self._dirs: dict[int, str] = {}  # watch descriptor -> relative directory ("" is the root)

    def add(self, rel: str) -> None:
        """Watch one directory (not its children: the adapter adds those as it meets them)."""
        try:
            wd = self._inotify.add_watch(os.path.join(self.root, rel) if rel else self.root, MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise AdapterError("the inotify watch limit is reached: raise fs.inotify.max_user_watches"
                                   " (sysctl) for a tree this large") from exc
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return  # removed before we got to it: its parent's event says so
            raise
        self._dirs[wd] = rel

    def drain(self) -> tuple[set[str], bool]:
        """The relative paths that changed since the last call, and whether events were lost."""
        changed: set[str] = set()
        lost = False
        for event in self._inotify.read(timeout=0):
            if event.mask & flags.Q_OVERFLOW:
                lost = True
                continue
            folder = self._dirs.get(event.wd)
            if event.mask & flags.IGNORED:
                self._dirs.pop(event.wd, None)
                continue
            if folder is None:
                continue
            if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF):
                if folder == "":
                    lost = True  # the root itself went away or moved: only a rescan can tell
                changed.add(folder)
                continue
            if not event.name:  # about the watched folder itself (its mode): the root is not tracked
                if folder:
                    changed.add(folder)
                continue
            changed.add(f"{folder}/{event.name}" if folder else event.name)
        return changed, lost

    def close(self) -> None:
        self._inotify.close()
