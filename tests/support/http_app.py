"""Run a WSGI app from tests/apps in its own process, as a real API under test runs.

The app process has its own database connections; tests and the tools under test only reach it
over HTTP on a free loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .net import free_port, wait_for_port

TESTS_DIR = Path(__file__).resolve().parent.parent


@dataclass
class AppProcess:
    url: str
    port: int
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_app(factory: str, *, env: Mapping[str, str] | None = None, port: int | None = None) -> AppProcess:
    """Start ``module:factory`` (a function returning a WSGI app) in a subprocess; wait until it listens."""
    port = port or free_port()
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), child_env.get("PYTHONPATH", "")]))
    child_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.serve_wsgi", factory, "--port", str(port)],
        env=child_env,
        cwd=TESTS_DIR,
    )
    try:
        wait_for_port(port, proc=proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return AppProcess(url=f"http://127.0.0.1:{port}", port=port, proc=proc)


@contextmanager
def running_app(factory: str, *, env: Mapping[str, str] | None = None) -> Iterator[AppProcess]:
    app = start_app(factory, env=env)
    try:
        yield app
    finally:
        app.stop()
