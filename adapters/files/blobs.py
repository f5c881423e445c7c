"""File contents by hash in the store: each version is written once, however often it comes back."""

from __future__ import annotations

import os


class BlobStore:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self._known: set[str] = set(os.listdir(folder))

    def path(self, digest: str) -> str:
        return os.path.join(self.folder, digest)

    def put(self, digest: str, data: bytes) -> None:
        if digest in self._known:
            return
        partial = self.path(digest) + ".part"
        with open(partial, "wb") as handle:
            handle.write(data)
        os.replace(partial, self.path(digest))  # a killed run never leaves a torn blob under its name
        self._known.add(digest)

    def get(self, digest: str) -> bytes:
        with open(self.path(digest), "rb") as handle:
            return handle.read()
