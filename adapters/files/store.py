"""Where the copies live: a hidden sibling of the tree, ``.<name>.venom-replay``, never inside it
(the API would see it). Its ``baseline.json`` is the manifest of the tree at install(): a killed run
is put back from it by ``db recover`` or the next install()."""

from __future__ import annotations

import json
import os
import shutil

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.files.blobs import BlobStore
from venom_replay.adapters.files.entries import Entry

MANIFEST = "baseline.json"


class TreeStore:
    def __init__(self, root: str) -> None:
        parent, name = os.path.split(root.rstrip("/"))
        self.folder = os.path.join(parent, f".{name}.venom-replay")
        self._blobs: BlobStore | None = None

    @property
    def installed(self) -> bool:
        return os.path.exists(os.path.join(self.folder, MANIFEST))

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            self.create()
            self._blobs = BlobStore(os.path.join(self.folder, "blobs"))
        return self._blobs

    def create(self) -> None:
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise AdapterError(f"cannot create {self.folder} beside the tree for its copies"
                               f" ({exc.strerror}): its parent folder must be writable") from exc

    def save_baseline(self, entries: dict[str, Entry]) -> None:
        self.create()
        partial = os.path.join(self.folder, MANIFEST + ".part")
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump({rel: entry.as_list() for rel, entry in entries.items()}, handle)
        os.replace(partial, os.path.join(self.folder, MANIFEST))

    def load_baseline(self) -> dict[str, Entry]:
        with open(os.path.join(self.folder, MANIFEST), encoding="utf-8") as handle:
            return {rel: Entry.from_list(values) for rel, values in json.load(handle).items()}

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._blobs = None
