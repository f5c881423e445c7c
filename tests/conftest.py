"""Shared fixtures. Servers are real and start on free loopback ports with data in temporary dirs.

Fixture modules live in tests/support/fixtures_*.py and are loaded here as plugins, so each area
(databases, the recording proxy, test APIs) keeps its fixtures in its own file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.http_app import AppProcess, running_app

# The command line's rich output wraps to the terminal's width (80 columns without one): the suite's
# temporary paths (longer on pytest-xdist workers) must not decide where a checked line breaks.
os.environ.setdefault("COLUMNS", "240")

pytest_plugins = sorted(f"support.{p.stem}" for p in (Path(__file__).parent / "support").glob("fixtures_*.py"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run the long property runs (marker: slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="long run; pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def crud_api() -> Iterator[AppProcess]:
    """The small CRUD JSON API, in its own process."""
    with running_app("apps.crud_api:create_app") as app:
        yield app
