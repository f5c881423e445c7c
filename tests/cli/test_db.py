"""`venom-replay db check / recover / uninstall` as a user runs them (the real CLI, real databases)."""

from __future__ import annotations

import json
import subprocess

from support.db_servers import dump_content, installed_objects, run_writer_process


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["venom-replay", "db", *args], capture_output=True, text=True, timeout=120)


def test_check_passes_and_leaves_nothing_behind(pg_url, mysql_url, sqlite_url, redis_url):
    run_writer_process(sqlite_url, ["CREATE TABLE t (a)"])
    run_writer_process(pg_url, ["CREATE TABLE t (a int)", "INSERT INTO t VALUES (1)"])
    for url in (pg_url, mysql_url, sqlite_url, redis_url):
        before = dump_content(url)
        out = cli("check", "--db", url, "--rounds", "2")
        assert out.returncode == 0, out.stderr
        assert "restore exact in 2 rounds" in out.stdout and "restore" in out.stdout and " ms" in out.stdout
        assert dump_content(url) == before
        if not url.startswith("redis"):
            assert installed_objects(url) == []


def test_check_json_reports_latencies(sqlite_url):
    run_writer_process(sqlite_url, ["CREATE TABLE t (a)"])
    out = cli("check", "--db", sqlite_url + "?mode=backup", "--rounds", "3", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["exact"] is True and result["mode"] == "backup" and result["rounds"] == 3
    assert result["checkpoint_ms"] > 0 and result["restore_ms"] > 0


def test_check_fails_when_restore_is_not_exact(pg_url):
    # savepoint mode cannot undo writes of other connections: the self-test must notice and exit 1
    out = cli("check", "--db", pg_url, "--mode", "savepoint", "--rounds", "1")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "NOT exact" in out.stdout and "problem: round 1" in out.stdout
    assert installed_objects(pg_url) == []


def test_bad_urls_are_one_line_errors_without_the_password(tmp_path):
    for url, message in (("ftp://u:s3cret@x/y", "unsupported database URL 'ftp://u:***@x/y'"),
                         (f"sqlite:///{tmp_path}/missing.db", "does not exist"),
                         ("postgresql://nobody:s3cret@127.0.0.1:1/x", "cannot connect to postgresql://nobody:***@"),
                         ("mysql://root:s3cret@127.0.0.1:1/x", "cannot connect to mysql://root:***@"),
                         ("redis://:s3cret@127.0.0.1:1/0", "cannot connect to Redis at redis://:***@")):
        out = cli("check", "--db", url)
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: "), out.stderr
        assert message in out.stderr and "s3cret" not in out.stderr, out.stderr


def test_recover_and_uninstall_when_nothing_is_installed(sqlite_url):
    run_writer_process(sqlite_url, ["CREATE TABLE t (a)"])
    assert "nothing to recover" in cli("recover", "--db", sqlite_url).stdout
    out = cli("uninstall", "--db", sqlite_url)
    assert out.returncode == 0 and "uninstalled" in out.stdout
