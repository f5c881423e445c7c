"""Permissions on a real server: Kinto with its accounts plugin, driven by its official client.

An application's end-to-end permission suite, recorded through the real proxy: the admin sets up a
bucket, a group with alice and bob, and gives the group write access to a collection; bob writes a
record; the admin removes bob from the group and bob is refused a new record. Carol is refused a
record, is granted read on the collection, reads it; her account is deleted and re-created, and the
new carol logs in. kinto-http makes the bucket, collection, group and record calls; accounts are plain
requests (kinto-http has no call for them).

Explored with ``--depth 3`` from the recording's start state, two of Kinto's documented behaviours
must be reported, because a tester of an app built on Kinto must see them:
- a member removed from a group keeps write access to the record he wrote while in it (Kinto gave
  him an owner entry on it);
- an account deleted and re-created under the same name gets the old account's access (Kinto keeps
  the ``account:carol`` entries of the deleted account).
Nothing else may be reported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.kinto_permissions_traffic import drive_permission_suite
from support.proxy import recording_proxy

kinto_http = pytest.importorskip("kinto_http", reason="the test extra installs kinto-http")
pytest.importorskip("kinto", reason="the test extra installs kinto[postgresql]")

def test_kinto_permission_behaviours_are_reported_and_nothing_else(kinto_accounts_server, tmp_path):
    url = kinto_accounts_server.url
    recording = tmp_path / "kinto-permissions.vrec"
    with recording_proxy(url, recording, "--db", kinto_accounts_server.db_url) as proxy:
        drive_permission_suite(proxy.url)
    calls = [(ex.request.method, ex.request.path, ex.response.status) for ex in proxy.recording().exchanges]
    assert ("PATCH", "/v1/buckets/team/groups/editors", 200) in calls, calls

    report_dir = tmp_path / "report"
    explored = subprocess.run(
        [sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), "--target", url,
         "--db", kinto_accounts_server.db_url, "--report", str(report_dir), "--depth", "3", "--time-limit", "240"],
        check=False, capture_output=True, text=True, timeout=600)
    assert explored.returncode in (0, 1), explored.stdout[-2000:] + explored.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["db_restored"] is True, report["warnings"]
    agreement = report["replay_agreement"]
    assert agreement["same_status_class"] >= 0.98 * agreement["steps"], agreement.get("first_mismatches")
    print(f"{report['transitions']} transitions, {report['states']} states, stopped: {report['stopped']}")
    for f in report["findings"]:
        print(f["checker"], f["message"], [f"{s['method']} {s['path']} {s['status']}" for s in f["sequence"]])

    by_checker: dict[str, list[dict]] = {}
    for f in report["findings"]:
        by_checker.setdefault(f["checker"], []).append(f)
    assert set(by_checker) == {"access-after-revoke", "inherited-identity"}, [f["message"] for f in report["findings"]]

    (kept_write,) = by_checker["access-after-revoke"]
    steps = [(s["method"], s["path"], s["status"]) for s in kept_write["sequence"]]
    assert steps[-2] == ("PATCH", "/v1/buckets/team/groups/editors", 200), steps
    # his own record (the replay's id for it: records made by POST get the server's ids)
    assert steps[-1][0] in ("PATCH", "PUT", "DELETE") and "/collections/notes/records/" in steps[-1][1], steps
    assert kept_write["details"]["user"] in ("bob", "account:bob")

    (inherited,) = by_checker["inherited-identity"]
    steps = [(s["method"], s["path"], s["status"]) for s in inherited["sequence"]]
    assert steps[-3:-1] == [("DELETE", "/v1/accounts/carol", 200), ("PUT", "/v1/accounts/carol", 201)], steps
    assert steps[-1][0] == "GET" and "/collections/notes/records/" in steps[-1][1] and steps[-1][2] == 200, steps
