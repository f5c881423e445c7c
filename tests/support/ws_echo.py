"""A tiny real websocket echo server (wsproto over sockets) and a matching client, for the tests
that check websockets passing through the recording proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage


def _serve_one(conn: socket.socket) -> None:
    ws = WSConnection(ConnectionType.SERVER)
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    conn.sendall(ws.send(AcceptConnection()))
                elif isinstance(event, TextMessage):
                    conn.sendall(ws.send(Message(data=f"echo: {event.data}")))
                elif isinstance(event, CloseConnection):
                    conn.sendall(ws.send(event.response()))
                    return


@contextmanager
def ws_echo_server() -> Iterator[int]:
    """Yields the port of a websocket echo server on 127.0.0.1."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        srv.close()


def ws_roundtrip(port: int, path: str, messages: list[str], timeout: float = 10.0) -> list[str]:
    """Open a websocket to 127.0.0.1:port, send each message, return the replies, close cleanly."""
    ws = WSConnection(ConnectionType.CLIENT)
    replies: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:

        def pump() -> list:
            ws.receive_data(sock.recv(65536))
            return list(ws.events())

        sock.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target=path)))
        while not any(isinstance(e, AcceptConnection) for e in pump()):
            pass
        for text in messages:
            sock.sendall(ws.send(Message(data=text)))
            while True:
                got = [e.data for e in pump() if isinstance(e, TextMessage)]
                if got:
                    replies.extend(got)
                    break
        sock.sendall(ws.send(CloseConnection(code=1000)))
        while True:
            events = pump()
            if any(isinstance(e, CloseConnection) for e in events) or not events:
                break
    return replies
