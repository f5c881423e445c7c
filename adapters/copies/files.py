"""File-tree copies (``dir://``): the folder copied next to itself as ``<name>__vr_<run>_<replica>``,
symbolic links kept as links. The file-tree adapter keeps its own data beside a tree, never inside it,
so nothing of ours is copied along."""

from __future__ import annotations

import os
import shutil

from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.copies.locations import Location, sibling_path


def make_copy(source: Location, name: str) -> str:
    path = os.path.abspath(source.file_path)
    target = sibling_path(path, name)
    if not os.path.isdir(path):
        raise AdapterError(f"cannot copy {source.shown}: the directory does not exist")
    if os.path.lexists(target):
        raise AdapterError(f"cannot copy {source.shown}: its copy {target} already exists (drop it first)")
    try:
        shutil.copytree(path, target, symlinks=True)
    except (OSError, shutil.Error) as exc:
        shutil.rmtree(target, ignore_errors=True)
        first = exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args[0] else exc  # one of many
        raise AdapterError(f"cannot copy {source.shown}: {first}") from exc
    return source.with_database(target)


def drop(copy: Location) -> None:
    shutil.rmtree(os.path.abspath(copy.file_path), ignore_errors=True)


def exists(copy: Location) -> bool:
    return os.path.isdir(copy.file_path)
