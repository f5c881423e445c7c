"""`venom-replay invariants`: as a user runs it, on traffic recorded through the real proxy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.http_app import running_app

from apps.learned_apis import APIS


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "invariants", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def quota_recording(tmp_path_factory):
    from support.proxy import recording_proxy

    tmp = tmp_path_factory.mktemp("invariants-cli")
    factory, traffic = APIS["quota"]
    out = tmp / "quota.vrec"
    with running_app(factory, env={"LEARNED_DB": str(tmp / "quota.db")}) as app:
        with recording_proxy(app.url, out) as proxy:
            traffic(proxy.url)
    return out


def test_json_lists_invariants_with_support(quota_recording):
    result = run_cli(str(quota_recording), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # nothing but JSON on stdout
    rows = {(r["template"], r["expr"]): r for r in data["invariants"]}
    relation = rows["POST /accounts/{account_id}/consume", "$.used <= $.quota"]
    assert relation["support"] == 7 and relation["distinct"] == 7 and relation["kind"] == "le"
    assert 0.5 < relation["confidence"] <= 1 and relation["examples"]
    assert {"template", "expr", "support"} <= set(data["invariants"][0])


def test_table_per_template_and_filters(quota_recording):
    result = run_cli(str(quota_recording), "--kind", "le", "--template", "consume")
    assert result.returncode == 0, result.stderr
    assert "POST /accounts/{account_id}/consume" in result.stdout
    assert "$.used <= $.quota" in result.stdout and "used=7 quota=10" in result.stdout
    assert "GET /accounts/{account_id}" not in result.stdout  # filtered out by --template
    assert "is number" not in result.stdout  # filtered out by --kind


def test_config_ignore_is_shown_and_min_support_applies(quota_recording, tmp_path):
    (tmp_path / "venom.toml").write_text('[learned]\nignore = ["GET /accounts/{account_id} :: $.used <= $.quota"]\n')
    data = json.loads(run_cli(str(quota_recording), "--json", cwd=tmp_path).stdout)
    ignored = {r["expr"] for r in data["invariants"] if r["ignored"] and r["template"] == "GET /accounts/{account_id}"}
    assert ignored == {"$.used <= $.quota"}
    # Seven consumptions are not enough evidence when eight are asked for.
    strict = json.loads(run_cli(str(quota_recording), "--json", "--min-support", "8", cwd=tmp_path).stdout)
    assert ("POST /accounts/{account_id}/consume", "$.used <= $.quota") not in {(r["template"], r["expr"]) for r in strict["invariants"]}


def test_bad_input_is_one_line(tmp_path):
    missing = run_cli(str(tmp_path / "nope.vrec"))
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: {tmp_path / 'nope.vrec'}: no such file"
    (tmp_path / "venom.toml").write_text("[learned]\nignore = 3\n")
    notalist = run_cli(str(tmp_path / "nope.vrec"), cwd=tmp_path)
    assert notalist.returncode == 2 and "ignore must be a list" in notalist.stderr and "Traceback" not in notalist.stderr
