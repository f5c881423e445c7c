"""Fixtures for the bundled demo shop: each shop runs in its own process on its own database.

``demo_shop(db_url=None, *, fixed=False)`` starts one (SQLite in the test's temp dir by default, or
any ``postgresql://`` URL, e.g. from the ``postgres_server`` fixture) and returns a
``ShopProcess`` with ``.url``; every shop started is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venom_replay.replay.demo.shop import ShopProcess, launch

# The pytest plugin's tests run inner test suites with pytester.
pytest_plugins = ["pytester"]


@pytest.fixture
def demo_shop(tmp_path: Path) -> Iterator[Callable[..., ShopProcess]]:
    started: list[ShopProcess] = []

    def start(db_url: str | None = None, *, fixed: bool = False) -> ShopProcess:
        url = db_url or f"sqlite:///{tmp_path / f'shop{len(started)}.db'}"
        shop = launch(url, fixed=fixed)
        started.append(shop)
        return shop

    yield start
    for shop in started:
        shop.stop()
