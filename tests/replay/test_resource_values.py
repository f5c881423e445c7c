"""Values bound to the resource, not to the template: a conditional write carries the ETag of the
resource it writes, read from the latest answer about that resource on the path.

A real HTTP server (records with versions, ``If-Match`` checked, 412 on a stale one) and a
hand-built TemplateSet whose ``If-Match`` binding is marked ``same_resource``; the step runner reads
record A, then record B, then patches A: the patch must carry A's ETag, not B's (the latest answer
of the producing template), and answer 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.threaded_server import serving
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production, TemplateSet
from venom_replay.proxy.recording import Request
from venom_replay.replay.explorer.steps import StepRunner
from venom_replay.replay.findings import Action
from venom_replay.replay.http_client import HttpClient


class _Records(BaseHTTPRequestHandler):
    versions: dict[str, int] = {}

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict, etag: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        rid = self.path.rsplit("/", 1)[-1]
        self._send(200, {"id": rid, "version": self.versions[rid]}, etag=f'"{self.versions[rid]}"')

    def do_PATCH(self) -> None:  # noqa: N802
        rid = self.path.rsplit("/", 1)[-1]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("If-Match") != f'"{self.versions[rid]}"':
            self._send(412, {"error": "precondition failed", "got": self.headers.get("If-Match")})
            return
        self.versions[rid] += 1
        self._send(200, {"id": rid, "version": self.versions[rid]}, etag=f'"{self.versions[rid]}"')


@pytest.fixture
def records_url() -> Iterator[str]:
    handler = type("Records", (_Records,), {"versions": {"a": 1, "b": 7, "c": 3}})  # fresh records per test
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


def _req(method: str, path: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Request:
    return Request(method, "http", "api.test", 80, path, headers=headers or [], body=body)


def _templates(*, same_resource: bool) -> TemplateSet:
    read = ActionTemplate(
        id="GET /records/{rid}", method="GET", path="/records/{rid}", host="api.test", effect="read",
        produces=[Production("etag", "header:ETag")],
        example_requests=[_req("GET", "/records/a"), _req("GET", "/records/b"), _req("GET", "/records/c")])
    patch = ActionTemplate(
        id="PATCH /records/{rid}", method="PATCH", path="/records/{rid}", host="api.test", effect="update",
        consumes=[Consumption("etag", "header:If-Match", read.id, "header:ETag", same_resource=same_resource)],
        example_requests=[_req("PATCH", f"/records/{rid}", [("If-Match", '"0"'), ("Content-Type", "application/json")],
                               b'{"note": "x"}') for rid in ("a", "b", "c")])
    return TemplateSet(templates={read.id: read, patch.id: patch}, sessions={})


def _walk(runner: StepRunner, actions: list[Action]):
    values: dict = {}
    results = []
    for action in actions:
        res = runner.run(action, values)
        assert res.response is not None, res.error
        values = runner.bind(values, res, action)
        results.append(res)
    return values, results


READ_A, READ_B, READ_C = (Action("GET /records/{rid}", i) for i in range(3))
PATCH_A, PATCH_B, PATCH_C = (Action("PATCH /records/{rid}", i) for i in range(3))


def test_a_conditional_write_carries_the_etag_of_the_resource_it_writes(records_url):
    with closing(HttpClient(records_url)) as client:
        runner = StepRunner(_templates(same_resource=True), client, [])
        values, results = _walk(runner, [READ_A, READ_B, PATCH_A])
        assert [r.response.status for r in results] == [200, 200, 200]
        assert results[-1].request.header("If-Match") == '"1"'
        # Record C was never read on this path: there is no version of it to send back.
        assert not runner.enabled(PATCH_C, values)
        assert runner.enabled(PATCH_B, values)
        res = runner.run(PATCH_B, values)
        assert res.response.status == 200 and res.request.header("If-Match") == '"7"'


def test_without_same_resource_the_latest_answer_of_the_template_is_taken(records_url):
    # The behaviour the marking fixes: record B's ETag on record A's patch, refused with 412.
    with closing(HttpClient(records_url)) as client:
        runner = StepRunner(_templates(same_resource=False), client, [])
        values, _ = _walk(runner, [READ_A, READ_B])
        res = runner.run(PATCH_A, values)
        assert res.request.header("If-Match") == '"7"' and res.response.status == 412
