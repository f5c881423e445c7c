"""What an application using Kinto's official SDK (kinto-http) does, as recorded traffic for tests and benches."""

from __future__ import annotations

import kinto_http


def drive_kinto_sdk(api_url: str) -> dict[str, str]:
    """What an application using the SDK does: set up a bucket and a collection, keep some records."""
    client = kinto_http.Client(server_url=f"{api_url}/v1", auth=("alice", "alice-secret"))
    assert "project_name" in client.server_info()
    client.create_bucket(id="shop")
    client.create_collection(id="orders", bucket="shop")
    first = client.create_record(data={"item": "widget", "quantity": 2}, collection="orders", bucket="shop")
    second = client.create_record(data={"item": "gadget", "quantity": 1}, collection="orders", bucket="shop")
    client.get_record(id=first["data"]["id"], collection="orders", bucket="shop")
    client.patch_record(id=first["data"]["id"], data={"quantity": 3}, collection="orders", bucket="shop")
    client.update_record(id=second["data"]["id"], data={"item": "gadget", "quantity": 5}, collection="orders", bucket="shop")
    client.get_records(collection="orders", bucket="shop")
    client.delete_record(id=second["data"]["id"], collection="orders", bucket="shop")
    third = client.create_record(data={"item": "gizmo", "quantity": 7}, collection="orders", bucket="shop")
    current = client.get_record(id=third["data"]["id"], collection="orders", bucket="shop")
    # Optimistic concurrency: with safe=True the SDK sends If-Match with the version it read.
    client.update_record(id=third["data"]["id"], data={**current["data"], "quantity": 8}, collection="orders",
                         bucket="shop", safe=True)
    client.get_records(collection="orders", bucket="shop")
    return {"first": first["data"]["id"], "third": third["data"]["id"]}
