"""An application's end-to-end permission suite against Kinto with its accounts plugin (kinto-http for
buckets, collections, groups and records; plain requests for accounts), as recorded traffic for tests
and benches. See tests/replay/test_real_kinto_permissions.py for what exploring it must report."""

from __future__ import annotations

import kinto_http
import requests

PASSWORDS = {"admin": "admin-secret-1", "alice": "alice-secret-1", "bob": "bob-secret-1", "carol": "carol-secret-1"}


def _account(url: str, name: str, password: str, expect: int = 201) -> None:
    r = requests.put(f"{url}/v1/accounts/{name}", json={"data": {"password": password}}, timeout=10)
    assert r.status_code == expect, (name, r.status_code, r.text)


def _refused(call, **kwargs) -> int:
    try:
        call(**kwargs)
    except kinto_http.KintoException as refused:
        return refused.response.status_code
    raise AssertionError(f"{call.__name__} was not refused")


def drive_permission_suite(url: str) -> str:
    """The application's permission suite; returns bob's record id."""
    def client(name: str, password: str | None = None) -> kinto_http.Client:
        return kinto_http.Client(server_url=f"{url}/v1", auth=(name, password or PASSWORDS[name]))

    for name in ("admin", "alice", "bob"):
        _account(url, name, PASSWORDS[name])
    admin, bob = client("admin"), client("bob")
    admin.create_bucket(id="team")
    admin.create_group(id="editors", bucket="team", data={"members": ["account:alice", "account:bob"]})
    admin.create_collection(id="notes", bucket="team", permissions={"write": ["/buckets/team/groups/editors"]})
    record = bob.create_record(bucket="team", collection="notes", data={"title": "bob's plan"})["data"]
    bob.patch_record(id=record["id"], bucket="team", collection="notes", data={"title": "bob's plan, v2"})
    client("alice").create_record(bucket="team", collection="notes", data={"title": "alice's idea"})
    # bob leaves the editors: he may not add records any more
    admin.patch_group(id="editors", bucket="team", data={"members": ["account:alice"]})
    assert _refused(bob.create_record, bucket="team", collection="notes", data={"title": "after leaving"}) == 403
    # carol may read the notes once granted
    _account(url, "carol", PASSWORDS["carol"])
    carol = client("carol")
    assert _refused(carol.get_record, id=record["id"], bucket="team", collection="notes") == 403
    admin.patch_collection(id="notes", bucket="team", permissions={"read": ["account:carol"]})
    assert carol.get_record(id=record["id"], bucket="team", collection="notes")["data"]["title"] == "bob's plan, v2"
    # carol's account is deleted; a new carol signs up and logs in
    r = requests.delete(f"{url}/v1/accounts/carol", auth=("admin", PASSWORDS["admin"]), timeout=10)
    assert r.status_code == 200, r.text
    _account(url, "carol", "carol-secret-2")
    assert client("carol", "carol-secret-2").server_info()["user"]["id"] == "account:carol"
    return record["id"]



def drive_kinto_permissions(url: str) -> None:
    drive_permission_suite(url)
