"""One path of the tree as an ``Entry``: what restore() must put back and fingerprint() must hash."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Any

FILE, DIRECTORY, SYMLINK = "f", "d", "l"
MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    mode: int
    """Permission bits (setuid/setgid/sticky included)."""
    digest: str = ""
    """Content hash of a file (the blob's name)."""
    target: str = ""
    """Where a symlink points, as written (never followed)."""
    mtime_ns: int = 0
    """Put back on files and links so that tools that compare times see no change; not fingerprinted."""

    def identity_hash(self, rel: str) -> int:
        """This entry's share of the tree fingerprint (order-independent sum), times left out."""
        text = f"{rel}\0{self.kind}\0{self.mode:o}\0{self.digest}\0{self.target}"
        return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")

    def as_list(self) -> list[Any]:
        return [self.kind, self.mode, self.digest, self.target, self.mtime_ns]

    @classmethod
    def from_list(cls, values: list[Any]) -> Entry:
        return cls(*values)


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def read_entry(path: str) -> tuple[Entry, bytes | None] | None:
    """The entry at ``path`` and, for a file, its bytes; None when nothing (or a socket, fifo, device,
    which an API does not store uploads in) is there."""
    try:
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            return Entry(DIRECTORY, mode), None
        if stat.S_ISLNK(st.st_mode):
            return Entry(SYMLINK, mode, target=os.readlink(path), mtime_ns=st.st_mtime_ns), None
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as handle:
                data = handle.read()
            return Entry(FILE, mode, digest=content_digest(data), mtime_ns=st.st_mtime_ns), data
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None


def walk(root: str) -> list[str]:
    """Every path under ``root`` (relative, '/'-separated), parents before children; links not followed."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel_folder = os.path.relpath(folder, root)
        prefix = "" if rel_folder == "." else rel_folder + "/"
        found.extend(prefix + name for name in sorted(dirs) + sorted(files))
    return found
