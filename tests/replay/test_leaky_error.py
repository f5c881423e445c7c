"""The leaky-error checker on error answers real servers give (pure logic: hand-built steps)."""

from __future__ import annotations

import json

import pytest
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.checkers.leaky_error import LeakyErrorChecker

TEMPLATE = ActionTemplate(id="POST /api/2.0/mlflow/users/create", method="POST", path="/api/2.0/mlflow/users/create")

# What MLflow 3.17's basic-auth app answers to a second create of the same user (abridged).
MLFLOW_DUPLICATE = json.dumps({"error_code": "RESOURCE_ALREADY_EXISTS", "message": (
    "User (username=alice) already exists. Error: (psycopg.errors.UniqueViolation) duplicate key value violates "
    "unique constraint \"unique_username\"\nDETAIL:  Key (username)=(alice) already exists.\n[SQL: INSERT INTO users "
    "(username, password_hash, is_admin) VALUES (%(username)s::VARCHAR, %(password_hash)s::VARCHAR, %(is_admin)s) "
    "RETURNING users.id]\n[parameters: {'username': 'alice', 'password_hash': 'scrypt:32768:8:1$Qw7dGf0aJ2kLm9Zx$"
    "8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8', 'is_admin': False}]")})
FLASK_TRACE = """<pre>Traceback (most recent call last):
  File "/srv/app/views.py", line 42, in create
    db.session.commit()
sqlalchemy.exc.OperationalError: ...</pre>"""
JAVA_TRACE = "java.lang.NullPointerException\n\tat com.shop.OrderService.refund(OrderService.java:88)\n"
BCRYPT = "$2b$12$" + "a" * 53


def step(status: int, body: str, sent: str = "") -> StepContext:
    result = StepResult(TEMPLATE, Request("POST", "http", "h", 80, TEMPLATE.path, body=sent.encode()),
                        Response(status, body=body.encode()))
    return StepContext(step=result, path=[result], values={}, templates=TemplateSet({TEMPLATE.id: TEMPLATE}, {}))


def test_mlflow_duplicate_user_leaks_the_statement_and_a_password_hash():
    [v] = LeakyErrorChecker().check(step(400, MLFLOW_DUPLICATE, sent='{"username": "alice", "password": "pw1"}'))
    assert v.details["leaks"] == ["SQL statement", "password hash"]
    assert v.signature == f"leaky-error:{TEMPLATE.id}:SQL statement+password hash"
    assert "scrypt:3…" in v.message and "8f3a1c2b" not in v.message  # the hash itself is not repeated


@pytest.mark.parametrize(("status", "body", "kinds"), [
    (500, FLASK_TRACE, ["stack trace"]),
    (500, JAVA_TRACE, ["stack trace"]),
    (409, '{"error": "ERROR: duplicate key value violates unique constraint \\"orders_pkey\\""}', ["SQL statement"]),
    (403, json.dumps({"error": "denied", "owner_hash": BCRYPT}), ["password hash"]),
    (500, '{"error": "SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate entry"}', ["SQL statement"]),
])
def test_each_kind_of_leak(status, body, kinds):
    [v] = LeakyErrorChecker().check(step(status, body))
    assert v.details["leaks"] == kinds


@pytest.mark.parametrize(("status", "body", "sent"), [
    (404, '{"error": "order 7 not found"}', ""),
    (400, '{"error": "select a product from the list first"}', ""),  # English, not SQL
    (200, FLASK_TRACE, ""),  # not an error answer
    (400, json.dumps({"error": "weak password", "password": BCRYPT}), json.dumps({"password": BCRYPT})),  # echoed back
    # MLflow's JSON errors all carry an error class under "sqlstate": no SQL in them
    (404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "User with username=carol not found",
                      "sqlstate": "KAM00", "error_class": "RESOURCE_NOT_FOUND"}), ""),
])
def test_ordinary_errors_and_echoes_are_not_leaks(status, body, sent):
    assert LeakyErrorChecker().check(step(status, body, sent)) == []


def test_the_statement_is_quoted_and_a_hash_in_its_parameters_is_masked():
    """A short statement puts its parameters inside the excerpt: the hash there is masked as well."""
    scrypt = "scrypt:32768:8:1$Qw7dGf0aJ2kLm9Zx$" + "8f3a1c2b" * 8
    body = json.dumps({"message": "UNIQUE constraint failed: users.username (sqlite3.IntegrityError)\n"
                                  f"[SQL: INSERT INTO users (name, hash) VALUES (?, ?)]\n[parameters: ('al', '{scrypt}')]"})
    [v] = LeakyErrorChecker().check(step(400, body, sent='{"name": "al", "password": "pw1"}'))
    sql = v.message.partition("SQL statement: ")[2]
    assert sql.startswith("INSERT INTO users (name, hash) VALUES (?, ?)] [parameters: ('al', 'scrypt:3…"), sql
    assert "8f3a1c2b" not in v.message and "\\n" not in v.message
