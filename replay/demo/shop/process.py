"""Starting the shop in a child process, the way a real API under test runs beside the tool.

The demo, the tests and the benchmarks call ``launch``; it returns once the child says it listens.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from venom_replay.replay.child_process import ChildProcess, start_child

__all__ = ["MODULE", "ShopProcess", "launch"]

MODULE = "venom_replay.replay.demo.shop"
"""What ``python -m`` runs to serve the shop."""


@dataclass
class ShopProcess:
    """A demo shop running in its own process (the way a real API under test runs)."""

    url: str
    port: int
    child: ChildProcess

    @property
    def proc(self) -> subprocess.Popen:
        return self.child.proc

    def stop(self) -> None:
        self.child.stop()

    def __enter__(self) -> ShopProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch(db_url: str, *, fixed: bool = False, port: int = 0, host: str = "127.0.0.1", timeout: float = 30.0,
           tls: bool = False, tls_cert_out: str | None = None) -> ShopProcess:
    """Start ``python -m venom_replay.replay.demo.shop`` in a child process; return once it listens.

    ``tls``: serve HTTPS with a self-signed certificate made at start-up (``--tls``), copied to
    ``tls_cert_out`` for clients that trust it."""
    cmd = [sys.executable, "-m", MODULE, "--db", db_url, "--port", str(port), "--host", host]
    if fixed:
        cmd.append("--fixed")
    if tls:
        cmd.append("--tls")
        if tls_cert_out:
            cmd += ["--tls-cert-out", tls_cert_out]
    child = start_child(cmd, r"listening on (https?://\S+):(\d+)", what="the demo shop", timeout=timeout)
    port = int(child.match.group(2))
    return ShopProcess(url=f"{child.match.group(1)}:{port}", port=port, child=child)
