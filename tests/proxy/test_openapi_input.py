"""`--openapi` as extra input to inference: the demo shop recorded through the real proxy, its
refunds cut out of the recording, joined with a hand-written OpenAPI document of the shop
(tests/apps/shop_openapi.yaml, which is wrong about one field's type on purpose)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.proxy import recording_proxy

from venom_replay.proxy.config import InferenceConfig, load_config
from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import render_request
from venom_replay.proxy.infer.openapi_input import is_from_spec, load_spec
from venom_replay.proxy.recording import RecordingWriter, read_recording
from venom_replay.replay.demo.traffic import run_traffic

SPEC = Path(__file__).resolve().parents[1] / "apps" / "shop_openapi.yaml"
REFUND = re.compile(r"/orders/\d+/refund")


def record_shop_without_refunds(shop_url: str, folder: Path) -> Path:
    """The demo traffic through the real recording proxy, then the same recording without its refunds:
    a client that never refunds, so the spec is the only place POST /orders/{order_id}/refund is known."""
    full, cut = folder / "shop.vrec", folder / "shop-no-refunds.vrec"
    with recording_proxy(shop_url, full) as proxy:
        run_traffic(proxy.url)
    rec = read_recording(full)
    with RecordingWriter(cut, target=rec.header.target, tool=rec.header.tool) as out:
        for ex in rec.exchanges:
            if not REFUND.fullmatch(ex.request.path):
                out.write_exchange(ex)
    assert out.exchanges_written < len(rec.exchanges)
    return cut


@pytest.fixture(scope="module")
def shop_recording(tmp_path_factory) -> Path:
    from venom_replay.replay.demo.shop.process import launch

    folder = tmp_path_factory.mktemp("openapi")
    shop = launch(f"sqlite:///{folder / 'shop.db'}", fixed=True)
    try:
        return record_shop_without_refunds(shop.url, folder)
    finally:
        shop.stop()


def _with_spec(spec: Path = SPEC) -> InferenceConfig:
    return InferenceConfig(openapi=str(spec))


def test_spec_is_read_with_refs_parameters_and_links() -> None:
    spec = load_spec(SPEC)
    refund = spec.by_id("refundOrder")
    assert refund is not None and refund.label == "POST /orders/{order_id}/refund"
    [param] = refund.params_in("path")
    assert (param.name, param.required, param.schema["type"]) == ("order_id", True, "integer")
    assert refund.body_schema["properties"]["reason"]["example"] == "arrived damaged"
    create = spec.by_id("createOrder")
    assert [(lk.operation_id, lk.parameter, lk.source) for lk in create.links] == [("refundOrder", "order_id", "body:$.id")]
    assert create.response_schema["properties"]["status"]["enum"][0] == "pending"  # a $ref resolved


def test_an_unreadable_spec_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "spec.yaml"
    bad.write_text("openapi: 3.0.0\ninfo: {title: x\n")
    with pytest.raises(ConfigError, match="cannot read it"):
        load_spec(bad)
    bad.write_text("openapi: 3.0.0\n")
    with pytest.raises(ConfigError, match="no 'paths'"):
        load_spec(bad)


def test_the_unrecorded_operation_becomes_a_bound_template_after_the_recorded_ones(shop_recording: Path) -> None:
    plain = infer_templates(shop_recording)
    assert not any("refund" in tid for tid in plain.templates)
    tset = infer_templates(shop_recording, _with_spec())
    ids = list(tset.templates)
    refund = tset.templates["POST /orders/{order_id}/refund"]
    assert is_from_spec(refund) and ids[-1] == refund.id  # explored after the recorded ones
    assert [t.id for t in tset.templates.values() if is_from_spec(t)] == [refund.id]
    bindings = {c.location: (c.producer, c.source, c.transform) for c in refund.consumes}
    assert bindings["path:order_id"] == ("POST /orders", "body:$.id", "identity")  # the spec's link
    assert bindings["header:Authorization"] == ("POST /login", "body:$.token", "bearer")  # as its neighbours
    req = render_request(refund, {("POST /orders", "body:$.id"): 41, ("POST /login", "body:$.token"): "t0k"})
    assert (req.method, req.path, req.json()) == ("POST", "/orders/41/refund", {"reason": "arrived damaged"})
    assert ("Authorization", "Bearer t0k") in req.headers
    assert any("never recorded became templates" in w and refund.id in w for w in tset.warnings)


def test_without_a_link_the_parameter_is_bound_by_name_to_the_recorded_producer(shop_recording: Path, tmp_path: Path) -> None:
    text = SPEC.read_text()
    unlinked = tmp_path / "no-links.json"
    import yaml

    doc = yaml.safe_load(text)
    del doc["paths"]["/orders"]["post"]["responses"]["201"]["links"]
    unlinked.write_text(json.dumps(doc))  # JSON specs are read too
    refund = infer_templates(shop_recording, _with_spec(unlinked)).templates["POST /orders/{order_id}/refund"]
    [by_name] = [c for c in refund.consumes if c.location == "path:order_id"]
    assert (by_name.producer, by_name.source) == ("POST /orders", "body:$.id") and by_name.score < 1


def test_recorded_templates_take_the_specs_parameter_names(shop_recording: Path) -> None:
    plain = infer_templates(shop_recording)
    learned = next(t for t in plain.templates.values() if t.method == "PATCH")
    assert learned.path != "/products/{id}"  # the traffic alone names it otherwise
    tset = infer_templates(shop_recording, _with_spec())
    patch = tset.templates["PATCH /products/{id}"]
    assert patch.path == "/products/{id}" and patch.count == learned.count
    assert any(c.location == "path:id" and c.producer == "POST /products" for c in patch.consumes)
    req = render_request(patch, {("POST /products", "body:$.id"): 5, ("POST /login", "body:$.token"): "t"})
    assert req.path == "/products/5"
    steps = [s.template for steps in tset.sessions.values() for s in steps]
    assert "PATCH /products/{id}" in steps and learned.id not in steps  # the sessions follow the rename


def test_a_wrong_type_in_the_spec_is_a_warning_and_the_traffic_is_kept(shop_recording: Path) -> None:
    tset = infer_templates(shop_recording, _with_spec())
    [warning] = [w for w in tset.warnings if "'price'" in w]
    assert "POST /products" in warning and "string" in warning and "integer" in warning and "kept" in warning
    create = tset.templates["POST /products"]
    assert all(isinstance(req.json()["price"], int) for req in create.example_requests)
    # the spec is right about everything else: no other disagreement is reported
    assert not [w for w in tset.warnings if "the spec says" in w and "'price'" not in w]


def test_config_section_and_commands_take_the_spec(shop_recording: Path, tmp_path: Path) -> None:
    (tmp_path / "venom.toml").write_text(f'[templates]\nopenapi = "{SPEC}"\n')
    assert load_config(tmp_path / "venom.toml").inference.openapi == str(SPEC)

    def graph(*spec: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "graph", "--json", str(shop_recording), *spec],
                              capture_output=True, text=True, timeout=120, check=True)

    plain, joined = graph(), graph("--openapi", str(SPEC))
    assert json.loads(joined.stdout)["templates"] == json.loads(plain.stdout)["templates"] + 1
    assert "'price'" in joined.stderr and "'price'" not in plain.stderr
    listed = json.loads(subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "templates", "--json", str(shop_recording),
                                        "--openapi", str(SPEC)], capture_output=True, text=True, timeout=120, check=True).stdout)
    assert {t["id"] for t in listed["templates"] if t["from_spec"]} == {"POST /orders/{order_id}/refund"}


def test_answer_types_and_required_fields_the_traffic_contradicts_are_listed(shop_recording: Path, tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(SPEC.read_text())
    doc["components"]["schemas"]["Order"]["properties"]["status"] = {"type": "integer"}  # the shop sends strings
    doc["paths"]["/products/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]["required"] = ["price"]
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(doc))
    tset = infer_templates(shop_recording, _with_spec(wrong))
    said = [w for w in tset.warnings if "the spec says" in w]
    assert any(w.startswith("GET /orders/{order_id}: the spec says answer field 'status' is integer") and "string" in w for w in said)
    assert any(w.startswith("PATCH /products/{id}: the spec says request field 'price' is required") for w in said)
    assert tset.templates["GET /orders/{order_id}"].response_schema["properties"]["status"]["type"] == "string"  # kept


def test_paths_are_read_below_the_servers_base_path(tmp_path: Path) -> None:
    spec = tmp_path / "v1.json"
    spec.write_text(json.dumps({"openapi": "3.0.3", "servers": [{"url": "https://api.example.com/v1/"}],
                                "paths": {"/items/{item_id}": {"get": {"responses": {"200": {"description": "one"}}}}}}))
    [op] = load_spec(spec).operations
    assert (op.label, op.params_in("path")[0].name) == ("GET /v1/items/{item_id}", "item_id")


def test_answer_fields_only_the_spec_declares_are_checked_when_present():
    """The spec speaks where the traffic is silent: a field no recorded answer carried joins the
    template's schema, typed by the spec, optional; a field the recording showed keeps its type."""
    import json as _json

    from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
    from venom_replay.proxy.infer.openapi_input.join import join_answer_fields
    from venom_replay.proxy.infer.openapi_input.load import Operation
    from venom_replay.proxy.infer.response_shape import infer_schema
    from venom_replay.proxy.recording import Request, Response
    from venom_replay.replay.checkers.base import StepContext, StepResult
    from venom_replay.replay.checkers.shape import ShapeChecker

    recorded = [{"id": n, "name": f"p{n}", "price": 100 * n} for n in range(1, 5)]
    tpl = ActionTemplate(id="GET /products/{id}", method="GET", path="/products/{id}", statuses={200: 4},
                         response_schema=infer_schema(recorded))
    op = Operation("GET", "/products/{id}", "getProduct", response_schema={
        "type": "object", "properties": {"price": {"type": "string"}, "discontinued": {"type": "boolean"}}})
    assert join_answer_fields(tpl, op) == ["discontinued"]
    assert tpl.response_schema["properties"]["discontinued"] == {"type": "boolean"}
    assert "discontinued" not in tpl.response_schema.get("required", [])
    assert tpl.response_schema["properties"]["price"]["type"] == "integer"  # the recording's type stays

    def shape(body: dict) -> list:
        step = StepResult(tpl, Request("GET", "http", "h", 80, "/products/1"), Response(200, body=_json.dumps(body).encode()))
        return ShapeChecker().check(StepContext(step=step, path=[step], values={}, templates=TemplateSet({tpl.id: tpl}, {})))

    assert shape({"id": 1, "name": "p1", "price": 100}) == []
    assert shape({"id": 1, "name": "p1", "price": 100, "discontinued": False}) == []
    assert shape({"id": 1, "name": "p1", "price": 100, "discontinued": "yes"})  # the spec's type is checked
