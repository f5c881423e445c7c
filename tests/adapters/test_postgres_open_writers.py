"""PostgreSQL journal mode beside an API transaction that is still open when a checkpoint is taken.

The write comes from another process that holds its transaction open (as an API might between two
statements of one request, or by mistake between requests): its journal entry becomes visible only
when it commits. A checkpoint waits for it, and the rollback stays exact; a transaction that stays
open past the wait is refused with one line, never a silent inexact restore.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from support.db_servers import dump_content, run_writer_process
from venom_replay.adapters.base import AdapterError
from venom_replay.adapters.registry import open_adapter

# Another process: begin, insert, say so, then commit when told (a line on stdin).
HOLDING_WRITER = textwrap.dedent("""
    import sys, psycopg
    with psycopg.connect(sys.argv[1], application_name="held-writer") as conn:
        conn.execute("INSERT INTO items (name) VALUES ('written while a checkpoint was taken')")
        print("open", flush=True)
        sys.stdin.readline()
        conn.commit()
    print("committed", flush=True)
""")


def _holding_writer(url: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDING_WRITER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def _commit(proc: subprocess.Popen) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "committed"
    proc.wait(timeout=10)


@pytest.fixture
def items_url(pg_url):
    run_writer_process(pg_url, ["CREATE TABLE items (id serial PRIMARY KEY, name text)",
                                "INSERT INTO items (name) VALUES ('kept')"])
    return pg_url


def test_a_checkpoint_waits_for_an_open_write_and_the_restore_stays_exact(items_url):
    before = dump_content(items_url)
    adapter = open_adapter(items_url, writer_wait_s=10.0)
    assert adapter.enable_branch_restore()  # to come back to the state with the late write too
    adapter.install()
    try:
        baseline = adapter.checkpoint()
        writer = _holding_writer(items_url)
        committer = threading.Timer(0.5, _commit, args=(writer,))
        committer.start()
        started = time.monotonic()
        token, fingerprint = adapter.snapshot(checkpoint=True)
        waited = time.monotonic() - started
        committer.join()
        assert waited >= 0.4, waited  # it waited for the open transaction instead of reading past it
        assert len(dump_content(items_url)["public.items"]) == 2
        assert fingerprint == adapter.fingerprint()  # the late entry is in the state's fingerprint
        adapter.restore(baseline)
        assert dump_content(items_url) == before
        adapter.restore(token)  # and back to the state with the late write, exactly
        assert len(dump_content(items_url)["public.items"]) == 2
        adapter.restore(baseline)
    finally:
        adapter.uninstall()
        adapter.close()
    assert dump_content(items_url) == before


def test_a_transaction_left_open_is_refused_with_one_line(items_url):
    before = dump_content(items_url)
    adapter = open_adapter(items_url, writer_wait_s=0.5)
    adapter.install()
    writer = _holding_writer(items_url)
    try:
        with pytest.raises(AdapterError) as refused:
            adapter.checkpoint()
        message = str(refused.value)
        assert "\n" not in message
        assert "held-writer" in message and "write transaction open" in message, message
        _commit(writer)
        adapter.restore(adapter.baseline)  # what the end of a run does: exact once the write committed
        assert dump_content(items_url) == before
    finally:
        if writer.poll() is None:
            writer.kill()
        adapter.uninstall()
        adapter.close()
