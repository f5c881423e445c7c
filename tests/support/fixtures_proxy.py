"""Fixtures for recording real traffic through the real proxy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .proxy import recording_proxy

RecordTraffic = Callable[..., Path]


@pytest.fixture
def record_traffic(tmp_path: Path) -> RecordTraffic:
    """Record what ``drive(proxy_url)`` sends through `venom-replay record` in front of a target.

        path = record_traffic(api.url, lambda url: requests.post(url + "/items", json={...}))
        path = record_traffic(api.url, drive, "--session-by", "auth", name="auth.vrec")

    Returns the path of the complete recording (the proxy is stopped with SIGINT first).
    """

    def record(target_url: str, drive: Callable[[str], Any], *extra_args: str, name: str = "traffic.vrec") -> Path:
        out = tmp_path / name
        with recording_proxy(target_url, out, *extra_args) as proxy:
            drive(proxy.url)
        if proxy.proc.returncode != 0:
            raise RuntimeError(f"recording proxy exited with {proxy.proc.returncode}: {proxy.stderr.strip()}")
        return out

    return record
