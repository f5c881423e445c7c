"""The shop's app factory: one database, one blueprint per resource, JSON errors.

``create_app(db_url, fixed=...)`` is what the shop's process serves and what tests build to list
its routes; the routes themselves live in ``users``, ``products``, ``orders`` and ``payments``.
"""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from venom_replay.replay.demo.shop import orders, payments, products, ui, users
from venom_replay.replay.demo.shop.context import ApiError, install
from venom_replay.replay.demo.shop.database import Database

__all__ = ["create_app"]

_BLUEPRINTS = (users.blueprint, products.blueprint, orders.blueprint, payments.blueprint)


def _api_error(exc: ApiError) -> ResponseReturnValue:
    return jsonify({"error": exc.message}), exc.status


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    return jsonify({"error": exc.description}), exc.code


def create_app(db_url: str, *, fixed: bool = False) -> Flask:
    """The shop as a WSGI app on ``db_url``; ``fixed=True`` is the correct twin without planted bugs."""
    database = Database(db_url)
    database.create_schema()
    app = Flask("venom_replay_demo_shop")
    install(app, database, fixed=fixed)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    for blueprint in _BLUEPRINTS:
        app.register_blueprint(blueprint)
    ui.mount(app)  # the web front end (/ui/), beside the API's routes
    return app
