"""The real recording proxy (`venom-replay record`) as a child process, for the demo and the pytest plugin.

It runs exactly the command a user runs, on port 0, and is stopped with SIGINT so that it finishes
the recording and prints its summary line. With ``dbs`` it saves the databases' start state first
(``--db``), which it does before it listens: the wait for it to listen allows for that.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from venom_replay.replay.child_process import ChildProcess, child_env, start_child

START_TIMEOUT = 60.0
EXPORT_TIMEOUT = 900.0
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class RecorderProcess:
    url: str
    """The proxy's base URL: the API's stand-in in reverse mode, the HTTP_PROXY value in regular mode."""
    path: Path
    child: ChildProcess
    summary: str = ""
    start_state: str = ""
    """The line saying where the databases' start state went (``--db``), or ""."""

    def stop(self) -> str:
        """Stop recording (SIGINT, as Ctrl-C) and return the recorder's summary line."""
        code = self.child.stop(signal.SIGINT, timeout=30)
        lines = [line.strip() for line in self.child.stdout_tail if line.startswith("recorded ")]
        self.summary = lines[-1] if lines else ""
        if code not in (0, -signal.SIGINT) and not self.summary:
            raise RuntimeError(f"the recording proxy failed (exit code {code}): {self.child.last_error()}")
        return self.summary

    def __enter__(self) -> RecorderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.child.running:
            self.stop()


def start_recorder(
    out: str | Path,
    *,
    target: str | None = None,
    mode: str = "reverse",
    extra_args: Sequence[str] = (),
    host: str = "127.0.0.1",
    dbs: Sequence[str] = (),
    timeout: float | None = None,
) -> RecorderProcess:
    """Start `venom-replay record` on a free port; ``dbs``: databases whose start state it saves first."""
    cmd = [sys.executable, "-m", "venom_replay.replay.cli", "record", "--out", str(out), "--listen-port", "0",
           "--listen-host", host, "--mode", mode]
    if target:
        cmd += ["--target", target]
    for url in dbs:
        cmd += ["--db", url]
    cmd += list(extra_args)
    if timeout is None:  # saving a large database's content takes its time before the proxy listens
        timeout = START_TIMEOUT + (EXPORT_TIMEOUT if dbs else 0)
    # The proxy itself must not go through a proxy that the parent's environment names.
    env = child_env(**{name: None for name in _PROXY_VARS})
    child = start_child(cmd, r"recording on (http://[^\s,]+)", what="the recording proxy", timeout=timeout, env=env)
    saved = [line.strip() for line in child.stdout_tail if line.startswith(("saved the start state", "keeping the start state"))]
    return RecorderProcess(url=child.match.group(1), path=Path(out), child=child, start_state=saved[-1] if saved else "")
