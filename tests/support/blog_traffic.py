"""Happy-path traffic of the blog API (tests/apps/blog_api.py), for tests and benches."""

from __future__ import annotations

import requests


def drive_blog(url: str) -> None:
    """Create three posts, list them a page at a time, read and update them, delete one."""
    s = requests.Session()
    s.headers["X-Venom-Session"] = "writer"

    def call(method: str, path: str, expect: int, body: dict | None = None) -> dict:
        r = s.request(method, url + path, json=body, timeout=10)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else {}

    ids = []
    for n, tags in enumerate((["news"], ["howto", "python"], ["news", "sql"]), 1):
        ids.append(call("POST", "/posts", 201, {"title": f"post {n}", "body": f"text {n}", "tags": tags})["id"])
    for per_page in (10, 20, 2):
        call("GET", f"/posts?page=1&per_page={per_page}", 200)
    for post_id in ids:
        call("GET", f"/posts/{post_id}", 200)
    call("PUT", f"/posts/{ids[0]}", 200, {"id": ids[0], "title": "post 1, edited", "body": "text 1", "tags": ["news"]})
    call("PUT", f"/posts/{ids[1]}", 200, {"id": ids[1], "title": "post 2", "body": "text 2, edited", "tags": ["howto"]})
    call("GET", f"/posts/{ids[1]}", 200)
    call("DELETE", f"/posts/{ids[2]}", 204)
    call("GET", "/posts?page=1&per_page=10", 200)
