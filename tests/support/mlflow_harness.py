"""MLflow's tracking server with its basic-auth app on PostgreSQL, for real-client tests.

MLflow pins many packages, so it never goes into the interpreter that runs the test suite: it lives
in its own virtualenv (``MLFLOW_VENV``, created on first use by ``ensure_mlflow_venv()``), and both
the server and the client script (tests/apps/mlflow_client_traffic.py) run from there as
subprocesses. The tests only start them and talk HTTP.

- ``ensure_mlflow_venv()``: the venv's python, creating the venv when it is missing or incomplete
  (about a minute on this machine; a marker file records the pinned version it holds).
- ``running_mlflow(postgres_server, workdir)``: a context manager that creates two fresh databases
  on the test's PostgreSQL server (the tracking store and the auth store), writes basic_auth.ini
  with the auth database and the admin's credentials, runs
  ``mlflow server --app-name basic-auth --backend-store-uri postgresql+psycopg://...`` on a free
  loopback port, waits for ``/health`` and yields an ``MlflowServer``; afterwards it stops the
  server's whole process group and drops both databases.

Settings that keep the server's state in the databases, where a rollback reaches it:
one worker process (``--workers 1``), MLflow's background job runner off
(``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: its huey consumers and periodic tasks would write on
their own), the auth app's credential cache left at its default (off), and artifacts in the test's
temporary directory (the session logs none).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .net import free_port

MLFLOW_VERSION = "3.17.2"
"""Pinned: the newest release whose whole dependency set installs from the package index here."""
MLFLOW_REQUIREMENTS = [f"mlflow[auth]=={MLFLOW_VERSION}", "psycopg[binary]>=3.1"]
MLFLOW_VENV = Path(os.environ.get("VENOM_MLFLOW_VENV", "/opt/venom-venvs/mlflow"))
ADMIN = ("admin", "admin-password-1")
TESTS_DIR = Path(__file__).resolve().parent.parent
CLIENT_SCRIPT = TESTS_DIR / "apps" / "mlflow_client_traffic.py"

BASIC_AUTH_INI = """\
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = {auth_db}
admin_username = {admin_user}
admin_password = {admin_password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
"""


def _marker(venv: Path) -> Path:
    return venv / "venom-ready.txt"


def ensure_mlflow_venv(venv: Path = MLFLOW_VENV, timeout: float = 900) -> Path:
    """The venv's python; creates the venv (``python -m venv`` + ``pip install``) when it is missing.

    A marker file written last says the install completed with the pinned requirements; a venv
    without it (an interrupted install, another version) is removed and made again. A lock file
    next to the venv keeps two test processes from building it at the same time.
    """
    python = venv / "bin" / "python"
    wanted = "\n".join(MLFLOW_REQUIREMENTS)
    if python.exists() and _marker(venv).exists() and _marker(venv).read_text() == wanted:
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and _marker(venv).exists() and _marker(venv).read_text() == wanted:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *MLFLOW_REQUIREMENTS]]
        deadline = time.monotonic() + timeout
        for step in steps:
            done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=max(30.0, deadline - time.monotonic()))
            if done.returncode:
                raise RuntimeError(f"creating the MLflow venv failed at {step[:4]}: "
                                   f"{(done.stderr or done.stdout)[-3000:]}")
        _marker(venv).write_text(wanted)
    return python


@dataclass
class MlflowServer:
    url: str
    tracking_db_url: str
    """``postgresql://`` URL of the tracking store (what ``venom-replay --db`` and psycopg take)."""
    auth_db_url: str
    """``postgresql://`` URL of the basic-auth app's user and permission store."""
    admin: tuple[str, str]
    python: Path
    """The venv's python, which also runs the client script."""
    proc: subprocess.Popen
    log: Path

    def run_client(self, url: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run tests/apps/mlflow_client_traffic.py from the venv against ``url`` (e.g. the proxy)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MLFLOW_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env["PYTHONWARNINGS"] = "ignore"
        return subprocess.run([str(self.python), str(CLIENT_SCRIPT), url, *self.admin], check=False,
                              capture_output=True, text=True, env=env, timeout=timeout)


def _sqlalchemy_url(pg_url: str) -> str:
    return pg_url.replace("postgresql://", "postgresql+psycopg://", 1)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with code {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"mlflow server not healthy after {timeout} s: {log.read_text()[-3000:]}")


def _stop_group(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop the server and its children (uvicorn runs in a child): the process group we started."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):  # a child still alive after the parent left
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def running_mlflow(postgres_server, workdir: Path, *, start_timeout: float = 180) -> Iterator[MlflowServer]:
    """MLflow with basic auth on two fresh databases of ``postgres_server``; stopped and dropped after."""
    python = ensure_mlflow_venv()
    tracking_db = postgres_server.create_database()
    auth_db = postgres_server.create_database()
    proc = None
    try:
        tracking_url, auth_url = postgres_server.url(tracking_db), postgres_server.url(auth_db)
        workdir.mkdir(parents=True, exist_ok=True)
        ini = workdir / "basic_auth.ini"
        ini.write_text(BASIC_AUTH_INI.format(auth_db=_sqlalchemy_url(auth_url), admin_user=ADMIN[0],
                                             admin_password=ADMIN[1]))
        artifacts = workdir / "artifacts"
        artifacts.mkdir(exist_ok=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(ini), MLFLOW_FLASK_SERVER_SECRET_KEY="venom-replay-test-key",
                   MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", PYTHONWARNINGS="ignore")
        log = workdir / "mlflow-server.log"
        with open(log, "wb") as sink:
            proc = subprocess.Popen(
                [str(python), "-m", "mlflow", "server", "--app-name", "basic-auth",
                 "--backend-store-uri", _sqlalchemy_url(tracking_url), "--default-artifact-root", str(artifacts),
                 "--no-serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log, start_timeout)
        yield MlflowServer(url=url, tracking_db_url=tracking_url, auth_db_url=auth_url, admin=ADMIN,
                           python=python, proc=proc, log=log)
    finally:
        if proc is not None:
            _stop_group(proc)
        postgres_server.drop_database(tracking_db)
        postgres_server.drop_database(auth_db)
