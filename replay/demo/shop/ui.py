"""The shop's web front end: one HTML page and its script, which call the JSON API with fetch.

``GET /ui/`` serves the page and ``GET /ui/shop.js`` its script. The page signs in with
``POST /login`` and keeps the bearer token in the browser's ``shop_token`` cookie (path ``/ui``, so
the cookie never rides along on the API calls); every call the page makes sends it as
``Authorization: Bearer``, the same flow the scripted clients use. A browser context is one session:
its cookie jar holds who is signed in, and a reload stays signed in.

The page is a small WSGI app mounted beside the API (``mount``) rather than routes of it: the API's
own routes (what the scripted traffic covers, what an API description lists) stay the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

__all__ = ["PREFIX", "mount"]

PREFIX = "/ui"
_ASSETS = {"/": ("ui.html", "text/html"), "/shop.js": ("ui.js", "text/javascript")}


def _front_end(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    request = Request(environ)  # mounted at PREFIX: its path is what follows it ("/ui" is "/")
    asset = _ASSETS.get(request.path)
    if asset is None or request.method not in ("GET", "HEAD"):
        response = Response('{"error": "not found"}', status=404, mimetype="application/json")
    else:
        name, mimetype = asset
        text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        response = Response(text, mimetype=mimetype, headers={"Cache-Control": "no-store"})
    return response(environ, start_response)


def mount(app: Flask) -> None:
    """Serve the front end under ``/ui/`` in front of ``app``."""
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {PREFIX: _front_end})  # type: ignore[method-assign]
