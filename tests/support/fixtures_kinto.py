"""Kinto (a JSON storage server from PyPI) on PostgreSQL, in its own process, for real-server tests.

``kinto_server`` starts one on a fresh database of the session's PostgreSQL; ``kinto_accounts_server``
also loads Kinto's accounts plugin, so users are created and deleted over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.net import free_port, wait_for_port

KINTO_INI = """\
[app:main]
use = egg:kinto
kinto.storage_backend = kinto.core.storage.postgresql
kinto.storage_url = {db_url}
kinto.permission_backend = kinto.core.permission.postgresql
kinto.permission_url = {db_url}
kinto.cache_backend = kinto.core.cache.memory
kinto.userid_hmac_secret = venom-replay-test-secret
{auth}
kinto.bucket_create_principals = system.Authenticated

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = %(http_port)s
"""


@dataclass
class KintoServer:
    url: str
    db_url: str
    proc: subprocess.Popen
    log: Path


def _kinto_cli() -> list[str]:
    # Kinto's own command line, run by this interpreter (its __main__ has no `if __name__` guard).
    return [sys.executable, "-c", "import sys; from kinto.__main__ import main; sys.exit(main(sys.argv[1:]))"]


BASIC_AUTH = "multiauth.policies = basicauth"
# Kinto's accounts plugin: users are objects (PUT /v1/accounts/NAME), authenticated by Basic auth
# against their stored password; anyone may create an account.
ACCOUNTS_AUTH = """\
kinto.includes = kinto.plugins.accounts
multiauth.policies = account
multiauth.policy.account.use = kinto.plugins.accounts.authentication.AccountsAuthenticationPolicy
kinto.account_create_principals = system.Everyone
kinto.account_write_principals = account:admin
kinto.account_read_principals = account:admin"""


@contextmanager
def running_kinto(postgres_server, tmp_path: Path, accounts: bool = False) -> Iterator[KintoServer]:
    """A Kinto server on a new database of ``postgres_server``, stopped and its database dropped after."""
    db_name = postgres_server.create_database()
    # Kinto talks to PostgreSQL through SQLAlchemy and psycopg2.
    db_url = postgres_server.url(db_name)
    ini = tmp_path / "kinto.ini"
    ini.write_text(KINTO_INI.format(db_url=db_url, auth=ACCOUNTS_AUTH if accounts else BASIC_AUTH))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    migrated = subprocess.run([*_kinto_cli(), "migrate", "--ini", str(ini)], capture_output=True, text=True, env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    port = free_port()
    log = tmp_path / "kinto.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([*_kinto_cli(), "start", "--ini", str(ini), "--port", str(port)], stdout=sink,
                                stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, proc=proc, timeout=60)
        yield KintoServer(url=f"http://127.0.0.1:{port}", db_url=db_url, proc=proc, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        postgres_server.drop_database(db_name)




@pytest.fixture
def kinto_server(postgres_server, tmp_path: Path) -> Iterator[KintoServer]:
    with running_kinto(postgres_server, tmp_path) as server:
        yield server


@pytest.fixture
def kinto_accounts_server(postgres_server, tmp_path: Path) -> Iterator[KintoServer]:
    """Kinto with its accounts plugin (users created and deleted over HTTP; ``account:admin`` manages them)."""
    with running_kinto(postgres_server, tmp_path, accounts=True) as server:
        yield server
