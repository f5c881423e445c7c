"""Regressions for the explorer's moves between states: after a restore the databases must hold
the target state's content and the fingerprint must see every later write."""

from __future__ import annotations

import sqlite3

from venom_replay.adapters.registry import open_adapter


def test_sqlite_fingerprint_sees_a_write_made_after_a_restore(tmp_path):
    """A restore frees the journal's ids and the next writes reuse them: a write to another table
    than the undone ones must still change the fingerprint (it used not to, so the explorer took a
    fresh login for a step that changed nothing and restored a state without its token)."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as api:
        api.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)")
        api.execute("CREATE TABLE tokens (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL)")
    adapter = open_adapter(f"sqlite:///{path}")
    adapter.install()
    try:
        base_fp, base = adapter.fingerprint(), adapter.checkpoint()
        with sqlite3.connect(path) as api:  # the API's own connection
            api.executemany("INSERT INTO orders (item) VALUES (?)", [("pen",), ("ink",), ("pad",)])
        assert adapter.fingerprint() != base_fp
        adapter.restore(base)  # no fingerprint after it: the explorer knows the restored one
        with sqlite3.connect(path) as api:
            api.execute("INSERT INTO tokens VALUES ('fresh-login', 1)")
        assert adapter.fingerprint() != base_fp, "a login after a restore went unseen"
        adapter.restore(base)
        assert adapter.fingerprint() == base_fp
    finally:
        adapter.uninstall()
        adapter.close()
