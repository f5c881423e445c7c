"""Child processes that announce readiness on stdout: the demo shop and the recording proxy.

Both are started on port 0 and print the address they got, so there is no race between picking a
free port and binding it. Both pipes are drained for the child's whole life (it never blocks on a
full pipe) and the last lines are kept for error messages and summaries.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO


class ChildProcess:
    def __init__(self, proc: subprocess.Popen, match: re.Match[str], out: deque[str], err: deque[str]) -> None:
        self.proc = proc
        self.match = match
        """The readiness line's match (its groups carry the address)."""
        self.stdout_tail = out
        self.stderr_tail = err
        self._pumps: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the child, wait for it (kill after ``timeout``), let the pumps take its last words."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pump in self._pumps:
            pump.join(timeout=5)
        return self.proc.returncode

    def last_error(self) -> str:
        lines = [line.strip() for line in self.stderr_tail if line.strip()]
        return lines[-1] if lines else "no output"


def start_child(
    cmd: Sequence[str],
    ready: str,
    *,
    what: str,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ChildProcess:
    """Run ``cmd`` and return once a stdout line matches the regex ``ready``.

    Raises RuntimeError naming ``what`` and the child's last stderr line when it exits or stays
    silent past ``timeout``.
    """
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        # Its own process group: a Ctrl-C in the user's terminal reaches us, and we stop it in order.
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    out: deque[str] = deque(maxlen=200)
    err: deque[str] = deque(maxlen=200)

    waiting = threading.Event()
    waiting.set()

    def pump(stream: IO[str], sink: deque[str], forward: bool) -> None:
        for line in stream:
            sink.append(line)
            if forward and waiting.is_set():
                lines.put(line)
        stream.close()
        if forward:
            lines.put(None)

    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, out, True), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err, False), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    pattern = re.compile(ready)
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            line = ""
            if time.monotonic() >= deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{what} did not start within {timeout:.0f} s") from None
        if line is None:
            proc.wait()
            pumps[1].join(timeout=5)
            child = ChildProcess(proc, re.match("", ""), out, err)
            raise RuntimeError(f"{what} exited with code {proc.returncode}: {child.last_error()}")
        match = pattern.search(line) if line else None
        if match:
            waiting.clear()  # later stdout lines are only kept in the tail
            child = ChildProcess(proc, match, out, err)
            child._pumps = pumps
            return child


def child_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment with some variables set (or removed, given None)."""
    env = dict(os.environ)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
