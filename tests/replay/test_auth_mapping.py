"""Credentials per identity: a recording made where the admin's password is one thing explores a copy
of the API where it is another, with ``--auth`` or ``[auth]``, and finds the same; without them the
target does not behave like the recording (exit 2). Secrets never reach the reports or the output.

Real pieces: tests/apps/basic_auth_api.py in its own process (HTTP Basic; ``BASIC_ADMIN_PASSWORD``
sets the admin's password), the bundled demo shop (a login through a JSON body that hands out a
bearer token; its planted bugs give findings to compare; the copy's admin password is changed in
its SQLite database), the real recording proxy and the real CLI.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from apps.basic_auth_traffic import ADMIN, drive
from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.recording import read_recording
from venom_replay.replay.auth import (
    auth_from_config,
    map_identities,
    parse_auth_options,
    parse_credential,
)

STAGING_PASSWORD = "staging-admin-Zq81xK"
EXPLORE_ARGS = ("--no-mutations", "--max-transitions", "60", "--depth", "2", "--prefix-roots", "0", "--timeout", "5")


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def notes_recording(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "notes.vrec"
    with running_app("apps.basic_auth_api:create_app") as api:
        with recording_proxy(api.url, path) as proxy:
            drive(proxy.url, "keep-alive")
        assert proxy.proc.returncode == 0, proxy.stderr
    return path


# ---------------------------------------------------------------- parsing (pure logic)


def test_credentials_parse_and_read_the_environment(monkeypatch):
    monkeypatch.setenv("ALICE_PASSWORD", "pw:with:colons")
    assert parse_auth_options(["alice=basic:alice:${ALICE_PASSWORD}"])["alice"].header_value() == \
        "Basic " + base64.b64encode(b"alice:pw:with:colons").decode()
    assert parse_credential("bearer:tok-1", "x").header_value() == "Bearer tok-1"
    key = parse_credential("header:X-Api-Key:k-9", "x")
    assert (key.header, key.header_value()) == ("X-Api-Key", "k-9")
    assert "pw:with" not in repr(parse_auth_options(["alice=basic:alice:${ALICE_PASSWORD}"]))


def test_bad_credentials_and_unset_variables_are_errors_that_name_no_secret(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        auth_from_config({"auth": {"alice": "basic:alice:${NOT_SET_ANYWHERE}"}})
    with pytest.raises(ConfigError, match="expected basic:USER:PASS") as err:
        parse_auth_options(["alice=digest:alice:hunter22"])
    assert "hunter22" not in str(err.value)
    with pytest.raises(ConfigError, match="IDENTITY="):
        parse_auth_options(["basic:alice:hunter22"])


def test_identities_are_named_by_user_and_an_unknown_one_is_refused(notes_recording):
    exchanges = read_recording(notes_recording).exchanges
    with pytest.raises(ConfigError, match="no recorded identity 'mallory'.*recorded: admin, alice, bob, carol, identity-1"):
        map_identities(parse_auth_options(["mallory=basic:m:secret"]), exchanges)


# ---------------------------------------------------------------- the real CLI


def test_show_lists_the_recorded_identities_without_credentials(notes_recording, tmp_path):
    run = cli("show", str(notes_recording), "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    identities = json.loads(run.stdout)["identities"]
    # alice's second password was set by a recorded call: still alice, not a new identity
    assert [(i["name"], i["kind"]) for i in identities] == [
        ("admin", "basic"), ("alice", "basic"), ("bob", "basic"), ("carol", "basic"), ("identity-1", "header:x-api-key")]
    text = cli("show", str(notes_recording), cwd=tmp_path)
    assert "identities (for --auth NAME=...): admin, alice, bob, carol, identity-1 (basic: 4, header:x-api-key: 1)" \
        in " ".join(text.stdout.split())  # the console wraps long lines
    assert ADMIN[1] not in run.stdout + text.stdout


def _findings(report_dir: Path) -> list[tuple[str, str]]:
    report = json.loads((report_dir / "report.json").read_text())
    return sorted((f["checker"], f["signature"]) for f in report["findings"])


def _explore(recording: Path, cwd: Path, name: str, *extra: str, admin_password: str,
             env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    out = cwd / name
    with running_app("apps.basic_auth_api:create_app", env={"BASIC_ADMIN_PASSWORD": admin_password}) as api:
        run = cli("explore", str(recording), "--target", api.url, "--report", str(out), *EXPLORE_ARGS, *extra,
                  cwd=cwd, env=env)
    return run, out


def test_another_environment_gives_the_same_findings_with_mapped_credentials(notes_recording, tmp_path):
    same, same_dir = _explore(notes_recording, tmp_path, "same", admin_password=ADMIN[1])
    assert same.returncode in (0, 1), same.stdout + same.stderr

    other, other_dir = _explore(notes_recording, tmp_path, "other", "--auth", f"admin=basic:admin:{STAGING_PASSWORD}",
                                admin_password=STAGING_PASSWORD)
    assert other.returncode == same.returncode, other.stdout + other.stderr
    assert _findings(other_dir) == _findings(same_dir)
    agreement = json.loads((other_dir / "report.json").read_text())["replay_agreement"]
    assert agreement == json.loads((same_dir / "report.json").read_text())["replay_agreement"]

    # The same through [auth], reading the password from the environment.
    (tmp_path / "venom.toml").write_text('[auth]\nadmin = "basic:admin:${STAGING_ADMIN_PASSWORD}"\n')
    configured, configured_dir = _explore(notes_recording, tmp_path, "configured", admin_password=STAGING_PASSWORD,
                                          env={"STAGING_ADMIN_PASSWORD": STAGING_PASSWORD})
    assert configured.returncode == same.returncode, configured.stdout + configured.stderr
    assert _findings(configured_dir) == _findings(same_dir)

    # Secrets never go into the reports or the command's output.
    encoded = base64.b64encode(f"admin:{STAGING_PASSWORD}".encode()).decode()
    for out_dir, run in ((other_dir, other), (configured_dir, configured)):
        texts = [p.read_text(errors="replace") for p in out_dir.iterdir() if p.is_file()] + [run.stdout, run.stderr]
        assert len(texts) >= 4
        for text in texts:
            assert STAGING_PASSWORD not in text and encoded not in text


def test_without_the_mapping_the_target_does_not_behave_like_the_recording(notes_recording, tmp_path):
    run, _ = _explore(notes_recording, tmp_path, "unmapped", admin_password=STAGING_PASSWORD)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "did not behave like the recording" in run.stderr


# ---------------------------------------------------------------- a login through a body: the demo shop


def _explore_shop(recording: Path, cwd: Path, name: str, *extra: str, admin_password: str | None) -> tuple[subprocess.CompletedProcess, dict]:
    from venom_replay.replay.demo.shop import launch

    db = cwd / f"{name}.db"
    with launch(f"sqlite:///{db}") as shop:
        if admin_password is not None:  # the other environment: the same API, the admin has another password
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE users SET password = ? WHERE username = 'admin'", (admin_password,))
        run = cli("explore", str(recording), "--target", shop.url, "--db", f"sqlite:///{db}", "--report", str(cwd / name),
                  "--no-mutations", "--max-transitions", "120", "--depth", "3", "--timeout", "5", *extra, cwd=cwd)
    report = cwd / name / "report.json"
    return run, json.loads(report.read_text()) if report.exists() else {}


def _signatures(report: dict) -> list[str]:
    return sorted(f["signature"] for f in report["findings"])


def test_a_login_through_a_body_logs_in_with_the_mapped_password_and_finds_the_same_bugs(shop_recording, tmp_path):
    same, same_report = _explore_shop(shop_recording, tmp_path, "same", admin_password=None)
    assert same.returncode == 1, same.stdout + same.stderr
    assert len(same_report["findings"]) >= 2  # the shop's planted bugs

    other, other_report = _explore_shop(shop_recording, tmp_path, "other", "--auth", f"admin=basic:admin:{STAGING_PASSWORD}",
                                        admin_password=STAGING_PASSWORD)
    assert other.returncode == 1, other.stdout + other.stderr
    assert _signatures(other_report) == _signatures(same_report)
    assert other_report["replay_agreement"]["same_status_class"] == same_report["replay_agreement"]["same_status_class"]
    texts = [p.read_text(errors="replace") for p in (tmp_path / "other").iterdir() if p.is_file()]
    for text in [*texts, other.stdout, other.stderr]:
        assert STAGING_PASSWORD not in text

    # reproduce takes the same mapping, and shows no secret either
    from venom_replay.replay.demo.shop import launch

    db = tmp_path / "again.db"
    with launch(f"sqlite:///{db}") as shop:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE users SET password = ? WHERE username = 'admin'", (STAGING_PASSWORD,))
        again = cli("reproduce", str(tmp_path / "other" / "report.json"), "1", "--target", shop.url, "--db", f"sqlite:///{db}",
                    "--auth", f"admin=basic:admin:{STAGING_PASSWORD}", cwd=tmp_path)
        unmapped_again = cli("reproduce", str(tmp_path / "other" / "report.json"), "1", "--target", shop.url,
                             "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "reproduced" in again.stdout and STAGING_PASSWORD not in again.stdout + again.stderr
    assert unmapped_again.returncode == 0, unmapped_again.stdout + unmapped_again.stderr

    unmapped, _ = _explore_shop(shop_recording, tmp_path, "unmapped", admin_password=STAGING_PASSWORD)
    assert unmapped.returncode == 2, unmapped.stdout + unmapped.stderr
    assert "did not behave like the recording" in unmapped.stderr
