"""`venom-replay templates` as a user runs it: a table, --json for scripts, --config, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "240"}
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "templates", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120, env=env)


@pytest.fixture(scope="module")
def as_json(bindings_recording):
    proc = run(str(bindings_recording), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # nothing but JSON on stdout


def test_json_lists_templates_with_produces_and_consumes(as_json):
    by_id = {t["id"]: t for t in as_json["templates"]}
    refund = by_id["POST /users/{user_id}/orders/{order_id}/refund"]
    assert refund["method"] == "POST" and refund["path"] == "/users/{user_id}/orders/{order_id}/refund"
    assert {"var": "order_id", "in": "path:order_id", "producer": "POST /users/{user_id}/orders"}.items() <= next(
        c for c in refund["consumes"] if c["in"] == "path:order_id").items()
    assert {"var": "order_id", "from": "body:$.order_id"} in by_id["POST /users/{user_id}/orders"]["produces"]
    doc = next(c for c in by_id["GET /docs/{doc_id}"]["consumes"] if c["in"] == "path:doc_id")
    assert (doc["from"], doc["transform"]) == ("header:Location", "url-segment:1")
    assert by_id["GET /items/{item_id}"]["count"] == 12
    for template in as_json["templates"]:  # flows seen only across sessions are listed, never bound
        assert all(set(h) == {"in", "producer", "from", "instances"} for h in template["cross_session"])


def test_secrets_are_masked_in_examples(as_json):
    login = next(t for t in as_json["templates"] if t["id"] == "POST /login")
    password = next(f for f in login["fields"] if f["in"] == "body:$.password")
    assert password["examples"] and all("pw" != e for e in password["examples"])
    assert "pw" not in json.dumps(login["fields"]).replace("password", "")


def test_table_names_templates_and_producers(bindings_recording):
    proc = run(str(bindings_recording), "--fields")
    assert proc.returncode == 0, proc.stderr
    assert "GET /users/{user_id}/orders/{order_id}" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if "│ GET /items/{item_id}" in line)
    assert "path:item_id <- POST /items body:$.id" in row
    assert "***" in proc.stdout and "'pw'" not in proc.stdout  # the login password is masked


def test_config_renames_and_ignores(bindings_recording, tmp_path):
    (tmp_path / "venom.toml").write_text(
        '[templates]\nignore = ["GET /prefs"]\n[templates.names]\n"POST /login" = "login"\n'
    )
    proc = run(str(bindings_recording), "--json", cwd=tmp_path)  # found by searching from the cwd
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    ids = {t["id"] for t in data["templates"]}
    assert "login" in ids and "POST /login" not in ids and "GET /prefs" not in ids
    me = next(t for t in data["templates"] if t["id"] == "GET /me")
    assert {c["producer"] for c in me["consumes"]} == {"login"}
    assert data["ignored"] == 3


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "venom.toml"
    bad.write_text("[templates]\nignore = 3\n")
    rec = tmp_path / "x.vrec"
    rec.write_bytes(b"not a recording")
    proc = run(str(rec), "--config", str(bad))
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {bad}: templates.ignore must be a list of strings"
    proc = run(str(rec))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
