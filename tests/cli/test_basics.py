"""The command line itself: help, version, and one-line errors."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "Usage: venom-replay" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_crud_api_fixture_runs_in_its_own_process(crud_api):
    import os

    import requests

    created = requests.post(f"{crud_api.url}/items", json={"name": "pen"}, timeout=5)
    assert created.status_code == 201 and created.headers["Location"] == "/items/1"
    assert crud_api.proc.pid != os.getpid()
