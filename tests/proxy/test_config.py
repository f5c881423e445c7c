"""Config files: venom.toml or [tool.venom-replay] in pyproject.toml; bad ones fail in one line."""

from __future__ import annotations

import pytest

from venom_replay.proxy.config import load_config
from venom_replay.proxy.errors import ConfigError

FULL = """
[templates]
ignore_hosts = ["telemetry.local"]
ignore = ["GET /health", "* /static/*"]
volatile = ["$.generated_at", "header:X-Trace"]
[templates.volatile_in]
"GET /items" = ["$.page"]
[templates.names]
"POST /orders/{order_id}/refund" = "refund"
[[templates.bind]]
consumer = "GET /items/{item_id}"
in = "path:item_id"
producer = "POST /items"
from = "body:$.id"
[[templates.forbid]]
in = "body:$.quantity"
[explore]
depth = 4
"""


def test_venom_toml_is_found_upwards_and_keeps_other_sections(tmp_path):
    (tmp_path / "venom.toml").write_text(FULL)
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = load_config(start_dir=sub)
    assert cfg.path == tmp_path / "venom.toml"
    inf = cfg.inference
    assert inf.host_ignored("telemetry.local", 80) and not inf.host_ignored("api.local", 80)
    assert inf.endpoint_ignored("GET", "/health") and inf.endpoint_ignored("POST", "/static/app.js")
    assert not inf.endpoint_ignored("POST", "/health")
    assert inf.volatile_for("GET /items") == ["$.generated_at", "header:X-Trace", "$.page"]
    assert inf.names == {"POST /orders/{order_id}/refund": "refund"}
    assert inf.bind[0].source == "body:$.id" and inf.bind[0].transform == "identity"
    assert inf.forbidden("POST /orders", "body:$.quantity", "GET /stock", "body:$.n")
    assert not inf.forbidden("POST /orders", "body:$.item_id", "GET /stock", "body:$.n")
    assert cfg.raw["explore"] == {"depth": 4}


def test_pyproject_tool_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.venom-replay.templates]\nignore = ["/metrics"]\n[tool.venom-replay.invariants]\nsql = []\n')
    cfg = load_config(start_dir=tmp_path)
    assert cfg.inference.ignore == ["/metrics"] and cfg.raw["invariants"] == {"sql": []}


def test_no_config_is_empty(tmp_path):
    cfg = load_config(start_dir=tmp_path)
    assert cfg.path is None and cfg.raw == {} and cfg.inference.ignore == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[templates\n", "not valid TOML"),
        ("[templates]\nignore = 3\n", "templates.ignore must be a list of strings"),
        ("[templates]\nignroe = []\n", "[templates] unknown key 'ignroe' (did you mean ignore?)"),
        ("[templates]\nvolatile = ['created_at']\n", "templates.volatile entry 'created_at' must be a JSON path"),
        ("[[templates.bind]]\nconsumer = 'a'\nin = 'path:x'\nproducer = 'b'\n", "templates.bind[0].from is required"),
        ("[[templates.bind]]\nconsumer = 'a'\nin = 'x'\nproducer = 'b'\nfrom = 'body:$.id'\n", "templates.bind[0].in 'x' must start with"),
        ("[[templates.bind]]\nconsumer='a'\nin='path:x'\nproducer='b'\nfrom='body:$.id'\ntransform='rot13'\n", "templates.bind[0].transform 'rot13'"),
        ("[[templates.forbid]]\n", "templates.forbid[0] is empty"),
        ("[templates.names]\na = 'x'\nb = 'x'\n", "two templates the same name"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "venom.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
