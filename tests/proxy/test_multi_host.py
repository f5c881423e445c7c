"""A forward-proxy recording of several hosts: only one host's calls become templates.

A client recorded through `venom-replay record --mode regular` calls the API under test and a third
party (a payment provider, here a real echo app) with the third party's bearer token, API key and a
card number. Inference keeps one host (``--host``, ``[templates] host``, else explore's ``--target``
host, else the one with most exchanges, said in a warning); ``show`` lists the others; ``explore``
never sends the third party's calls, or its secrets, to the target. Everything runs as a user
would: real apps in their own processes, the real proxy, the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from support.http_app import AppProcess, running_app
from support.proxy import recording_proxy
from venom_replay.proxy.recording import Recording, read_recording

BEARER = "sk_live_3rdparty_bearer_9f8e7d"
API_KEY = "pk_3rdparty_apikey_1a2b3c"
CARD = "4242424242424242"
SECRETS = (BEARER, API_KEY, CARD)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def _flat(text: str) -> str:
    """Terminal output with its line wrapping undone."""
    return " ".join(text.split())


def _client(forward_proxy: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"http": forward_proxy}
    return s


def _pay(client: requests.Session, third_party: str, amount: int) -> None:
    r = client.post(third_party + "/echo", json={"card": CARD, "amount": amount},
                    headers={"Authorization": f"Bearer {BEARER}", "X-Api-Key": API_KEY})
    assert r.status_code == 200


def _shop(client: requests.Session, api: str) -> None:
    """Six calls to the API under test: create two items, read, update, delete one, read it gone."""
    first = client.post(api + "/items", json={"name": "lamp", "price": 30}).json()["id"]
    second = client.post(api + "/items", json={"name": "desk", "price": 90}).json()["id"]
    assert client.get(f"{api}/items/{first}").status_code == 200
    assert client.put(f"{api}/items/{first}", json={"price": 25}).status_code == 200
    assert client.delete(f"{api}/items/{second}").status_code == 204
    assert client.get(f"{api}/items/{second}").status_code == 404


@pytest.fixture
def third_party() -> AppProcess:
    with running_app("apps.recording_target:create_app") as app:
        yield app


def _host(app: AppProcess) -> str:
    return f"127.0.0.1:{app.port}"


def _carries_secret(rec: Recording) -> list[str]:
    found = []
    for ex in rec.exchanges:
        text = " ".join(f"{k}: {v}" for k, v in ex.request.headers) + ex.request.body.decode("utf-8", "replace")
        found += [f"#{ex.seq} {ex.request.path}: {s}" for s in SECRETS if s in text]
    return found


@pytest.fixture
def forward_recording(crud_api: AppProcess, third_party: AppProcess, tmp_path: Path) -> Path:
    """The shop's six calls and two payments (with the third party's secrets), through a forward proxy."""
    out = tmp_path / "forward.vrec"
    with recording_proxy(None, out, "--mode", "regular") as proxy:
        client = _client(proxy.url)
        _shop(client, crud_api.url)
        _pay(client, third_party.url, 25)
        _pay(client, third_party.url, 90)
    hosts = {f"{ex.request.host}:{ex.request.port}" for ex in read_recording(out).exchanges}
    assert hosts == {_host(crud_api), _host(third_party)}  # the proxy saw both
    return out


def test_templates_and_graph_learn_from_the_host_with_most_exchanges_and_say_so(forward_recording, crud_api,
                                                                               third_party, tmp_path):
    done = cli("templates", str(forward_recording), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    paths = {t["path"] for t in data["templates"]}
    assert "/echo" not in paths and "/items" in paths, paths
    assert data["ignored"] == 2
    warning = next(w for w in data["warnings"] if "hosts" in w)
    assert f"templates are learned from {_host(crud_api)} only (6 exchanges, the most)" in warning
    assert f"not replayed: {_host(third_party)} (2)" in warning and "--host" in warning
    assert warning in _flat(done.stderr)  # said on the terminal too, not only in the JSON

    graph = cli("graph", str(forward_recording), "--json", cwd=tmp_path)
    assert graph.returncode == 0, graph.stderr
    assert f"not replayed: {_host(third_party)} (2)" in _flat(graph.stderr)


def test_host_option_picks_the_other_host_and_an_unknown_host_is_one_line(forward_recording, crud_api,
                                                                          third_party, tmp_path):
    done = cli("templates", str(forward_recording), "--json", "--host", f"http://{_host(third_party)}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [t["id"] for t in data["templates"]] == ["POST /echo"]
    assert not any("hosts" in w for w in data["warnings"])  # the user chose: nothing to warn about

    by_name = cli("templates", str(forward_recording), "--json", "--host", "127.0.0.1", cwd=tmp_path)
    assert by_name.returncode == 2 and "Traceback" not in by_name.stderr
    assert by_name.stderr.strip().startswith("error: --host 127.0.0.1: several ports of it were recorded")

    missing = cli("graph", str(forward_recording), "--host", "pay.example.com", cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (f"error: --host pay.example.com: the recording holds no answered calls to it; "
                                      f"it holds {_host(crud_api)} (6), {_host(third_party)} (2)")


def test_the_config_file_can_name_the_host(forward_recording, third_party, tmp_path):
    (tmp_path / "venom.toml").write_text(f'[templates]\nhost = "{_host(third_party)}"\n')
    done = cli("templates", str(forward_recording), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [t["id"] for t in json.loads(done.stdout)["templates"]] == ["POST /echo"]


def test_show_lists_every_host_and_which_one_is_replayed(forward_recording, crud_api, third_party, tmp_path):
    done = cli("show", str(forward_recording), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["template_host"] == {"host": _host(crud_api), "exchanges": 6, "reason": "most",
                                        "not_replayed": {_host(third_party): 2}}
    text = cli("show", str(forward_recording), "--exchanges", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    flat = _flat(text.stdout)
    assert f"templates are learned from {_host(crud_api)}" in flat and f"never replayed: {_host(third_party)} (2)" in flat
    assert sum(line.count(_host(third_party)) for line in text.stdout.splitlines() if "/echo" in line) == 2
    assert not any(s in text.stdout for s in SECRETS)


def test_a_reverse_recording_of_one_host_is_unchanged(crud_api, tmp_path):
    out = tmp_path / "reverse.vrec"
    with recording_proxy(crud_api.url, out) as proxy:
        client = requests.Session()
        client.trust_env = False
        _shop(client, proxy.url)
    done = cli("templates", str(out), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["warnings"] == [] and data["ignored"] == 0
    assert sum(t["count"] for t in data["templates"]) == 6
    shown = json.loads(cli("show", str(out), "--json", cwd=tmp_path).stdout)
    assert shown["template_host"]["reason"] == "only" and shown["template_host"]["not_replayed"] == {}


def test_explore_replays_only_the_target_hosts_calls(crud_api, third_party, tmp_path):
    """The third party has more exchanges than the API here, so only the --target's host keeps its
    calls out of the replay. The API sits behind a reverse recording proxy for the whole test: what
    reached it during explore is read back from that proxy's recording."""
    with recording_proxy(crud_api.url, tmp_path / "seen_by_api.vrec") as api:
        recording = tmp_path / "forward.vrec"
        with recording_proxy(None, recording, "--mode", "regular") as forward:
            client = _client(forward.url)
            _shop(client, api.url)
            for amount in range(7):
                _pay(client, third_party.url, amount)
        recorded_phase = len(api.recording().exchanges)
        assert recorded_phase == 6

        done = cli("explore", str(recording), "--target", api.url, "--report", "out", "--depth", "2",
                   "--max-transitions", "60", cwd=tmp_path)
        assert done.returncode in (0, 1), done.stderr[-3000:]
    seen = api.recording()
    explored = seen.exchanges[recorded_phase:]
    assert explored, "explore sent nothing to the target"
    assert {ex.request.path.split("/")[1] for ex in explored} == {"items"}
    assert _carries_secret(seen) == []
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any(f"from 127.0.0.1:{api.port} only (6 exchanges, the --target's host)" in w
               and f"not replayed: {_host(third_party)} (7)" in w for w in report["warnings"]), report["warnings"]
