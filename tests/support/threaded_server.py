"""A socket server of the test's own (http.server, socketserver, werkzeug) serving from a thread on a
loopback port, for tests that need a real server that misbehaves in one exact way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving(server: Any) -> Iterator[str]:
    """Serve ``server`` (bound to 127.0.0.1) until the block ends; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
