"""A realistic MLflow session driven by MLflow's own official Python clients (run by MLflow's venv).

    /opt/venom-venvs/mlflow/bin/python tests/apps/mlflow_client_traffic.py TRACKING_URL ADMIN_USER ADMIN_PASSWORD

TRACKING_URL is where the clients send their calls (the recording proxy in front of the server).
The script runs in MLflow's own virtualenv, not in the interpreter of the test suite, and imports
nothing of venom-replay: it is an application using ``mlflow.MlflowClient`` (tracking) and
``mlflow.server.auth.client.AuthServiceClient`` (users and permissions) with HTTP Basic auth taken
from ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, the way the clients document it.

The session is deterministic on a fresh server (names, values, timestamps and steps are fixed; only
the run ids the server generates differ): the admin creates users alice and bob; alice creates two
experiments and runs, logs params, metrics and tags, grants bob READ then EDIT on one experiment;
bob reads, is refused a write, then writes; alice deletes and restores a run, deletes an experiment,
searches, revokes bob, changes her password and goes on with the new one; the admin creates and
deletes a third user. Calls the server refuses (403/404) are part of the session: the script checks
that they fail and goes on. At the end it prints one JSON line with the ids it saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException, RestException
from mlflow.server.auth.client import AuthServiceClient

T0 = 1_700_000_000_000  # a fixed epoch in ms for every timestamp the client sends

ALICE = ("alice", "alice-password-1")
ALICE_NEW_PASSWORD = "alice-password-2"
BOB = ("bob", "bob-password-1")
CAROL = ("carol", "carol-password-1")


@contextlib.contextmanager
def as_user(username: str, password: str) -> Iterator[None]:
    """Every call inside is sent with this user's Basic credentials (the clients read the env per call)."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = username
    os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def refused(call, *args, **kwargs) -> str:
    """Run a call the server must refuse; return its error code (the session goes on)."""
    try:
        call(*args, **kwargs)
    except (RestException, MlflowException) as exc:
        return exc.error_code
    raise AssertionError(f"{getattr(call, '__name__', call)} was expected to be refused but succeeded")


def log_training(client: MlflowClient, run_id: str, lr: str, losses: list[float], t: int) -> None:
    client.log_param(run_id, "learning_rate", lr)
    client.log_param(run_id, "epochs", str(len(losses)))
    for step, loss in enumerate(losses):
        client.log_metric(run_id, "loss", loss, timestamp=t + step * 1000, step=step)
    client.set_tag(run_id, "model", "gbm")


def main(url: str, admin_user: str, admin_password: str) -> dict:
    os.environ["MLFLOW_TRACKING_URI"] = url
    # No retries with back-off on a refused call: a 4xx here is an answer, not a failure to wait out.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(tracking_uri=url)
    auth = AuthServiceClient(url)
    seen: dict = {}

    # --- the admin sets up the users ---------------------------------------------------------------
    with as_user(admin_user, admin_password):
        auth.create_user(*ALICE)
        auth.create_user(*BOB)
        assert auth.get_user("alice").username == "alice"
        assert auth.get_user("bob").is_admin is False

    # --- alice: experiments and runs ----------------------------------------------------------------
    with as_user(*ALICE):
        churn = client.create_experiment("churn-model", tags={"team": "growth", "stage": "dev"})
        pricing = client.create_experiment("pricing-model", tags={"team": "pricing"})
        seen.update(churn=churn, pricing=pricing)
        assert client.get_experiment(churn).name == "churn-model"
        assert client.get_experiment_by_name("pricing-model").experiment_id == pricing
        client.set_experiment_tag(churn, "owner", "alice")

        runs = []
        for i, (lr, losses) in enumerate([("0.1", [0.9, 0.6, 0.4]), ("0.05", [0.95, 0.7, 0.5])]):
            run = client.create_run(churn, start_time=T0 + i * 60_000, run_name=f"baseline-{i}",
                                    tags={"purpose": "baseline"})
            runs.append(run.info.run_id)
            log_training(client, run.info.run_id, lr, losses, T0 + i * 60_000)
            client.set_terminated(run.info.run_id, status="FINISHED", end_time=T0 + i * 60_000 + 30_000)
        seen["runs"] = list(runs)

        tuned = client.create_run(churn, start_time=T0 + 200_000, run_name="tuned")
        seen["tuned"] = tuned.info.run_id
        client.log_batch(tuned.info.run_id,
                         metrics=[Metric("auc", 0.81, T0 + 201_000, 0), Metric("auc", 0.86, T0 + 202_000, 1)],
                         params=[Param("max_depth", "6"), Param("learning_rate", "0.02")],
                         tags=[RunTag("purpose", "tuning")])
        client.update_run(tuned.info.run_id, status="FINISHED", name="tuned-v1")

        pricing_run = client.create_run(pricing, start_time=T0 + 300_000, run_name="pricing-a")
        client.log_metric(pricing_run.info.run_id, "rmse", 12.5, timestamp=T0 + 301_000, step=0)
        client.set_terminated(pricing_run.info.run_id, end_time=T0 + 330_000)

        assert client.get_run(runs[0]).data.params["learning_rate"] == "0.1"
        assert [m.value for m in client.get_metric_history(runs[1], "loss")] == [0.95, 0.7, 0.5]
        assert len(client.search_runs([churn], order_by=["attributes.start_time ASC"])) == 3
        best = client.search_runs([churn], filter_string="params.learning_rate = '0.1'")
        assert [r.info.run_id for r in best] == [runs[0]]
        assert {e.name for e in client.search_experiments()} >= {"churn-model", "pricing-model"}
        client.rename_experiment(churn, "churn-model-v2")

        # bob may read churn, nothing more yet
        auth.grant_user_permission("bob", "experiment", churn, "READ")
    with as_user(admin_user, admin_password):  # only an admin may look a grant up
        assert auth.get_user_permission("bob", "experiment", churn).permission == "READ"

    # --- bob reads, is refused a write ----------------------------------------------------------------
    with as_user(*BOB):
        assert client.get_experiment(churn).name == "churn-model-v2"
        assert len(client.search_runs([churn])) == 3
        assert client.get_run(runs[0]).info.status == "FINISHED"
        assert client.get_metric_history(runs[0], "loss")[-1].value == 0.4
        assert refused(client.create_run, churn, start_time=T0 + 400_000, run_name="bob-try") == "PERMISSION_DENIED"
        assert refused(client.log_param, runs[0], "bob_note", "x") == "PERMISSION_DENIED"
        assert refused(client.get_experiment, pricing) == "PERMISSION_DENIED"

    # --- alice upgrades bob to EDIT -------------------------------------------------------------------
    with as_user(*ALICE):
        # a grant is created once: changing its level is a revoke and a new grant
        assert refused(auth.grant_user_permission, "bob", "experiment", churn, "EDIT") == "RESOURCE_ALREADY_EXISTS"
        auth.revoke_user_permission("bob", "experiment", churn)
        auth.grant_user_permission("bob", "experiment", churn, "EDIT")
    with as_user(admin_user, admin_password):
        assert auth.get_user_permission("bob", "experiment", churn).permission == "EDIT"

    with as_user(*BOB):
        bob_run = client.create_run(churn, start_time=T0 + 500_000, run_name="bob-run")
        seen["bob_run"] = bob_run.info.run_id
        client.log_param(bob_run.info.run_id, "learning_rate", "0.2")
        client.log_metric(bob_run.info.run_id, "loss", 0.55, timestamp=T0 + 501_000, step=0)
        client.set_tag(bob_run.info.run_id, "reviewed", "no")
        client.set_tag(runs[1], "reviewed_by", "bob")
        client.delete_tag(bob_run.info.run_id, "reviewed")
        client.set_terminated(bob_run.info.run_id, end_time=T0 + 530_000)
        assert len(client.search_runs([churn])) == 4

    # --- alice deletes and restores a run, deletes an experiment, searches ---------------------------
    with as_user(*ALICE):
        client.delete_run(runs[1])
        assert client.get_run(runs[1]).info.lifecycle_stage == "deleted"
        assert len(client.search_runs([churn])) == 3
        assert len(client.search_runs([churn], run_view_type=ViewType.DELETED_ONLY)) == 1
        client.restore_run(runs[1])
        assert client.get_run(runs[1]).info.lifecycle_stage == "active"

        client.delete_experiment(pricing)
        assert client.get_experiment(pricing).lifecycle_stage == "deleted"
        active = {e.name for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)}
        assert "pricing-model" not in active
        deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
        assert [e.experiment_id for e in deleted] == [pricing]
        assert refused(client.create_run, pricing, start_time=T0 + 600_000) == "INVALID_PARAMETER_VALUE"
        client.delete_experiment_tag(churn, "stage")
        assert "stage" not in client.get_experiment(churn).tags
        tuned_runs = client.search_runs([churn], filter_string="tags.purpose = 'tuning'")
        assert [r.info.run_id for r in tuned_runs] == [tuned.info.run_id]

        # bob loses his access
        auth.revoke_user_permission("bob", "experiment", churn)

    with as_user(*BOB):
        assert refused(client.get_experiment, churn) == "PERMISSION_DENIED"
        assert refused(client.get_run, runs[0]) == "PERMISSION_DENIED"

    # --- alice changes her password and goes on with the new one --------------------------------------
    with as_user(*ALICE):
        auth.update_user_password("alice", ALICE_NEW_PASSWORD, current_password=ALICE[1])
    with as_user(*ALICE):  # the old password no longer works
        assert refused(client.get_experiment, churn) == "UNAUTHENTICATED"
    with as_user(ALICE[0], ALICE_NEW_PASSWORD):
        assert client.get_experiment(churn).lifecycle_stage == "active"
        client.set_tag(tuned.info.run_id, "promoted", "yes")
        assert client.get_run(tuned.info.run_id).data.tags["promoted"] == "yes"

    # --- the admin: a short-lived user ----------------------------------------------------------------
    with as_user(admin_user, admin_password):
        auth.create_user(*CAROL)
        auth.update_user_admin("carol", True)
        assert auth.get_user("carol").is_admin is True
        auth.delete_user("carol")
        assert refused(auth.get_user, "carol") == "RESOURCE_DOES_NOT_EXIST"
        assert {e.name for e in client.search_experiments(view_type=ViewType.ALL)} >= {"churn-model-v2",
                                                                                          "pricing-model"}
    return seen


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3]), sort_keys=True))
