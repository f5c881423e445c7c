"""An I/O-bound JSON API of boards and their cards on SQLite: every request first waits 20 ms, as a
real server waiting on a remote database does, so that parallel exploration has waiting to overlap.

Started like the other test apps (``start_app("apps.slow_api:create_app", env={"SLOW_API_DB": url})``)
or, for ``explore --api-cmd`` (which puts a port and a database on the command line), from tests/:

    python -m apps.slow_api --port 8000 --db sqlite:///tmp/slow.db [--fixed]

Environment: ``SLOW_API_DB`` (sqlite:///path or a plain path), ``SLOW_API_FIXED=1`` for the correct
twin. Served threaded (werkzeug), one SQLite connection per request.

    GET    /health                          -> {ok: true} (no database)
    POST   /boards {name}                   -> 201 {id, name}; 409 if a board has that name (names are unique,
                                            so a replay from the wrong start state shows)
    GET    /boards                          -> {boards: [...]}
    GET    /boards/{id}, PUT /boards/{id} {name} (409 for another board's name), DELETE /boards/{id} (204;
                                            its cards go with it)
    POST   /boards/{id}/cards {title}       -> 201 {id, board_id, title, done}; 404 for a missing board
    GET    /boards/{id}/cards               -> {cards: [...]}
    GET    /cards/{id}, PATCH /cards/{id} {title?, done?}, DELETE /cards/{id} (204)

Planted bug (unless fixed): deleting a board leaves its cards behind, readable and writable.
Ids start above 100 (boards) and 200 (cards) so that they are no small numbers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import time
from typing import Any

from flask import Flask, jsonify, request

from apps.sqlite_db import sqlite_opener

DATABASE_WAIT_SECONDS = 0.02
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS boards (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)",
    ("CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY AUTOINCREMENT, board_id INTEGER NOT NULL, "
     "title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)"),
]
FIRST_IDS = {"boards": 100, "cards": 200}


def _database_path(db: str) -> str:
    return db.removeprefix("sqlite:///")


def create_app(db: str | None = None, *, fixed: bool | None = None) -> Flask:
    path = _database_path(db or os.environ["SLOW_API_DB"])
    planted = not (fixed if fixed is not None else os.environ.get("SLOW_API_FIXED") == "1")
    app = Flask(__name__)

    db_conn = sqlite_opener(path, SCHEMA)
    with db_conn() as conn:
        for table, first in FIRST_IDS.items():
            if conn.execute("SELECT 1 FROM sqlite_sequence WHERE name = ?", (table,)).fetchone() is None:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, first))

    @app.before_request
    def wait_for_the_database() -> None:
        # The server's time goes to waiting, not to computing: what several replicas can overlap.
        time.sleep(DATABASE_WAIT_SECONDS)

    def not_found(what: str) -> tuple[Any, int]:
        return jsonify({"error": f"{what} not found"}), 404

    def board_json(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"]}

    def card_json(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "board_id": row["board_id"], "title": row["title"], "done": bool(row["done"])}

    def find_board(conn: sqlite3.Connection, board_id: int) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM boards WHERE id = ?", (board_id,)).fetchone()

    def find_card(conn: sqlite3.Connection, card_id: int) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM cards WHERE id = ?", (card_id,)).fetchone()

    @app.get("/health")
    def health():
        return jsonify({"ok": True})

    @app.post("/boards")
    def create_board():
        data = request.get_json(force=True, silent=True) or {}
        if not isinstance(data.get("name"), str):
            return jsonify({"error": "name must be a string"}), 400
        with db_conn() as conn:
            if conn.execute("SELECT 1 FROM boards WHERE name = ?", (data["name"],)).fetchone() is not None:
                return jsonify({"error": "a board with that name exists"}), 409
            cur = conn.execute("INSERT INTO boards (name) VALUES (?)", (data["name"],))
            row = find_board(conn, cur.lastrowid)
        resp = jsonify(board_json(row))
        resp.headers["Location"] = f"/boards/{row['id']}"
        return resp, 201

    @app.get("/boards")
    def list_boards():
        with db_conn() as conn:
            rows = conn.execute("SELECT * FROM boards ORDER BY id").fetchall()
        return jsonify({"boards": [board_json(r) for r in rows]})

    @app.get("/boards/<int:board_id>")
    def get_board(board_id: int):
        with db_conn() as conn:
            row = find_board(conn, board_id)
        return jsonify(board_json(row)) if row is not None else not_found("board")

    @app.put("/boards/<int:board_id>")
    def rename_board(board_id: int):
        data = request.get_json(force=True, silent=True) or {}
        if not isinstance(data.get("name"), str):
            return jsonify({"error": "name must be a string"}), 400
        with db_conn() as conn:
            if find_board(conn, board_id) is None:
                return not_found("board")
            if conn.execute("SELECT 1 FROM boards WHERE name = ? AND id != ?", (data["name"], board_id)).fetchone():
                return jsonify({"error": "a board with that name exists"}), 409
            conn.execute("UPDATE boards SET name = ? WHERE id = ?", (data["name"], board_id))
            row = find_board(conn, board_id)
        return jsonify(board_json(row))

    @app.delete("/boards/<int:board_id>")
    def delete_board(board_id: int):
        with db_conn() as conn:
            if find_board(conn, board_id) is None:
                return not_found("board")
            conn.execute("DELETE FROM boards WHERE id = ?", (board_id,))
            if not planted:  # BUG: the planted server leaves the board's cards behind
                conn.execute("DELETE FROM cards WHERE board_id = ?", (board_id,))
        return "", 204

    @app.post("/boards/<int:board_id>/cards")
    def create_card(board_id: int):
        data = request.get_json(force=True, silent=True) or {}
        if not isinstance(data.get("title"), str):
            return jsonify({"error": "title must be a string"}), 400
        with db_conn() as conn:
            if find_board(conn, board_id) is None:
                return not_found("board")
            cur = conn.execute("INSERT INTO cards (board_id, title) VALUES (?, ?)", (board_id, data["title"]))
            row = find_card(conn, cur.lastrowid)
        resp = jsonify(card_json(row))
        resp.headers["Location"] = f"/cards/{row['id']}"
        return resp, 201

    @app.get("/boards/<int:board_id>/cards")
    def list_cards(board_id: int):
        with db_conn() as conn:
            if find_board(conn, board_id) is None:
                return not_found("board")
            rows = conn.execute("SELECT * FROM cards WHERE board_id = ? ORDER BY id", (board_id,)).fetchall()
        return jsonify({"cards": [card_json(r) for r in rows]})

    @app.get("/cards/<int:card_id>")
    def get_card(card_id: int):
        with db_conn() as conn:
            row = find_card(conn, card_id)
        return jsonify(card_json(row)) if row is not None else not_found("card")

    @app.patch("/cards/<int:card_id>")
    def update_card(card_id: int):
        data = request.get_json(force=True, silent=True) or {}
        title, done = data.get("title"), data.get("done")
        if (title is not None and not isinstance(title, str)) or (done is not None and not isinstance(done, bool)):
            return jsonify({"error": "title must be a string and done a boolean"}), 400
        with db_conn() as conn:
            row = find_card(conn, card_id)
            if row is None:
                return not_found("card")
            conn.execute("UPDATE cards SET title = ?, done = ? WHERE id = ?",
                         (row["title"] if title is None else title, row["done"] if done is None else int(done), card_id))
            row = find_card(conn, card_id)
        return jsonify(card_json(row))

    @app.delete("/cards/<int:card_id>")
    def delete_card(card_id: int):
        with db_conn() as conn:
            if find_card(conn, card_id) is None:
                return not_found("card")
            conn.execute("DELETE FROM cards WHERE id = ?", (card_id,))
        return "", 204

    return app


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m apps.slow_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="sqlite:///path/to/file.db or a plain path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fixed", action="store_true", help="the correct twin: no planted bug")
    args = parser.parse_args(argv)
    app = create_app(args.db, fixed=args.fixed)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"slow api listening on http://{args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
