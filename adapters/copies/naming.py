"""How a copy is named: ``<source>__vr_<run id>_<replica>``, so that copies are recognised by name
(a copy of a copy is refused, and only names of this form are ever dropped)."""

from __future__ import annotations

import re

from venom_replay.adapters.base import AdapterError

COPY_MARK = "__vr_"
RUN_ID = re.compile(r"[a-z0-9]{1,16}")
COPY_NAME = re.compile(r"__vr_[a-z0-9]{1,16}_\d+$")


def check_request(run_id: str, replica: int) -> None:
    """One line for a run id or replica number that cannot be part of a database name."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise AdapterError(f"run id {run_id!r} for database copies must be 1 to 16 characters of a-z and 0-9")
    if isinstance(replica, bool) or not isinstance(replica, int) or replica < 0:
        raise AdapterError(f"replica number {replica!r} for database copies must be an integer >= 0")


def copy_name(source: str, run_id: str, replica: int) -> str:
    return f"{source}{COPY_MARK}{run_id}_{replica}"


def refuse_copy_of_copy(name: str, shown: str) -> None:
    # A copy's copy would be named like neither, and `db recover` of the original would not find it.
    if COPY_MARK in name:
        raise AdapterError(f"{shown} is already a copy made by venom-replay (its name holds {COPY_MARK!r});"
                           " copy the original database instead")


def is_copy_name(name: str) -> bool:
    return COPY_NAME.search(name) is not None


def refuse_drop_of_original(name: str, shown: str) -> None:
    """drop_copy() removes databases: never one whose name says it is not a copy."""
    if not is_copy_name(name):
        raise AdapterError(f"refusing to drop {shown}: it is not a copy made by venom-replay"
                           f" (a copy's name ends in {COPY_MARK}<run id>_<replica>)")
