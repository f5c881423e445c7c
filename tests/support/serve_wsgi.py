"""`python -m support.serve_wsgi module:factory --port N`: serve a WSGI app, threaded, on loopback."""

from __future__ import annotations

import argparse
import importlib
import logging

from werkzeug.serving import make_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("factory")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    module_name, _, attr = args.factory.partition(":")
    app = getattr(importlib.import_module(module_name), attr or "create_app")()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
