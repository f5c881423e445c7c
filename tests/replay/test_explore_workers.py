"""`explore --workers N --api-cmd`: the same complete search as one explorer, on replicas the tool starts
on copies of the database; nothing left behind, also when the run is killed (then `db recover`)."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.http_app import free_port, wait_for_port
from support.proxy import recording_proxy
from support.slow_api_traffic import drive_slow_api

from venom_replay.adapters.registry import open_adapter

TESTS_DIR = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "venom_replay.replay.cli"]
API_CMD = f"exec {shlex.quote(sys.executable)} -m apps.slow_api --port {{port}} --db {{db}}"
SEARCH = ["--strategy", "bfs", "--depth", "3", "--prefix-roots", "2", "--prefix-depth", "1", "--no-mutations"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH", "")]))
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the registry of copies: this test's own
    return env


def _fingerprint(url: str) -> str:
    adapter = open_adapter(url)
    try:
        adapter.install()
        fp = adapter.fingerprint()
        adapter.uninstall()
        return fp
    finally:
        adapter.close()


@pytest.fixture()
def recorded(tmp_path: Path) -> tuple[Path, str]:
    """A recording of the slow API's traffic, and the SQLite database it was made on."""
    db_url = f"sqlite:///{tmp_path / 'boards.db'}"
    recording = tmp_path / "boards.vrec"
    port = free_port()
    api = subprocess.Popen(API_CMD.format(port=port, db=shlex.quote(db_url)), shell=True, env=_env(tmp_path),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=api, timeout=60)
        with recording_proxy(f"http://127.0.0.1:{port}", recording, "--db", db_url) as proxy:
            drive_slow_api(proxy.url)
    finally:
        api.terminate()
        api.wait(timeout=10)
    return recording, db_url


def _explore(tmp_path: Path, recording: Path, db_url: str, name: str, *extra: str) -> dict:
    report = tmp_path / name
    search = [a for a in SEARCH if a != "--no-mutations"] if "--mutations" in extra else SEARCH
    done = subprocess.run([*CLI, "explore", str(recording), "--db", db_url, *search, *extra, "--report", str(report)],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=600)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return json.loads((report / "report.json").read_text())


def _check_phases(report: dict, report_dir: Path, *, replayed_apart: bool) -> None:
    """Where the run's time went, within the run's time; one explorer replays the recording in a phase
    of its own, workers as part of their start."""
    phases = report["phase_seconds"]
    expected = {"start", "search", "mutations", "findings", "restore"} | ({"replay"} if replayed_apart else set())
    assert set(phases) == expected, phases
    assert all(seconds >= 0 for seconds in phases.values())
    assert phases["search"] == pytest.approx(report["search_seconds"], abs=0.01)
    assert sum(phases.values()) <= report["elapsed_seconds"] + 0.01
    assert f"search {phases['search']:.1f} s" in (report_dir / "summary.md").read_text()


def test_workers_give_the_same_search_as_one_explorer(tmp_path: Path, recorded: tuple[Path, str]) -> None:
    recording, db_url = recorded
    before = _fingerprint(db_url)
    port = free_port()
    api = subprocess.Popen(API_CMD.format(port=port, db=shlex.quote(db_url)), shell=True, env=_env(tmp_path),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=api, timeout=60)
        plain = _explore(tmp_path, recording, db_url, "plain", "--target", f"http://127.0.0.1:{port}")
    finally:
        api.terminate()
        api.wait(timeout=10)
    runs = {1: _explore(tmp_path, recording, db_url, "workers-1", "--workers", "1", "--api-cmd", API_CMD,
                        "--api-ready", "/health")}
    # the same from the config file: CI keeps its replica command there
    config = tmp_path / "venom.toml"
    config.write_text(f"[explore]\nworkers = 2\napi_cmd = {json.dumps(API_CMD)}\napi_ready = \"/health\"\n")
    runs[2] = _explore(tmp_path, recording, db_url, "workers-2", "--config", str(config))
    assert plain["stopped"] == "complete" and plain["transitions"] > 30
    for n, report in runs.items():
        assert report["stopped"] == "complete"
        assert (report["states"], report["transitions"]) == (plain["states"], plain["transitions"]), n
        assert sorted(f["signature"] for f in report["findings"]) == sorted(f["signature"] for f in plain["findings"])
        assert report["replay_agreement"]["same_status_class"] == plain["replay_agreement"]["same_status_class"]
        assert report["db_restored"] is True
        assert len(report["workers"]) == n and all(w["transitions"] > 0 for w in report["workers"])
        assert sum(w["transitions"] for w in report["workers"]) == report["transitions"]
        _check_phases(report, tmp_path / f"workers-{n}", replayed_apart=False)
    _check_phases(plain, tmp_path / "plain", replayed_apart=True)
    # the user's database is untouched (the workers explored copies) and no copy is left
    assert _fingerprint(db_url) == before
    assert not [p.name for p in tmp_path.iterdir() if "__vr_" in p.name]


def test_a_killed_run_leaves_copies_that_db_recover_drops(tmp_path: Path, recorded: tuple[Path, str]) -> None:
    recording, db_url = recorded
    env = _env(tmp_path)
    run = subprocess.Popen([*CLI, "explore", str(recording), "--db", db_url, "--depth", "3", "--no-mutations",
                            "--workers", "2", "--api-cmd", API_CMD, "--api-ready", "/health",
                            "--report", str(tmp_path / "killed")],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([p for p in tmp_path.iterdir() if "__vr_" in p.name]) < 2:
        time.sleep(0.1)
    time.sleep(1.0)  # the workers are exploring now
    copies = sorted(p.name for p in tmp_path.iterdir() if "__vr_" in p.name and p.suffix == ".db")
    assert len(copies) == 2, copies
    os.killpg(run.pid, signal.SIGKILL)  # the coordinator and its workers
    run.wait(timeout=10)
    # The APIs run in sessions of their own (a Ctrl-C at the terminal must not stop them mid-restore),
    # so they outlive a SIGKILLed coordinator, still serving their copies: `db recover` stops them.
    apis = re.escape(str(tmp_path)) + ".*__vr_"  # the replicas' command lines name their copies
    assert len(_pids_matching(apis)) >= 2
    assert sorted(p.name for p in tmp_path.iterdir() if "__vr_" in p.name and p.suffix == ".db") == copies
    done = subprocess.run([*CLI, "db", "recover", "--db", db_url], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "stopped 2 API processes left running by a killed run" in done.stdout, done.stdout
    assert "dropped 2 copies left by a killed run" in done.stdout + done.stderr
    assert not [p.name for p in tmp_path.iterdir() if "__vr_" in p.name]
    assert _pids_matching(apis) == []
    again = subprocess.run([*CLI, "db", "recover", "--db", db_url], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0 and "stopped" not in again.stdout and "dropped" not in again.stdout, again.stdout


def _pids_matching(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return found.stdout.split()


def test_workers_share_the_mutation_phase_and_find_what_one_explorer_finds(tmp_path: Path) -> None:
    """The blog API's planted bugs, four of them reached only by value mutations: two workers (the
    mutation phase shared out by template) report the same findings as one explorer."""
    from support.blog_traffic import drive_blog
    from support.http_app import running_app

    db_url = f"sqlite:///{tmp_path / 'blog.db'}"
    recording = tmp_path / "blog.vrec"
    with running_app("apps.blog_api:create_app", env={"BLOG_DB": db_url, "BLOG_BUGS": "1"}) as api:
        with recording_proxy(api.url, recording, "--db", db_url) as proxy:
            drive_blog(proxy.url)
        plain = _explore(tmp_path, recording, db_url, "plain", "--target", api.url, "--mutations", "12")
    api_cmd = (f"BLOG_DB={{db}} BLOG_BUGS=1 exec {shlex.quote(sys.executable)} -m support.serve_wsgi "
               "apps.blog_api:create_app --port {port}")
    workers = _explore(tmp_path, recording, db_url, "workers", "--workers", "2", "--api-cmd", api_cmd, "--mutations", "12")
    signatures = sorted(f["signature"] for f in plain["findings"])
    assert sum(1 for f in plain["findings"] if f["sequence"][-1].get("mutation")) >= 3, signatures
    assert sorted(f["signature"] for f in workers["findings"]) == signatures
    assert workers["mutations"]["sent"] == plain["mutations"]["sent"] and workers["mutations"]["sent"] > 0
    assert workers["db_restored"] is True


def test_ctrl_c_restores_and_removes_every_replica(tmp_path: Path, recorded: tuple[Path, str]) -> None:
    """Ctrl-C at the terminal (SIGINT to the whole process group): every worker restores its copy, the
    copies and the started APIs are gone, and the report says what was found so far."""
    recording, db_url = recorded
    run = subprocess.Popen([*CLI, "explore", str(recording), "--db", db_url, "--depth", "3", "--prefix-depth", "3",
                            "--no-mutations", "--workers", "2", "--api-cmd", API_CMD, "--api-ready", "/health",
                            "--report", str(tmp_path / "interrupted")],
                           env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "interrupted").exists() and run.poll() is None:
        if len([p for p in tmp_path.iterdir() if "__vr_" in p.name and p.suffix == ".db"]) == 2:
            break
        time.sleep(0.1)
    time.sleep(6.0)  # the workers are exploring now (the whole search takes about 10 s more)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-2000:]
    report = json.loads((tmp_path / "interrupted" / "report.json").read_text())
    assert report["stopped"] == "interrupted" and report["db_restored"] is True
    assert 0 < report["transitions"]
    assert not [p.name for p in tmp_path.iterdir() if "__vr_" in p.name]
    assert subprocess.run(["pgrep", "-f", f"{tmp_path}.*__vr_"], capture_output=True).returncode == 1  # no API left


def test_a_worker_that_dies_leaves_its_replica_restored(tmp_path: Path, recorded: tuple[Path, str]) -> None:
    """Replicas the user runs (--replica): when a worker's process is killed mid-run, the coordinator
    recovers that replica's database through its journal (as `db recover` would), the others restore
    their own, and the run ends with one line and exit 2."""
    import shutil

    recording, db_url = recorded
    source = Path(db_url.removeprefix("sqlite:///"))
    replicas, apis = [], []
    try:
        for i in range(2):
            copy = tmp_path / f"replica{i}.db"
            shutil.copy(source, copy)
            port = free_port()
            apis.append(subprocess.Popen(API_CMD.format(port=port, db=shlex.quote(f"sqlite:///{copy}")), shell=True,
                                         env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for_port(port, proc=apis[-1], timeout=60)
            replicas += ["--replica", f"http://127.0.0.1:{port} sqlite:///{copy}"]
        before = [_fingerprint(f"sqlite:///{tmp_path / f'replica{i}.db'}") for i in range(2)]
        run = subprocess.Popen([*CLI, "explore", str(recording), *replicas, "--depth", "3", "--prefix-depth", "3",
                                "--no-mutations", "--report", str(tmp_path / "report")],
                               env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(6.0)  # exploring now
        ps = subprocess.run(["ps", "-ww", "--ppid", str(run.pid), "-o", "pid=,args="], capture_output=True, text=True).stdout
        workers = [int(line.split()[0]) for line in ps.splitlines() if "spawn_main" in line]
        assert len(workers) == 2, ps
        os.kill(workers[1], signal.SIGKILL)
        _, err = run.communicate(timeout=120)
        assert run.returncode == 2, err[-2000:]
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "its process ended" in lines[0] and "every replica's databases were restored" in lines[0]
        after = [_fingerprint(f"sqlite:///{tmp_path / f'replica{i}.db'}") for i in range(2)]
        assert after == before
        for i in range(2):
            import sqlite3

            with sqlite3.connect(tmp_path / f"replica{i}.db") as conn:
                ours = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'venom_replay%'").fetchall()
            assert ours == [], ours
    finally:
        for api in apis:
            api.terminate()
            api.wait(timeout=10)


def test_replicas_that_mint_tokens_share_the_search_and_give_one_explorers(postgres_server, shop_recording: Path,
                                                                             tmp_path: Path) -> None:
    """The demo shop mints random login tokens, so two replicas replaying the same recording end apart:
    each state is searched by the replica that holds it exactly, and the recorded prefix roots move
    between replicas (PostgreSQL's journal restores any checkpoint). The search is one explorer's, and
    both workers take part."""
    from venom_replay.replay.demo.shop.process import launch

    db_url = postgres_server.url(postgres_server.create_database())
    search = ["--depth", "2", "--prefix-roots", "2", "--prefix-depth", "1", "--no-mutations"]
    with launch(db_url) as shop:
        plain = _explore(tmp_path, shop_recording, db_url, "plain", "--target", shop.url, *search)
    api_cmd = f"exec {shlex.quote(sys.executable)} -m venom_replay.replay.demo.shop --db {{db}} --port {{port}}"
    two = _explore(tmp_path, shop_recording, db_url, "two", "--workers", "2", "--api-cmd", api_cmd, "--api-ready", "/ui/",
                   *search)
    assert plain["stopped"] == two["stopped"] == "complete"
    assert (two["states"], two["transitions"]) == (plain["states"], plain["transitions"])
    assert sorted(f["signature"] for f in two["findings"]) == sorted(f["signature"] for f in plain["findings"])
    assert all(w["transitions"] > 0.2 * two["transitions"] for w in two["workers"]), two["workers"]
    assert two["db_restored"] is True


def test_one_worker_is_one_explorer_on_undo_only_rollback_with_minted_tokens(shop_recording: Path,
                                                                             tmp_path: Path) -> None:
    """SQLite's adapter can only undo, so reaching a state the databases left re-executes its path, and
    each re-executed login mints a new token: which states the search meets depends on where those
    re-executions happen. One worker runs its units in the merge order, where one explorer's databases
    would be, and so meets exactly the plain explorer's states."""
    from venom_replay.replay.demo.shop.process import launch

    db_url = f"sqlite:///{tmp_path / 'shop.db'}"
    launch(db_url).stop()  # a fresh shop's content: where the recorded traffic started
    search = ["--depth", "2", "--prefix-roots", "3", "--prefix-depth", "1", "--no-mutations"]
    with launch(db_url) as shop:
        plain = _explore(tmp_path, shop_recording, db_url, "plain", "--target", shop.url, *search)
    api_cmd = f"exec {shlex.quote(sys.executable)} -m venom_replay.replay.demo.shop --db {{db}} --port {{port}}"
    one = _explore(tmp_path, shop_recording, db_url, "one", "--workers", "1", "--api-cmd", api_cmd, "--api-ready", "/ui/",
                   *search)
    assert plain["stopped"] == one["stopped"] == "complete"
    assert (one["states"], one["transitions"]) == (plain["states"], plain["transitions"])
    assert sorted(f["signature"] for f in one["findings"]) == sorted(f["signature"] for f in plain["findings"])


def test_workers_on_two_databases_start_alike(tmp_path: Path, recorded: tuple[Path, str]) -> None:
    """Two --db: every replica gets a copy of each, under names of its own; the replicas still start
    from the same content (the combined fingerprint goes by the databases' order, not their names)."""
    recording, db_url = recorded
    audit = tmp_path / "audit.db"
    with sqlite3.connect(audit) as conn:
        conn.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, line TEXT)")
        conn.execute("INSERT INTO audit (line) VALUES ('kept as it is')")
    conn.close()
    second = f"sqlite:///{audit}"
    port = free_port()
    api = subprocess.Popen(API_CMD.format(port=port, db=shlex.quote(db_url)), shell=True, env=_env(tmp_path),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=api, timeout=60)
        plain = _explore(tmp_path, recording, db_url, "plain", "--db", second, "--target", f"http://127.0.0.1:{port}")
    finally:
        api.terminate()
        api.wait(timeout=10)
    two = _explore(tmp_path, recording, db_url, "two", "--db", second, "--workers", "2", "--api-cmd", API_CMD,
                   "--api-ready", "/health")
    assert (two["states"], two["transitions"]) == (plain["states"], plain["transitions"])
    assert len(two["workers"]) == 2 and all(w["transitions"] > 0 for w in two["workers"]), two["workers"]
    assert all(len(w["databases"]) == 2 for w in two["workers"])
    assert two["db_restored"] is True
    assert not [p.name for p in tmp_path.iterdir() if "__vr_" in p.name]
