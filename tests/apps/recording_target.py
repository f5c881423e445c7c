"""A target API for the recording proxy tests: echoes what reached it, compresses, logs in."""

from __future__ import annotations

import gzip
import secrets
import zlib

import brotli
from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    tokens: dict[str, str] = {}

    @app.route("/echo", methods=["GET", "POST", "PUT"])
    def echo():
        # What the target really received: the tests check that the session header was stripped.
        return jsonify({"headers": dict(request.headers), "body": request.get_data(as_text=True), "args": request.args})

    @app.get("/encoded/<kind>")
    def encoded(kind: str):
        payload = b'{"message": "' + b"compressed " * 200 + b'"}'
        packed = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}[kind](payload)
        return packed, 200, {"Content-Type": "application/json", "Content-Encoding": kind}

    @app.post("/login")
    def login():
        data = request.get_json(force=True, silent=True) or {}
        token = secrets.token_hex(16)
        tokens[token] = data.get("user", "anon")
        resp = jsonify({"access_token": token, "token_type": "Bearer"})
        resp.set_cookie("session", token, httponly=True)
        return resp

    @app.get("/me")
    def me():
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ")
        user = tokens.get(auth) or tokens.get(request.cookies.get("session", ""))
        if user is None:
            return jsonify({"error": "unauthorized"}), 401
        return jsonify({"user": user})

    return app
