"""Adapter errors are VenomErrors (the CLI's one error root), and no message shows a password."""

from __future__ import annotations

import sqlite3

import pytest
from venom_replay.adapters import Adapter, AdapterError, CannotRestore, Checkpoint, open_adapter
from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.redact import mask_url_password


def test_adapter_errors_are_venom_errors():
    assert issubclass(AdapterError, VenomError) and issubclass(CannotRestore, AdapterError)
    with pytest.raises(VenomError, match=r"unsupported database URL 'ftp://me:\*\*\*@host/db'"):
        open_adapter("ftp://me:s3cret@host/db")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://app:s3cret@db:5432/shop", "postgresql://app:***@db:5432/shop"),
    ("mysql://root:p%40ss@127.0.0.1:3306/x?mode=y", "mysql://root:***@127.0.0.1:3306/x?mode=y"),
    ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
    ("postgresql://u:p@ss@h/db?next=a@b", "postgresql://u:***@h/db?next=a@b"),  # the last '@' before the path
    ("group:postgresql://u:p@h/db,redis://:pw@h:6379", "group:postgresql://u:***@h/db,redis://:***@h:6379"),
    ("postgresql://app@db/shop", "postgresql://app@db/shop"),
    ("sqlite:///var/app.db", "sqlite:///var/app.db"),
    ("http://host:8080/a@b", "http://host:8080/a@b"),
])
def test_mask_url_password(url, shown):
    assert mask_url_password(url) == shown


class _Memory(Adapter):
    """The smallest adapter: one snapshot, id 1."""

    def install(self) -> None: ...
    def checkpoint(self) -> Checkpoint: return Checkpoint(self.url, (1,))
    def restore(self, token: Checkpoint) -> None: self.kept_for(token, {1: "snapshot"})
    def fingerprint(self) -> str: return ""
    def uninstall(self) -> None: ...
    def close(self) -> None: ...


def test_a_checkpoint_out_of_reach_is_cannot_restore_and_the_message_hides_the_password():
    adapter = _Memory("postgresql://app:s3cret@db/shop")
    adapter.restore(adapter.checkpoint())
    for token in (Checkpoint(adapter.url, (2,)), Checkpoint("postgresql://other@db/shop", (1,))):
        with pytest.raises(CannotRestore, match=r"unknown checkpoint for postgresql://app:\*\*\*@db/shop") as err:
            adapter.restore(token)
        assert "s3cret" not in str(err.value)


def test_a_released_sqlite_snapshot_is_cannot_restore(tmp_path):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a)")
    conn.close()
    with open_adapter(f"sqlite:///{db}?mode=backup") as adapter:
        adapter.install()
        token = adapter.checkpoint()
        adapter.release(token)
        with pytest.raises(CannotRestore, match="unknown checkpoint"):  # the explorer re-executes the path
            adapter.restore(token)
        adapter.uninstall()
