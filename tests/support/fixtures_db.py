"""Database fixtures: one real server per test session, a fresh empty database per test.

- ``postgres_server``, ``mariadb_server``, ``redis_server`` (session): objects with ``.url(dbname)``,
  ``.dsn``, ``.create_database()``, ``.drop_database(name)``, ``.execute(sql, dbname)`` (SQL ones).
- ``pg_url``, ``mysql_url``, ``redis_url``, ``sqlite_url`` (function): the URL of a fresh database.
- ``writer_process``: factory for ``WriterProcess(url)`` (another process with its own connection),
  closed at the end of the test. ``run_writer_process`` in support.db_servers runs one batch.

A server whose binary is missing makes its tests skip with the reason; scripts/test.sh installs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .db_servers import MariaDBServer, PostgresServer, RedisServer, ServerUnavailable, WriterProcess, installed_adapter


def _serve(factory: type) -> Iterator:
    try:
        server = factory()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    yield from _serve(PostgresServer)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    yield from _serve(MariaDBServer)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from _serve(RedisServer)


def _fresh_database(server: PostgresServer | MariaDBServer | RedisServer) -> Iterator[str]:
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    yield from _fresh_database(postgres_server)


@pytest.fixture
def mysql_url(mariadb_server: MariaDBServer) -> Iterator[str]:
    yield from _fresh_database(mariadb_server)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    yield from _fresh_database(redis_server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def writer_process() -> Iterator[Callable[[str], WriterProcess]]:
    writers: list[WriterProcess] = []

    def start(url: str) -> WriterProcess:
        writers.append(WriterProcess(url))
        return writers[-1]

    yield start
    for writer in writers:
        writer.close()


@pytest.fixture
def journal(shop_url: str) -> Iterator:
    """The journal adapter installed on the test module's own ``shop_url`` database (its ``customers.seen``
    column volatile), removed again afterwards."""
    with installed_adapter(shop_url, volatile_columns=["customers.seen"]) as adapter:
        yield adapter
