"""Position on its own: where the databases are among explored states, against a real SQLite file.

Every write comes from another sqlite3 connection, as the API under test makes it from its own
process; every expectation is read back through a third connection, so a restore that did not
happen (or happened to the wrong state) shows up as wrong rows. The trigger journal cannot redo
what it undid, so reaching a sibling branch re-executes the path through the ``redo`` callback; a
backup-API adapter told to restore across branches stands in for the PostgreSQL branching journal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from venom_replay.adapters.registry import open_adapter
from venom_replay.adapters.sqlite import SQLiteBackupAdapter
from venom_replay.replay.explorer.position import Position
from venom_replay.replay.explorer.state import StateNode

BASELINE = [(1, "seed")]


class Api:
    """The API's own connection: autocommit writes the adapter knows nothing about."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def add(self, name: str) -> None:
        self.conn.execute("INSERT INTO items (name) VALUES (?)", (name,))

    def run(self, sql: str) -> None:
        self.conn.execute(sql)


def content(path: Path) -> tuple[list[tuple[int, str]], list[tuple[str, int]]]:
    """The rows and the AUTOINCREMENT counter, read through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id, name FROM items ORDER BY id").fetchall()
        seq = conn.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name").fetchall()
        return rows, seq
    finally:
        conn.close()


def names(path: Path) -> list[str]:
    return [name for _, name in content(path)[0]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", BASELINE)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def api(db_path: Path) -> Iterator[Api]:
    api = Api(db_path)
    yield api
    api.conn.close()


@pytest.fixture
def position(db_path: Path) -> Iterator[Position]:
    """A position over the trigger-journal adapter, installed, the baseline as root ``R``."""
    adapter = open_adapter(f"sqlite:///{db_path}")
    pos = Position(adapter)
    pos.install()
    pos.root("R")
    yield pos
    pos.uninstall()
    adapter.close()


ROOT = StateNode(key="R", depth=0, fingerprint="", values={}, path=(), lineage=("R",))


def step(pos: Position, parent: StateNode, key: str, write: object = None, **observe: object) -> StateNode:
    """One explored step from ``parent`` (the databases are there): the API's write, then observe."""
    if callable(write):
        write()
    seen = pos.observe(**observe)
    pos.arrive(key, seen)
    return StateNode(key=key, depth=parent.depth + 1, fingerprint=seen.fingerprint, values={}, path=(),
                     lineage=parent.lineage + (key,))


def no_redo(node: StateNode, i: int) -> bool:
    raise AssertionError(f"re-executed {node.key} step {i}: a restore should have been enough")


def test_goto_an_ancestor_restores_its_content(position: Position, api: Api, db_path: Path) -> None:
    assert position.goto(ROOT, no_redo)
    a = step(position, ROOT, "A", lambda: api.add("a"))
    assert position.goto(a, no_redo)  # already there: it becomes restorable
    b = step(position, a, "B", lambda: api.add("b"))
    assert position.goto(b, no_redo)
    step(position, b, "C", lambda: api.run("DELETE FROM items WHERE name = 'seed'"))
    assert names(db_path) == ["a", "b"]

    assert position.goto(a, no_redo)
    assert names(db_path) == ["seed", "a"] and position.at == "A"
    assert position.goto(ROOT, no_redo)
    assert content(db_path) == (BASELINE, [("items", 1)])


def test_goto_a_sibling_branch_reexecutes_its_path(position: Position, api: Api, db_path: Path) -> None:
    a = step(position, ROOT, "A", lambda: api.add("a"))
    assert position.goto(a, no_redo)
    b = step(position, a, "B", lambda: api.add("b"))
    assert position.goto(a, no_redo)
    step(position, a, "C", lambda: api.add("c"))
    assert names(db_path) == ["seed", "a", "c"]

    writes = {"A": "a", "B": "b"}
    redone: list[tuple[str, int]] = []

    def redo(node: StateNode, i: int) -> bool:
        redone.append((node.key, i))
        api.add(writes[node.lineage[i + 1]])
        position.observe()
        return True

    # B's journal was undone when the search went back to A: only the step A -> B runs again.
    assert position.goto(b, redo)
    assert redone == [("B", 1)]
    assert names(db_path) == ["seed", "a", "b"] and position.at == "B"
    # And B is restorable now: from a child of B, going back is one restore.
    step(position, b, "D", lambda: api.add("d"))
    assert position.goto(b, no_redo)
    assert names(db_path) == ["seed", "a", "b"]


def test_a_path_that_no_longer_replays(position: Position, api: Api, db_path: Path) -> None:
    b = StateNode(key="B", depth=2, fingerprint="", values={}, path=(), lineage=("R", "A", "B"))

    def redo_breaks_off(node: StateNode, i: int) -> bool:
        api.add("half of a prefix")  # a recorded prefix whose second step no longer answers
        position.observe()
        return False

    assert not position.goto(b, redo_breaks_off)
    assert position.at is None and position.dirty
    assert position.goto(ROOT, no_redo)
    assert names(db_path) == ["seed"]


def test_a_step_that_changed_nothing(position: Position, api: Api, db_path: Path) -> None:
    restores: list[object] = []
    real_restore = position.db.restore
    position.db.restore = lambda token: (restores.append(token), real_restore(token))[1]  # type: ignore[method-assign]

    # A read (a 404, a GET) from the root: same content, another state (other bound values).
    read = step(position, ROOT, "R2")
    assert read.fingerprint == position.baseline_fp and not position.dirty
    assert position.goto(ROOT, no_redo)
    assert restores == []  # the content is the root's: no round trip
    assert names(db_path) == ["seed"]

    # A read below a write: not dirty, but the content is A's, not the root's.
    a = step(position, ROOT, "A", lambda: api.add("a"))
    assert position.goto(a, no_redo)
    step(position, a, "A2")
    assert not position.dirty
    assert position.goto(ROOT, no_redo)
    assert len(restores) == 1 and names(db_path) == ["seed"]


def test_mark_changed_makes_the_next_goto_restore(position: Position, api: Api, db_path: Path) -> None:
    # A replay wrote behind the position's back (reproduction, minimisation): it says so.
    api.add("replayed")
    position.mark_changed()
    assert position.goto(ROOT, no_redo)
    assert names(db_path) == ["seed"]


def test_finish_restores_the_baseline_exactly(position: Position, api: Api, db_path: Path) -> None:
    before = content(db_path)
    a = step(position, ROOT, "A", lambda: [api.add(f"n{i}") for i in range(5)])
    assert position.goto(a, no_redo)
    step(position, a, "B", lambda: (api.run("UPDATE items SET name = 'changed'"), api.run("DELETE FROM items WHERE id > 3")))
    api.add("after the last observation")
    assert content(db_path) != before

    assert position.finish() is True
    assert content(db_path) == before  # rows and the AUTOINCREMENT counter


def test_finish_without_a_database() -> None:
    pos = Position(None)
    assert pos.install() == ""
    pos.root("R")
    assert pos.goto(ROOT, no_redo) and pos.observe().fingerprint == ""
    assert pos.finish() is None


class BranchingBackup(SQLiteBackupAdapter):
    """Backup-API snapshots restore any checkpoint: the branching mode without PostgreSQL."""

    def enable_branch_restore(self) -> bool:
        return True


def test_branching_goto_a_sibling_is_one_restore(db_path: Path, api: Api) -> None:
    adapter = BranchingBackup(f"sqlite:///{db_path}")
    pos = Position(adapter)
    pos.install()
    pos.root("R")
    try:
        assert pos.branching
        api.add("a")
        seen = pos.observe(checkpoint=True)  # A will be expanded: its checkpoint comes with the fingerprint
        pos.keep("A", seen.checkpoint, here=True)
        pos.arrive("A", seen)
        a = StateNode(key="A", depth=1, fingerprint=seen.fingerprint, values={}, path=(), lineage=("R", "A"))
        api.add("b")
        seen = pos.observe(checkpoint=True)
        pos.keep("B", seen.checkpoint, here=True)
        pos.arrive("B", seen)
        b = StateNode(key="B", depth=2, fingerprint=seen.fingerprint, values={}, path=(), lineage=("R", "A", "B"))
        assert pos.goto(b, no_redo) and names(db_path) == ["seed", "a", "b"]
        step(pos, b, "D", lambda: api.add("d"))  # no checkpoint: B's is still the last one taken
        assert pos.goto(b, no_redo) and names(db_path) == ["seed", "a", "b"]

        # The step's snapshot and the restore to where the next step starts ride together.
        api.add("c")
        seen = pos.observe(then=a)
        pos.arrive("C", seen)
        assert seen.restored and pos.at == "A" and names(db_path) == ["seed", "a"]

        assert pos.goto(ROOT, no_redo)
        assert pos.goto(b, no_redo)  # a state on a branch that was undone: no re-execution
        assert names(db_path) == ["seed", "a", "b"]
        assert pos.finish() is True and content(db_path) == (BASELINE, [("items", 1)])
    finally:
        pos.uninstall()
        adapter.close()
