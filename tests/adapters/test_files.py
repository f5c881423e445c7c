"""The file-tree adapter (dir:///): a directory written by another process, put back exactly."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venom_replay.adapters.base import AdapterError, CannotRestore, Checkpoint
from venom_replay.adapters.registry import database_identity, open_adapter

PYTHONPATH = os.environ.get("PYTHONPATH", "")


def tree_hash(root: str) -> str:
    """Every path with its kind, permission bits, bytes or link target, and file/link mtimes."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(folder, name)
            st_ = os.lstat(path)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                digest.update(f"L {rel} -> {os.readlink(path)} {st_.st_mtime_ns}\n".encode())
            elif os.path.isdir(path):
                digest.update(f"D {rel} {st_.st_mode:o}\n".encode())
            else:
                with open(path, "rb") as handle:
                    content = hashlib.sha256(handle.read()).hexdigest()
                digest.update(f"F {rel} {st_.st_mode:o} {content} {st_.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def write_from_another_process(root: str, script: str) -> None:
    """Run ``script`` (with ``root`` bound) in a child process, the way an API writes its uploads."""
    code = "import os, shutil\nroot = " + repr(root) + "\n" + textwrap.dedent(script)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


SEED = """
os.makedirs(os.path.join(root, "avatars", "2024"))
os.makedirs(os.path.join(root, "empty"))
open(os.path.join(root, "avatars", "2024", "a.png"), "wb").write(bytes(range(256)) * 4)
open(os.path.join(root, "notes.txt"), "w").write("first\\n")
open(os.path.join(root, "run.sh"), "w").write("#!/bin/sh\\n")
os.chmod(os.path.join(root, "run.sh"), 0o755)
open(os.path.join(root, "frozen.txt"), "w").write("read only\\n")
os.chmod(os.path.join(root, "frozen.txt"), 0o444)
os.symlink("avatars/2024/a.png", os.path.join(root, "latest"))
os.symlink("nowhere", os.path.join(root, "dangling"))
"""

EVERY_KIND_OF_CHANGE = """
open(os.path.join(root, "notes.txt"), "a").write("appended\\n")
os.chmod(os.path.join(root, "frozen.txt"), 0o644)
open(os.path.join(root, "frozen.txt"), "w").write("rewritten\\n")
os.chmod(os.path.join(root, "run.sh"), 0o600)
os.unlink(os.path.join(root, "latest"))
os.symlink("notes.txt", os.path.join(root, "latest"))
shutil.rmtree(os.path.join(root, "avatars"))
os.rmdir(os.path.join(root, "empty"))
open(os.path.join(root, "empty"), "w").write("a file where a folder was")
os.makedirs(os.path.join(root, "new", "deep", "deeper"))
open(os.path.join(root, "new", "deep", "deeper", "x.bin"), "wb").write(os.urandom(5000))
os.rename(os.path.join(root, "notes.txt"), os.path.join(root, "new", "moved.txt"))
os.makedirs(os.path.join(root, "new", "empty-too"))
"""


@pytest.fixture
def uploads():
    base = tempfile.mkdtemp(prefix="venom-files-")
    root = os.path.join(base, "uploads")
    os.mkdir(root)
    yield root
    for folder, dirs, _files in os.walk(base):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    shutil.rmtree(base)


@pytest.fixture
def adapter(uploads):
    write_from_another_process(uploads, SEED)
    opened = open_adapter(f"dir://{uploads}")
    opened.install()
    yield opened
    opened.uninstall()


def test_restore_undoes_every_kind_of_change_made_by_another_process(uploads, adapter):
    before, fp_before = tree_hash(uploads), adapter.fingerprint()
    token = adapter.checkpoint()
    write_from_another_process(uploads, EVERY_KIND_OF_CHANGE)
    assert tree_hash(uploads) != before
    assert adapter.fingerprint() != fp_before

    adapter.restore(token)

    assert tree_hash(uploads) == before
    assert adapter.fingerprint() == fp_before
    assert os.readlink(os.path.join(uploads, "latest")) == "avatars/2024/a.png"
    assert os.path.isdir(os.path.join(uploads, "empty")) and not os.listdir(os.path.join(uploads, "empty"))


def test_restore_reaches_checkpoints_on_other_branches(uploads, adapter):
    start = adapter.checkpoint()
    write_from_another_process(uploads, "open(os.path.join(root, 'a.txt'), 'w').write('branch A')")
    branch_a, tree_a = adapter.checkpoint(), tree_hash(uploads)
    adapter.restore(start)
    write_from_another_process(uploads, EVERY_KIND_OF_CHANGE)
    branch_b, tree_b = adapter.checkpoint(), tree_hash(uploads)

    adapter.restore(branch_a)
    assert tree_hash(uploads) == tree_a
    assert not os.path.exists(os.path.join(uploads, "new"))  # branch B's files are not seen on A
    adapter.restore(branch_b)
    assert tree_hash(uploads) == tree_b
    assert not os.path.exists(os.path.join(uploads, "a.txt"))  # nor A's on B


def test_fingerprint_is_state_identity(uploads, adapter):
    start_fp = adapter.fingerprint()
    start = adapter.checkpoint()
    write_from_another_process(uploads, "open(os.path.join(root, 'same.txt'), 'w').write('same')")
    first = adapter.fingerprint()
    adapter.restore(start)
    write_from_another_process(uploads, "open(os.path.join(root, 'same.txt'), 'w').write('same')")
    assert adapter.fingerprint() == first  # the same content reached twice is the same state
    write_from_another_process(uploads, "os.utime(os.path.join(root, 'same.txt'), (1, 1))")
    assert adapter.fingerprint() == first  # a time alone is not a change of state
    write_from_another_process(uploads, "os.chmod(os.path.join(root, 'same.txt'), 0o600)")
    assert adapter.fingerprint() not in (first, start_fp)  # a mode is


def test_a_step_that_overflows_the_event_queue_is_rescanned_and_restored(uploads, adapter):
    with open("/proc/sys/fs/inotify/max_queued_events") as handle:
        queue = int(handle.read())
    before, token = tree_hash(uploads), adapter.checkpoint()
    # Each new file in a watched folder is at least two events (create, close): more files than half
    # the queue overflows it. (A new folder's files are found by listing it, without events.)
    write_from_another_process(uploads, f"""
for n in range({queue // 2 + 500}):
    open(os.path.join(root, "avatars", "2024", str(n)), "w").write(str(n))
open(os.path.join(root, "notes.txt"), "w").write("changed in the same step")
""")
    during = tree_hash(uploads)
    bulk = adapter.checkpoint()
    assert any("lost events" in note for note in adapter.notes)  # the queue did overflow
    adapter.restore(token)
    assert tree_hash(uploads) == before
    adapter.restore(bulk)
    assert tree_hash(uploads) == during


def test_an_empty_tree_gets_its_first_files_and_loses_them_again(uploads):
    adapter = open_adapter(f"dir://{uploads}")
    adapter.install()
    try:
        empty = adapter.checkpoint()
        write_from_another_process(uploads, "os.makedirs(os.path.join(root, 'a', 'b'))")
        adapter.restore(empty)
        assert os.listdir(uploads) == []
    finally:
        adapter.uninstall()


def test_an_unknown_checkpoint_cannot_be_restored(adapter):
    with pytest.raises(CannotRestore):
        adapter.restore(Checkpoint(adapter.url, (999,)))


def test_urls(uploads):
    with pytest.raises(AdapterError, match="does not exist"):
        open_adapter(f"dir://{uploads}/missing")
    with pytest.raises(AdapterError, match="dir:///absolute"):
        open_adapter("dir://relative/path")
    identity = database_identity(f"dir://{uploads}/")
    assert (identity.kind, identity.name, identity.address) == ("dir", "uploads", uploads)


KILLED_RUN = """
import os, sys
from venom_replay.adapters.registry import open_adapter
root = sys.argv[1]
adapter = open_adapter("dir://" + root)
adapter.install()
adapter.checkpoint()
open(os.path.join(root, "notes.txt"), "w").write("changed by a run that was killed")
os.unlink(os.path.join(root, "run.sh"))
os.makedirs(os.path.join(root, "orphan"))
open(os.path.join(root, "orphan", "artifact.bin"), "wb").write(b"x" * 100)
adapter.checkpoint()
open(os.path.join(root, "after.txt"), "w").write("after the last checkpoint")
os.kill(os.getpid(), 9)
"""


def kill_a_run(root: str) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_RUN, root], check=False, timeout=60)
    assert done.returncode == -signal.SIGKILL


def venom_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], check=False,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", ["recover", "uninstall"])
def test_a_killed_run_is_put_back_by_the_db_command(uploads, command):
    write_from_another_process(uploads, SEED)
    before = tree_hash(uploads)
    kill_a_run(uploads)
    store = os.path.join(os.path.dirname(uploads), ".uploads.venom-replay")
    assert tree_hash(uploads) != before and os.path.isdir(store)

    done = venom_cli("db", command, "--db", f"dir://{uploads}")

    assert done.returncode == 0, done.stderr
    assert "5 change(s) undone" in done.stdout  # notes.txt, run.sh, orphan/, orphan/artifact.bin, after.txt
    assert tree_hash(uploads) == before
    assert not os.path.exists(store)


def test_the_next_install_puts_back_a_killed_run(uploads):
    write_from_another_process(uploads, SEED)
    before = tree_hash(uploads)
    kill_a_run(uploads)
    adapter = open_adapter(f"dir://{uploads}")
    adapter.install()
    try:
        assert tree_hash(uploads) == before
        assert any("killed run (5 changes undone)" in note for note in adapter.notes)
    finally:
        adapter.uninstall()


def test_db_check_writes_from_a_child_process_and_leaves_the_tree_as_it_was(uploads):
    write_from_another_process(uploads, SEED)
    before = tree_hash(uploads)
    done = venom_cli("db", "check", "--db", f"dir://{uploads}", "--rounds", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restore exact in 3 rounds" in done.stdout
    assert tree_hash(uploads) == before
    assert not os.path.exists(os.path.join(os.path.dirname(uploads), ".uploads.venom-replay"))


def test_start_state_export_and_journalled_import(uploads, tmp_path):
    write_from_another_process(uploads, SEED)
    recorded_tree = tree_hash(uploads)
    parts: list[dict] = []
    stats = open_adapter(f"dir://{uploads}").export_content(parts.append)
    assert stats.exported() == "9 files"  # 3 folders, 4 files, 2 links

    other = tmp_path / "elsewhere"
    other.mkdir()
    write_from_another_process(str(other), "open(os.path.join(root, 'local.txt'), 'w').write('mine')")
    users_tree = tree_hash(str(other))
    adapter = open_adapter(f"dir://{other}")
    adapter.install()
    try:
        users = adapter.checkpoint()
        imported = adapter.import_content(parts)
        assert (imported.removed, imported.added) == (1, 9)
        assert tree_hash(str(other)) == recorded_tree
        adapter.restore(users)  # the import is undone like any other change
        assert tree_hash(str(other)) == users_tree
    finally:
        adapter.uninstall()


# -- property: random operations, random restores --------------------------------------------------

NAMES = ["a", "b", "c/d", "c/e", "f/g/h", "x/d", "x/g/h"]
operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.binary(max_size=40)),
    st.tuples(st.just("append"), st.sampled_from(NAMES), st.binary(min_size=1, max_size=10)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES + ["c", "f"]), st.just(b"")),
    st.tuples(st.just("chmod"), st.sampled_from(NAMES), st.sampled_from([0o600, 0o644, 0o755, 0o400])),
    st.tuples(st.just("link"), st.sampled_from(NAMES), st.sampled_from(["a", "../x", "c/d"])),
    st.tuples(st.just("mkdir"), st.sampled_from(NAMES), st.just(b"")),
    st.tuples(st.just("move"), st.sampled_from(NAMES + ["c", "f", "f/g"]), st.sampled_from(NAMES + ["c", "f", "x"])),
    st.tuples(st.just("chdir"), st.sampled_from(["c", "f", "f/g"]), st.sampled_from([0o700, 0o755, 0o750])),
)
step = st.one_of(st.tuples(st.just("ops"), st.lists(operation, min_size=1, max_size=5)),
                 st.tuples(st.just("checkpoint"), st.none()),
                 st.tuples(st.just("restore"), st.integers(min_value=0, max_value=50)))


def apply_operation(root: str, op: tuple) -> None:
    kind, name, arg = op
    path = os.path.join(root, name)
    if kind == "delete":
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        return
    if kind == "move":  # a rename inside the tree: a folder keeps its watch but changes its name
        target = os.path.join(root, arg)
        if (os.path.lexists(path) and not os.path.lexists(target) and os.path.isdir(os.path.dirname(target))
                and not (arg + "/").startswith(name + "/")):
            os.rename(path, target)
        return
    if kind == "chdir":
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, arg)
        return
    if kind == "chmod":
        if os.path.isfile(path) and not os.path.islink(path):
            os.chmod(path, arg)
        return
    parent = os.path.dirname(path)
    ancestors = [os.path.join(root, *name.split("/")[:n]) for n in range(1, name.count("/") + 1)]
    if any(os.path.islink(a) or os.path.lexists(a) and not os.path.isdir(a) for a in ancestors):
        return  # a file or link stands where a folder would go
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(path) and not os.path.islink(path):
        return  # a folder stays a folder (deleting it is its own operation)
    if kind in ("write", "append"):
        if os.path.islink(path):
            os.unlink(path)
        if os.path.exists(path):
            os.chmod(path, 0o644)
        with open(path, "ab" if kind == "append" else "wb") as handle:
            handle.write(arg)
    elif kind == "link":
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(arg, path)
    elif kind == "mkdir":
        if os.path.lexists(path):
            os.unlink(path)
        os.mkdir(path)


def check_random_steps(steps: list) -> None:
    base = tempfile.mkdtemp(prefix="venom-files-prop-")
    root = os.path.join(base, "tree")
    os.mkdir(root)
    stack = contextlib.ExitStack()
    try:
        apply_operation(root, ("write", "a", b"seed"))
        adapter = open_adapter(f"dir://{root}")
        adapter.install()
        stack.callback(adapter.uninstall)
        saved: list[tuple[Checkpoint, str, str]] = [(adapter.checkpoint(), tree_hash(root), adapter.fingerprint())]
        for kind, arg in steps:
            if kind == "ops":
                for op in arg:
                    apply_operation(root, op)
            elif kind == "checkpoint":
                saved.append((adapter.checkpoint(), tree_hash(root), adapter.fingerprint()))
            else:
                token, expected, fp = saved[arg % len(saved)]
                adapter.restore(token)
                assert tree_hash(root) == expected
                assert adapter.fingerprint() == fp
        adapter.restore(saved[0][0])
        assert tree_hash(root) == saved[0][1]
    finally:
        stack.close()
        for folder, dirs, _ in os.walk(base):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o755)
        shutil.rmtree(base)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_file_operations_are_restored_exactly(steps):
    check_random_steps(steps)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=40))
def test_random_file_operations_are_restored_exactly_long_run(steps):
    check_random_steps(steps)
