"""File-tree rollback (``dir:///path``): a directory put back exactly between branches.

``entries`` reads one path into an ``Entry``; ``blobs`` keeps file contents by hash; ``watch`` turns
inotify events into the set of changed paths; ``tree`` writes entries back; ``store`` is the hidden
sibling directory with the baseline manifest (``db recover``); ``adapter`` ties them together.
"""

from venom_replay.adapters.files.adapter import FileTreeAdapter

__all__ = ["FileTreeAdapter"]
