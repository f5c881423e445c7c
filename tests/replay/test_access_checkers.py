"""Grants, revocations and re-created principals: the principals model on its own, then the
access-after-revoke and inherited-identity checkers end to end on tests/apps/acl_api.py (accounts,
groups and ACLs on SQLite, in its own process), recorded through the real proxy and explored with the
real CLI: each planted bug found with a short sequence, nothing on the correct twin."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import requests
from support.http_app import running_app
from support.proxy import recording_proxy
from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.principals import (
    AccessTracker,
    caller_names,
    covers,
    principal_lists,
    principal_names,
    refusal_evidence,
)

# --- the principals model, on hand-built steps -------------------------------------------------------


def _basic(user: str, password: str = "pw-123") -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def _step(method: str, pattern: str, path: str, body: object = None, answer: object = None, status: int = 200,
          user: str | None = None, headers: list[tuple[str, str]] | None = None) -> StepResult:
    hdrs = list(headers or [])
    if user is not None:
        hdrs.append(_basic(user))
    request = Request(method=method, scheme="http", host="api", port=80, path=path, query=[], headers=hdrs,
                      body=json.dumps(body).encode() if body is not None else b"")
    response = Response(status=status, headers=[("Content-Type", "application/json")],
                        body=json.dumps(answer if answer is not None else {}).encode())
    template = ActionTemplate(id=f"{method} {pattern}", method=method, path=pattern)
    return StepResult(template=template, request=request, response=response)


def test_principal_names_match_kinto_accounts_to_basic_users():
    assert principal_names("account:bob") == {"account:bob", "bob"}
    assert principal_names("bob") == {"bob"}
    assert "bob" not in principal_names("account:bobby")


def test_the_caller_is_the_basic_user_or_the_user_its_token_was_issued_to():
    basic = _step("GET", "/me", "/me", user="bob")
    assert caller_names([basic], 0) == {"bob"}
    login = _step("POST", "/login", "/login", body={"username": "carol", "password": "x"},
                  answer={"token": "tok-0123456789", "user_id": 7})
    call = _step("GET", "/me", "/me", headers=[("Authorization", "Bearer tok-0123456789")])
    names = caller_names([login, call], 1)
    assert {"carol", "7"} <= names
    assert "tok-0123456789" not in names  # the secret is not a name
    anonymous = _step("GET", "/me", "/me")
    assert caller_names([anonymous], 0) == frozenset()


def test_members_and_acl_lists_are_found_in_bodies():
    body = {"data": {"members": ["account:bob"], "title": "x"}, "permissions": {"write": ["/buckets/b/groups/g"]}}
    assert principal_lists(body) == {"data.members": ["account:bob"], "permissions.write": ["/buckets/b/groups/g"]}
    assert principal_lists({"tags": ["a", "b"], "data": {"items": ["x"]}}) == {}


def test_a_members_list_that_loses_a_principal_is_a_revocation_and_one_that_gains_is_a_grant():
    group = "/v1/buckets/b/groups/editors"
    tracker = AccessTracker()
    tracker.add(_step("PUT", "/v1/buckets/b/groups/{g}", group, {"data": {"members": ["account:alice", "account:bob"]}},
                      {"data": {"id": "editors", "members": ["account:alice", "account:bob"]}}, user="admin"))
    removed = tracker.add(_step("PATCH", "/v1/buckets/b/groups/{g}", group, {"data": {"members": ["account:alice"]}},
                                {"data": {"id": "editors", "members": ["account:alice"]}}, user="admin"))
    assert [(c.kind, set(c.principals)) for c in removed] == [("revoke", {"account:bob"})]
    assert removed[0].concerns({"bob"}) and not removed[0].concerns({"alice"})
    added = tracker.add(_step("PATCH", "/v1/buckets/b/groups/{g}", group, {"data": {"members": ["account:alice", "account:carol"]}},
                              {"data": {"id": "editors", "members": ["account:alice", "account:carol"]}}, user="admin"))
    assert [(c.kind, set(c.principals)) for c in added] == [("grant", {"account:carol"})]
    # a refused change changes nothing
    assert tracker.add(_step("PATCH", "/v1/buckets/b/groups/{g}", group, {"data": {"members": []}},
                             {"error": "no"}, status=403, user="bob")) == []


def test_a_group_revocation_covers_what_the_groups_acl_entries_give():
    tracker = AccessTracker()
    tracker.add(_step("PUT", "/v1/buckets/b/groups/{g}", "/v1/buckets/b/groups/editors", {"data": {"members": ["account:bob"]}},
                      {"data": {"id": "editors", "members": ["account:bob"]}}, user="admin"))
    tracker.add(_step("PATCH", "/v1/buckets/b/collections/{c}", "/v1/buckets/b/collections/notes",
                      {"permissions": {"write": ["/buckets/b/groups/editors"]}},
                      {"data": {"id": "notes"}, "permissions": {"write": ["/buckets/b/groups/editors"]}}, user="admin"))
    (revoke,) = tracker.add(_step("PATCH", "/v1/buckets/b/groups/{g}", "/v1/buckets/b/groups/editors",
                                  {"data": {"members": []}}, {"data": {"id": "editors", "members": []}}, user="admin"))
    inside = _step("PATCH", "/v1/buckets/b/collections/{c}/records/{r}", "/v1/buckets/b/collections/notes/records/r1",
                   {"data": {"x": 1}}, user="bob")
    elsewhere = _step("PATCH", "/v1/buckets/b/collections/{c}/records/{r}", "/v1/buckets/b/collections/other/records/r1",
                      {"data": {"x": 1}}, user="bob")
    assert covers(revoke.scope, inside, tracker.book)
    assert not covers(revoke.scope, elsewhere, tracker.book)


def test_permission_calls_are_recognised_by_path_words_and_body_fields():
    tracker = AccessTracker()
    (grant,) = tracker.add(_step("POST", "/api/3.0/mlflow/users/permissions/grant", "/api/3.0/mlflow/users/permissions/grant",
                                 {"username": "bob", "resource_type": "experiment", "resource_id": "1", "permission": "EDIT"},
                                 user="alice"))
    (revoke,) = tracker.add(_step("POST", "/api/2.0/mlflow/experiments/permissions/delete",
                                  "/api/2.0/mlflow/experiments/permissions/delete",
                                  {"experiment_id": "1", "username": "bob"}, user="alice"))
    assert (grant.kind, revoke.kind) == ("grant", "revoke")
    assert grant.scope.kind == revoke.scope.kind == "field:experimentid"
    create_run = _step("POST", "/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/create", {"experiment_id": "1"}, user="bob")
    other = _step("POST", "/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/create", {"experiment_id": "2"}, user="bob")
    assert covers(revoke.scope, create_run) and not covers(revoke.scope, other)
    # reading a grant and deleting an experiment are no access changes
    assert tracker.add(_step("GET", "/api/3.0/mlflow/users/permissions/get", "/api/3.0/mlflow/users/permissions/get",
                             user="admin")) == []
    assert tracker.add(_step("POST", "/api/2.0/mlflow/experiments/delete", "/api/2.0/mlflow/experiments/delete",
                             {"experiment_id": "1"}, user="alice")) == []


def test_refusals_without_the_grant_are_the_evidence_that_access_is_checked():
    grant = _step("POST", "/perms/grant", "/perms/grant", {"username": "bob", "project_id": "p1"}, user="admin")
    refused_before = _step("POST", "/tasks/create", "/tasks/create", {"project_id": "p1"}, {"error": "no"}, 403, user="bob")
    read_ok = _step("GET", "/tasks/list", "/tasks/list", None, {"tasks": []}, user="bob")
    assert refusal_evidence([refused_before, grant, read_ok]) == {("field:projectid", "write")}
    # refused something the grant is not about: no evidence
    unrelated = _step("POST", "/tasks/create", "/tasks/create", {"project_id": "p2"}, {"error": "no"}, 403, user="bob")
    assert refusal_evidence([unrelated, grant]) == set()


# --- end to end on tests/apps/acl_api.py ---------------------------------------------------------------


PLAN = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
LATER = "0b6a1f1e-3c52-4b8e-9f33-2d1c8a4e5b10"
"""Document ids as a client library picks them (uuids), so that the calls on documents are one template."""


def drive(url: str) -> None:
    """An e2e permission suite of an app on the store: none of the planted bug sequences is in it.

    Without ``--swap-identities`` the explorer sends each call as the first user the recording shows
    making it: bob is the first to write the document, carol the first to read it."""

    def as_user(name: str, password: str) -> requests.Session:
        s = requests.Session()
        s.auth = (name, password)
        return s

    def call(s: requests.Session, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        r = s.request(method, url + path, json=body, timeout=10)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json()

    anyone = requests.Session()
    admin = as_user("admin", "admin-pw")
    call(anyone, "PUT", "/accounts/alice", {"password": "alice-pw-1"}, 201)
    call(anyone, "PUT", "/accounts/bob", {"password": "bob-pw-1"}, 201)
    alice, bob = as_user("alice", "alice-pw-1"), as_user("bob", "bob-pw-1")
    call(admin, "PUT", "/groups/editors", {"members": ["account:alice", "account:bob"]}, 201)
    call(admin, "PUT", "/folders/notes", {"permissions": {"write": ["/groups/editors"], "read": []}}, 201)
    call(bob, "PUT", f"/folders/notes/docs/{PLAN}", {"text": "bob's plan"}, 201)
    call(bob, "PATCH", f"/folders/notes/docs/{PLAN}", {"text": "bob's plan, v2"})
    # bob leaves the editors: he may no longer add documents
    call(admin, "PATCH", "/groups/editors", {"members": ["account:alice"]})
    call(bob, "PUT", f"/folders/notes/docs/{LATER}", {"text": "after leaving"}, 403)
    call(alice, "PATCH", f"/folders/notes/docs/{PLAN}", {"text": "alice's edit"})
    # carol may read once granted
    call(anyone, "PUT", "/accounts/carol", {"password": "carol-pw-1"}, 201)
    carol = as_user("carol", "carol-pw-1")
    call(carol, "GET", f"/folders/notes/docs/{PLAN}", expect=403)
    call(admin, "PATCH", "/folders/notes", {"permissions": {"read": ["account:carol"]}})
    call(carol, "GET", f"/folders/notes/docs/{PLAN}")
    # carol's account is deleted; a new carol signs up and logs in
    call(admin, "DELETE", "/accounts/carol")
    call(anyone, "PUT", "/accounts/carol", {"password": "carol-pw-2"}, 201)
    call(as_user("carol", "carol-pw-2"), "GET", "/me")


def _dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()) for t in tables]


def record_and_explore(tmp_path: Path, *, fixed: bool) -> dict:
    db = tmp_path / "acl.db"
    env = {"ACL_DB": f"sqlite:///{db}", "ACL_FIXED": "1" if fixed else "0"}
    with running_app("apps.acl_api:create_app", env=env) as api:
        with recording_proxy(api.url, tmp_path / "acl.vrec", "--db", f"sqlite:///{db}") as proxy:
            drive(proxy.url)
        before = _dump(db)
        out = tmp_path / "report"
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", "--no-mutations", str(proxy.path), "--target",
                              api.url, "--db", f"sqlite:///{db}", "--report", str(out), "--depth", "3",
                              "--time-limit", "120"], check=False, capture_output=True, text=True, timeout=400)
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True and _dump(db) == before
    agreement = report["replay_agreement"]
    assert agreement["same_status_class"] == agreement["steps"], agreement.get("first_mismatches")
    return report


def _calls(finding: dict) -> list[str]:
    return [f"{s['method']} {s['path']} {s['status']}" for s in finding["sequence"]]


def test_planted_access_bugs_are_found_with_short_sequences(tmp_path):
    report = record_and_explore(tmp_path, fixed=False)
    by_checker: dict[str, list[dict]] = {}
    for f in report["findings"]:
        by_checker.setdefault(f["checker"], []).append(f)
    assert set(by_checker) == {"access-after-revoke", "inherited-identity"}, [f["message"] for f in report["findings"]]
    (revoke,) = by_checker["access-after-revoke"]
    calls = _calls(revoke)
    # bob, out of the group, still writes the document he wrote while in it
    assert calls[-2:] in (["PATCH /groups/editors 200", f"PATCH /folders/notes/docs/{PLAN} 200"],
                          ["PATCH /groups/editors 200", f"DELETE /folders/notes/docs/{PLAN} 200"]), calls
    assert f"PUT /folders/notes/docs/{PLAN} 201" in calls and len(calls) <= 6, calls
    (inherited,) = by_checker["inherited-identity"]
    calls = _calls(inherited)
    # the new carol reads what the old one was granted
    assert calls[-3:] == ["DELETE /accounts/carol 200", "PUT /accounts/carol 201", f"GET /folders/notes/docs/{PLAN} 200"], calls
    assert "PATCH /folders/notes 200" in calls and len(calls) <= 9, calls


def test_correct_acl_twin_has_no_finding(tmp_path):
    report = record_and_explore(tmp_path, fixed=True)
    assert report["transitions"] >= 30, report["transitions"]
    assert report["findings"] == [], [f["message"] for f in report["findings"]]


def test_a_learned_refusal_does_not_break_when_a_grant_to_the_caller_precedes_the_call():
    """The recording saw bob refused a second write on a project (he had no access then); on a path
    where alice grants bob access first, his success is what the grant is for."""
    from venom_replay.replay.learned.model import LearnedInvariant
    from venom_replay.replay.learned.status import check_status

    inv = LearnedInvariant(template="POST /projects/{project_id}/tasks", expr="status 4xx when repeated on the same resource",
                           kind="status", support=3, distinct=1, confidence=0.9, examples=[403],
                           params={"situation": "repeat"})
    alice_writes = _step("POST", "/projects/{project_id}/tasks", "/projects/5/tasks", {"title": "a"}, {"id": 1}, 201,
                         user="alice")
    grant = _step("POST", "/projects/{project_id}/members", "/projects/5/members", {"username": "bob"}, {}, 201,
                  user="alice")
    bob_writes = _step("POST", "/projects/{project_id}/tasks", "/projects/5/tasks", {"title": "b"}, {"id": 2}, 201,
                       user="bob")
    assert check_status(inv, [alice_writes, bob_writes]), "without a grant the learned refusal applies"
    assert check_status(inv, [alice_writes, grant, bob_writes]) == []
    grant_to_carol = _step("POST", "/projects/{project_id}/members", "/projects/5/members", {"username": "carol"}, {}, 201,
                           user="alice")
    assert check_status(inv, [alice_writes, grant_to_carol, bob_writes]), "a grant to someone else explains nothing"
