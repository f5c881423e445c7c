"""Response shapes conditional on presence, and one finding per answer (pure logic: hand-built bodies
and steps, no servers).

Inference (proxy/infer/response_shape.py): a field is required only where every recorded object had
it, with at least MIN_REQUIRED_SUPPORT of them, and a list or map the recording never showed empty
may be left out. The shape checker (replay/checkers/shape.py) reports every difference of one answer
as one violation whose signature names the template and the kind of difference.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.response_shape import MIN_REQUIRED_SUPPORT, infer_schema
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepContext, StepResult
from venom_replay.replay.checkers.shape import ShapeChecker


def run(info: dict, **extra) -> dict:
    return {"run": {"info": info, **extra}}


INFO = {"run_id": "a1", "status": "FINISHED", "artifact_uri": "store:/1/a1/artifacts", "start_time": 1}
# How a server that omits empty lists answers: the recorded runs all had metrics and some had params.
RECORDED_RUNS = [
    run(dict(INFO, run_id="a1"), data={"metrics": [{"key": "loss", "value": 0.5}], "params": [{"key": "lr", "value": "0.1"}]}),
    run(dict(INFO, run_id="b2"), data={"metrics": [{"key": "loss", "value": 0.25}]}),
    run(dict(INFO, run_id="c3"), data={"metrics": [{"key": "acc", "value": 1}], "params": [{"key": "lr", "value": "0.2"}]}),
    run(dict(INFO, run_id="d4"), data={"metrics": [{"key": "acc", "value": 0.75}]}),
]


def errors(schema: dict, body) -> list[str]:
    return sorted(e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(body))


def test_required_needs_every_object_and_enough_support():
    few = [{"id": n, "schema_note": "x"} for n in range(MIN_REQUIRED_SUPPORT - 1)]
    assert "required" not in infer_schema(few)  # a field seen in one or two answers may just have been set
    enough = [{"id": n, "name": "x"} for n in range(MIN_REQUIRED_SUPPORT)]
    assert infer_schema(enough)["required"] == ["id", "name"]
    partly = enough + [{"id": 9}]
    assert infer_schema(partly)["required"] == ["id"]


def test_a_list_only_seen_non_empty_may_be_left_out_but_keeps_its_type():
    schema = infer_schema(RECORDED_RUNS)
    data = schema["properties"]["run"]["properties"]["data"]
    assert "required" not in data  # metrics was always there, but never empty: a fresh run has none
    assert data["properties"]["metrics"]["type"] == "array"
    fresh = run(dict(INFO, run_id="e5"), data={})
    assert errors(schema, fresh) == []
    assert errors(schema, run(dict(INFO, run_id="e5"))) == []  # the whole empty map left out too
    # When present, the type still holds: a list that became an object, or null, is a change.
    assert errors(schema, run(dict(INFO, run_id="e5"), data={"metrics": {"loss": 0.5}})) == ["{'loss': 0.5} is not of type 'array'"]
    assert errors(schema, run(dict(INFO, run_id="e5"), data={"metrics": None})) == ["None is not of type 'array'"]


def test_a_list_the_server_sends_empty_must_stay():
    bodies = [{"items": []}, {"items": [1]}, {"items": [2, 3]}]
    schema = infer_schema(bodies)
    assert schema["required"] == ["items"]  # this server writes empties: leaving it out is a change
    assert errors(schema, {}) == ["'items' is a required property"]


def test_scalars_always_present_stay_required():
    schema = infer_schema(RECORDED_RUNS)
    info = schema["properties"]["run"]["properties"]["info"]
    assert info["required"] == ["artifact_uri", "run_id", "start_time", "status"]
    assert errors(schema, run({k: v for k, v in INFO.items() if k != "status"})) == ["'status' is a required property"]
    # Objects with required fields of their own are records, not empty maps: they stay required.
    assert schema["required"] == ["run"] and schema["properties"]["run"]["required"] == ["info"]
    assert errors(schema, {}) == ["'run' is a required property"]
    assert errors(schema, {"run": {"data": {}}}) == ["'info' is a required property"]


# ---------------------------------------------------------------- the checker: one answer, one finding


def template(bodies: list, label: str = "GET /runs/{run_id}", statuses: dict | None = None) -> ActionTemplate:
    method, path = label.split(" ", 1)
    return ActionTemplate(id=label, method=method, path=path, host="api.test", port=80,
                          statuses=statuses or {200: len(bodies)}, response_schema=infer_schema(bodies))


def step(tpl: ActionTemplate, body, status: int = 200, path: str = "/runs/x", sent=None) -> StepResult:
    req_body = b"" if sent is None else json.dumps(sent).encode()
    return StepResult(
        template=tpl,
        request=Request(tpl.method, "http", "api.test", 80, path, headers=[("Content-Type", "application/json")], body=req_body),
        response=Response(status, headers=[("Content-Type", "application/json")], body=json.dumps(body).encode()),
    )


def check(tpl: ActionTemplate, st: StepResult) -> list:
    tset = TemplateSet(templates={tpl.id: tpl}, sessions={}, source="synthetic.vrec")
    return ShapeChecker().check(StepContext(step=st, path=[st], values={}, templates=tset))


def test_fresh_object_of_a_server_that_omits_empties_is_no_finding():
    tpl = template(RECORDED_RUNS)
    assert check(tpl, step(tpl, run(dict(INFO, run_id="z9"), data={}))) == []
    assert check(tpl, step(tpl, run(dict(INFO, run_id="z9"), data={"metrics": [{"key": "loss", "value": 2}]}))) == []


def test_integer_answered_as_a_fraction_is_no_shape_change():
    tpl = template([{"id": 1, "score": 3}, {"id": 2, "score": 4}, {"id": 3, "score": 5}])
    assert check(tpl, step(tpl, {"id": 4, "score": 4.5})) == []
    found = check(tpl, step(tpl, {"id": 4, "score": "4.5"}))
    assert [v.details["path"] for v in found] == ["$.score"]


def test_every_difference_of_one_answer_is_one_violation():
    tpl = template(RECORDED_RUNS)
    broken = run({"run_id": "z9", "status": None, "start_time": "yesterday"}, data={"metrics": {"loss": 1}, "params": "none"})
    found = check(tpl, step(tpl, broken))
    assert len(found) == 1
    v = found[0]
    assert v.checker == "shape" and v.signature == "shape:body:GET /runs/{run_id}"
    assert set(v.details["problems"]) == {"$.run.info.artifact_uri", "$.run.info.status", "$.run.info.start_time",
                                          "$.run.data.metrics", "$.run.data.params"}
    assert "(and 1 more)" in v.message and "$.run.data.metrics" in v.message
    # Another answer of the same template that differs elsewhere lands in the same bucket.
    other = check(tpl, step(tpl, run(dict(INFO, start_time=None))))
    assert [o.signature for o in other] == [v.signature]


def test_unseen_success_class_is_its_own_kind():
    tpl = template(RECORDED_RUNS)
    found = check(tpl, step(tpl, {"moved": True}, status=302))
    assert [v.signature for v in found] == ["shape:status:GET /runs/{run_id}:3xx"]


@pytest.mark.parametrize("status", [400, 404, 409])
def test_refusals_are_not_shape_problems(status):
    tpl = template(RECORDED_RUNS)
    assert check(tpl, step(tpl, {"error": "nope"}, status=status)) == []


# ---------------------------------------------------------------- end to end: a server that omits empties


def explore_sparse_app(tmp_path, buggy: bool) -> dict:
    """Record the sparse-JSON app's happy path through the real proxy, explore it with the real CLI at
    depth 3 (SQLite rollback between branches) and return report.json."""
    import subprocess
    import sys

    from apps.sparse_json_api import drive_traffic
    from support.http_app import running_app
    from support.proxy import recording_proxy

    db = tmp_path / "sparse.db"
    db_url = f"sqlite:///{db}"
    recording = tmp_path / "sparse.vrec"
    report_dir = tmp_path / "report"
    env = {"SPARSE_DB": str(db), "SPARSE_BUGGY": "1" if buggy else "0"}
    with running_app("apps.sparse_json_api:create_app", env=env) as app:
        with recording_proxy(app.url, recording, "--db", db_url) as proxy:
            drive_traffic(proxy.url)
        explored = subprocess.run(
            [sys.executable, "-m", "venom_replay.replay.cli", "explore", "--no-mutations", str(recording), "--target", app.url,
             "--db", db_url, "--report", str(report_dir), "--depth", "3", "--time-limit", "300"],
            check=False, capture_output=True, text=True, timeout=600)
    assert explored.returncode in (0, 1), explored.stdout[-2000:] + explored.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["stopped"] == "complete" and report["db_restored"] is True, report["warnings"]
    return report


def test_server_that_omits_empty_lists_gives_no_shape_or_learned_finding(tmp_path):
    report = explore_sparse_app(tmp_path, buggy=False)
    # The orderings that show a fresh run (no metrics, no params) were explored...
    assert report["transitions"] >= 100, report["transitions"]
    # ...and none of them is a shape or learned finding.
    noise = [f["message"] for f in report["findings"] if f["checker"] in ("shape", "learned")]
    assert noise == []
    assert report["findings"] == [], [f["message"] for f in report["findings"]]


def test_planted_list_turned_map_is_still_found_once(tmp_path):
    report = explore_sparse_app(tmp_path, buggy=True)
    shape = [f for f in report["findings"] if f["checker"] == "shape"]
    # One finding per template whose answer showed the map (the metric call itself, and reads after it).
    assert shape, [f["message"] for f in report["findings"]]
    assert len({f["signature"] for f in shape}) == len(shape)
    first = min(shape, key=lambda f: len(f["sequence"]))
    calls = [s["template"] for s in first["sequence"]]
    assert calls == ["POST /runs", "POST /runs/{run_id}/finish", "POST /runs/{run_id}/metrics"], calls
    assert "$.run.data.metrics" in first["details"]["problems"] and "is not of type 'array'" in first["message"]


def test_a_success_where_the_recording_only_shows_refusals_is_no_shape_change():
    """The recording had this call refused (403); explored in a state that allows it, 201 is right."""
    refused_only = template([], label="PUT /docs/{doc_id}", statuses={403: 2})
    assert check(refused_only, step(refused_only, {"id": "d1"}, status=201, path="/docs/d1")) == []
    redirected = template([], label="GET /docs/{doc_id}", statuses={302: 3})
    [v] = check(redirected, step(redirected, {"id": "d1"}, status=200, path="/docs/d1"))
    assert v.signature == f"shape:status:{redirected.id}:2xx"
