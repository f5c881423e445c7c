"""Run the real `venom-replay record` CLI in a subprocess, as a user would, for tests.

    with recording_proxy(api.url, tmp_path / "t.vrec") as proxy:
        requests.get(proxy.url + "/items")
    read_recording(proxy.path)   # complete: the proxy was stopped with SIGINT and waited for
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from venom_replay.proxy.recording import Recording, read_recording

from .net import free_port, wait_for_port


@dataclass
class RecordingProxy:
    url: str
    """Base URL clients use: the API's stand-in in reverse mode, the HTTP_PROXY value in regular mode."""
    port: int
    path: Path
    proc: subprocess.Popen
    stdout: str = ""
    stderr: str = ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Signal the proxy and wait for it to finish the file; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.stdout += out or ""
        self.stderr += err or ""
        return self.proc.returncode

    def recording(self) -> Recording:
        return read_recording(self.path)


def record_command(target_url: str | None, out_path: str | os.PathLike[str], port: int, *extra_args: str) -> list[str]:
    cmd = [sys.executable, "-m", "venom_replay.replay.cli", "record", "--listen-port", str(port), "--out", str(out_path)]
    if target_url:
        cmd += ["--target", target_url]
    return cmd + list(extra_args)


def start_recording_proxy(target_url: str | None, out_path: str | os.PathLike[str], *extra_args: str) -> RecordingProxy:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    proc = subprocess.Popen(
        record_command(target_url, out_path, port, *extra_args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    proxy = RecordingProxy(url=f"http://127.0.0.1:{port}", port=port, path=Path(out_path), proc=proc)
    try:
        wait_for_port(port, proc=proc, timeout=30)
    except BaseException:
        proxy.stop(signal.SIGKILL)
        raise RuntimeError(f"recording proxy did not start: {proxy.stderr.strip() or proxy.stdout.strip()}") from None
    return proxy


@contextmanager
def recording_proxy(target_url: str | None, out_path: str | os.PathLike[str], *extra_args: str) -> Iterator[RecordingProxy]:
    """The real recording proxy in front of ``target_url`` (None with ``--mode regular``).

    On exit it sends SIGINT and waits, so the recording is complete and the summary line is in
    ``proxy.stdout``.
    """
    proxy = start_recording_proxy(target_url, out_path, *extra_args)
    try:
        yield proxy
    finally:
        proxy.stop()
