"""`venom-replay openapi` on the bundled shop's recorded traffic: a valid OpenAPI 3.1 document, in YAML
or JSON by extension, that a peer tool (Schemathesis) loads and runs against the live shop."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from openapi_spec_validator import validate
from ruamel.yaml import YAML
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.recording import read_recording
from venom_replay.replay.demo.shop import ADMIN_PASSWORD, ADMIN_USERNAME, launch


def run_openapi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "openapi", *args],
                          check=False, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def exported(shop_recording: Path, tmp_path_factory) -> dict[str, Any]:
    """The shop's document, written once as YAML and once as JSON."""
    folder = tmp_path_factory.mktemp("openapi")
    out: dict[str, Any] = {}
    for name in ("openapi.yaml", "openapi.json"):
        proc = run_openapi(str(shop_recording), "-o", str(folder / name))
        assert proc.returncode == 0, proc.stderr
        out[name] = folder / name
    out["yaml"] = YAML(typ="safe", pure=True).load(out["openapi.yaml"].read_text())
    out["json"] = json.loads(out["openapi.json"].read_text())
    return out


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": op for path, ops in doc["paths"].items() for method, op in ops.items()}


def test_both_formats_validate_as_openapi_3_1_and_say_the_same(exported) -> None:
    validate(exported["yaml"])
    validate(exported["json"])
    assert exported["yaml"] == exported["json"]
    assert exported["json"]["openapi"].startswith("3.1")


def test_every_template_is_an_operation_with_the_statuses_it_was_seen_with(exported, shop_recording) -> None:
    tset = infer_templates(str(shop_recording))
    operations = _operations(exported["json"])
    assert set(operations) == {t.label for t in tset.templates.values()}
    for t in tset.templates.values():
        assert set(operations[t.label]["responses"]) == {str(s) for s in t.statuses}, t.label
        path_params = [p for p in operations[t.label].get("parameters", []) if p["in"] == "path"]
        assert [p["name"] for p in path_params] == t.params and all(p["required"] for p in path_params)


def test_schemas_come_from_the_recorded_bodies(exported) -> None:
    operations = _operations(exported["json"])
    created = operations["POST /orders"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["properties"]["id"] == {"type": "integer"}
    assert "id" in created["schema"]["required"]  # every one of the recorded creates answered an id
    sent = operations["POST /orders"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(sent["properties"]) == {"product_id", "quantity"} and "enum" not in json.dumps(sent)
    # The order states every answer showed, under any operation: a read after a cancel may say cancelled.
    read = operations["GET /orders/{order_id}"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "cancelled" in read["properties"]["status"]["enum"]
    assert operations["GET /orders/{order_id}"]["security"] == [{"bearerAuth": []}]
    assert exported["json"]["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}


def test_links_follow_the_value_bindings(exported) -> None:
    operations = _operations(exported["json"])
    links = operations["POST /orders"]["responses"]["201"]["links"]
    assert links["getOrdersOrderId"]["parameters"] == {"order_id": "$response.body#/id"}
    assert links["postOrdersOrderIdPay"]["operationId"] == "postOrdersOrderIdPay"
    listed = operations["GET /products"]["responses"]["200"]["links"]
    assert listed["deleteProductsProductId"]["parameters"] == {"product_id": "$response.body#/products/0/id"}
    # The login token feeds every call's Authorization: that is the security scheme, not a link.
    assert "links" not in operations["POST /login"]["responses"]["200"]


def test_no_recorded_secret_reaches_the_document(exported, shop_recording) -> None:
    secrets: set[str] = set()
    for ex in read_recording(shop_recording).exchanges:
        body = ex.request.json()
        if isinstance(body, dict) and isinstance(body.get("password"), str):
            secrets.add(body["password"])
        answer = ex.response.json() if ex.response is not None else None
        if isinstance(answer, dict) and isinstance(answer.get("token"), str):
            secrets.add(answer["token"])
        auth = ex.request.header("Authorization")
        if auth:
            secrets.add(auth.partition(" ")[2])
    assert len(secrets) > 5
    for name in ("openapi.yaml", "openapi.json"):
        text = exported[name].read_text()
        assert not [s for s in secrets if s in text], name
    login = _operations(exported["json"])["POST /login"]
    assert login["requestBody"]["content"]["application/json"]["example"]["password"].startswith("***")


def test_an_unknown_extension_is_a_one_line_error(shop_recording, tmp_path) -> None:
    proc = run_openapi(str(shop_recording), "-o", str(tmp_path / "openapi.txt"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and ".yaml" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "openapi.txt").exists()


def test_schemathesis_loads_the_document_and_runs_every_operation_and_its_links(exported, tmp_path) -> None:
    schemathesis = shutil.which("schemathesis") or shutil.which("st")
    assert schemathesis, "schemathesis is in the test extra"
    doc = exported["json"]
    operations = _operations(doc)
    links = sum(len(answer.get("links", {})) for op in operations.values() for answer in op["responses"].values())
    with launch(f"sqlite:///{tmp_path / 'shop.db'}") as shop:
        token = requests.post(shop.url + "/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
                              timeout=10).json()["token"]
        proc = subprocess.run(
            [schemathesis, "run", str(exported["openapi.yaml"]), "--url", shop.url,
             "-H", f"Authorization: Bearer {token}", "--phases", "examples,stateful", "--max-examples", "5",
             "--seed", "1", "-w", "1", "--max-time", "15", "--no-color", "--report", "ndjson,junit",
             "--report-dir", str(tmp_path / "st"), "--generation-database", "none"],
            # In the test's folder: Schemathesis keeps a cache of what it found under its working directory.
            cwd=tmp_path, check=False, capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"},
        )
    # Its own findings on the shop (planted bugs, statuses the recording never showed) make exit 1;
    # a document it could not load would be a different failure with no operations run.
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    events = [json.loads(line) for f in (tmp_path / "st").glob("ndjson-*") for line in f.read_text().splitlines()]
    loaded = next(e["LoadingFinished"] for e in events if "LoadingFinished" in e)
    assert loaded["specification"] == {"kind": "openapi", "version": "3.1.0"}
    assert loaded["statistic"]["operations"]["total"] == len(operations)
    assert loaded["statistic"]["transitions"]["total"] == links > 0  # our links are its stateful transitions
    junit = ElementTree.parse(next((tmp_path / "st").glob("junit-*.xml"))).getroot()
    ran = {case.get("name") for case in junit.iter("testcase")}
    assert set(operations) <= ran and "Stateful tests" in ran
