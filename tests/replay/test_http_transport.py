"""Transport: a pooled connection the server closed (as uvicorn does after a 500) or reset is not the
end of a branch: the request is sent once more on a fresh connection. A refused connection is not
retried.

The server is a real one on a loopback port, speaking HTTP/1.1 keep-alive by hand so that it can
misbehave exactly: it answers the first request on each connection and then, on the next request
over that same connection, closes it (or resets it) without an answer.
"""

from __future__ import annotations

import socket
import socketserver
import struct
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

import pytest

from support.net import free_port
from support.threaded_server import serving
from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.recording import Request
from venom_replay.replay.http_client import HttpClient


@dataclass
class Seen:
    connections: int = 0
    answered: list[str] = field(default_factory=list)
    dropped: int = 0


def _read_request(rfile) -> str | None:
    line = rfile.readline()
    if not line:
        return None
    length = 0
    while True:
        header = rfile.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        rfile.read(length)
    return line.decode("latin-1").split(" ")[1]


def _server(mode: str, seen: Seen) -> socketserver.ThreadingTCPServer:
    class OneAnswerPerConnection(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            seen.connections += 1
            first = _read_request(self.rfile)
            if first is None:
                return
            seen.answered.append(first)  # before the answer: the client may be done right after it
            body = b'{"ok": true}'
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.wfile.flush()
            if _read_request(self.rfile) is None:
                return
            seen.dropped += 1
            if mode == "reset":  # RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), OneAnswerPerConnection)
    server.daemon_threads = True
    return server


@pytest.fixture(params=["close", "reset"])
def misbehaving(request) -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    with serving(_server(request.param, seen)) as url:
        yield url, seen


TEMPLATE = ActionTemplate(id="POST /things", method="POST", path="/things")


def _post(path: str) -> Request:
    return Request("POST", "http", "api.test", 80, path, headers=[("Content-Type", "application/json")], body=b"{}")


def test_a_dead_pooled_connection_is_retried_once_on_a_fresh_one(misbehaving):
    url, seen = misbehaving
    with closing(HttpClient(url)) as client:
        results = [client.execute(TEMPLATE, _post(f"/things/{i}")) for i in range(3)]
    assert [r.error for r in results] == [None, None, None]
    assert [r.response.status for r in results] == [200, 200, 200]
    # Every second request met the dead connection and was sent again on a new one.
    assert seen.answered == ["/things/0", "/things/1", "/things/2"]
    assert seen.dropped == 2 and client.retried == 2 and seen.connections == 3


def test_a_refused_connection_is_not_retried():
    with closing(HttpClient(f"http://127.0.0.1:{free_port()}", timeout=2)) as client:
        result = client.execute(TEMPLATE, _post("/things"))
    assert result.response is None and "connection refused" in result.error
    assert client.retried == 0
