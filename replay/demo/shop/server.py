"""What the shop's process runs: parse the command line, build the app, serve it threaded.

The line ``demo shop listening on http(s)://HOST:PORT`` is how ``launch`` learns the port it got.
"""

from __future__ import annotations

import argparse
import logging
import ssl

from flask import Flask

from venom_replay.replay.demo.shop.app import create_app
from venom_replay.replay.demo.shop.process import MODULE
from venom_replay.replay.demo.shop.tls import self_signed_context

__all__ = ["main", "serve"]


def serve(app: Flask, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None) -> None:
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
    scheme = "https" if ssl_context is not None else "http"
    print(f"demo shop listening on {scheme}://{host}:{server.port}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="The venom-replay demo shop API (planted sequence bugs unless --fixed).",
        epilog=f"example: python -m {MODULE} --db sqlite:///tmp/shop.db --port 8000",
    )
    parser.add_argument("--db", required=True, help="sqlite:///path/to/file.db or postgresql://user@host:port/db")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fixed", action="store_true", help="the correct twin: no planted bugs")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate made at start-up")
    parser.add_argument("--tls-cert-out", metavar="FILE", help="with --tls: copy the certificate here, for clients to trust")
    args = parser.parse_args(argv)
    try:
        app = create_app(args.db, fixed=args.fixed)
        ssl_context = self_signed_context(args.host, cert_out=args.tls_cert_out) if args.tls else None
    except Exception as exc:  # a bad URL or an unreachable database: one line, not a traceback
        parser.exit(2, f"error: {exc}\n")
    try:
        serve(app, args.host, args.port, ssl_context=ssl_context)
    except KeyboardInterrupt:
        pass
