"""Checkpoint and restore for the systems behind an API (PostgreSQL, MySQL/MariaDB, SQLite, Redis).

The public face: ``open_adapter(url, **options)`` picks the adapter for a database URL (see
registry.py), ``AdapterGroup`` puts several behind one interface, and every adapter implements
``Adapter`` (base.py). Problems with the user's database raise ``AdapterError`` (a ``VenomError``);
``CannotRestore`` says a checkpoint is out of reach, so the explorer re-executes the path instead.
"""

from venom_replay.adapters.base import Adapter, AdapterError, CannotRestore, Checkpoint
from venom_replay.adapters.group import AdapterGroup
from venom_replay.adapters.registry import MODES, open_adapter, split_options

__all__ = ["MODES", "Adapter", "AdapterError", "AdapterGroup", "CannotRestore", "Checkpoint", "open_adapter",
           "split_options"]
