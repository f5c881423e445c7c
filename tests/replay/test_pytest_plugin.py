"""`pytest --venom-record`: an e2e suite that knows nothing of venom-replay becomes a recording.

The inner suites run in their own pytest process (pytester) against the demo shop, a real API in
its own process; the plugin is loaded through its pytest11 entry point, as in a user's project.
"""

from __future__ import annotations

import os

import pytest

from venom_replay.proxy.recording import read_recording

# An e2e suite as people write them: plain requests calls against a base URL from the environment.
E2E_SUITE = '''
import os
import requests

BASE = os.environ.get("VENOM_BASE_URL") or os.environ["SHOP_URL"]


def login():
    answer = requests.post(BASE + "/login", json={"username": "admin", "password": "admin-pass"}, timeout=10)
    assert answer.status_code == 200
    return {"Authorization": "Bearer " + answer.json()["token"]}


def test_product_round_trip():
    auth = login()
    product = requests.post(BASE + "/products", json={"name": "Lamp", "price": 10, "stock": 3}, headers=auth, timeout=10)
    assert product.status_code == 201
    assert requests.get(f"{BASE}/products/{product.json()['id']}", headers=auth, timeout=10).status_code == 200


def test_order_is_paid():
    auth = login()
    product = requests.post(BASE + "/products", json={"name": "Desk", "price": 90, "stock": 1}, headers=auth, timeout=10)
    order = requests.post(BASE + "/orders", json={"product_id": product.json()["id"]}, headers=auth, timeout=10)
    paid = requests.post(f"{BASE}/orders/{order.json()['id']}/pay", json={"method": "card"}, headers=auth, timeout=10)
    assert paid.json()["status"] == "paid"


def test_environment_during_the_run():
    print("PROXY=" + os.environ.get("HTTP_PROXY", "-") + " NO_PROXY=" + os.environ.get("NO_PROXY", "-"))
'''


@pytest.fixture
def shop_env(demo_shop, monkeypatch):
    shop = demo_shop()
    monkeypatch.setenv("SHOP_URL", shop.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the plugin must clear it while recording
    return shop


def _sessions(recording):
    by_session: dict[str, list[str]] = {}
    for ex in recording.exchanges:
        by_session.setdefault(ex.session, []).append(f"{ex.request.method} {ex.request.path} {ex.response.status}")
    return by_session


def test_forward_mode_records_every_call_one_session_per_test(pytester, shop_env, tmp_path):
    pytester.makepyfile(test_e2e=E2E_SUITE)
    out = tmp_path / "suite.vrec"
    result = pytester.runpytest_subprocess("--venom-record", str(out), "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*PROXY=http://127.0.0.1:* NO_PROXY=-*",
                                 f"venom-replay: recorded 7 exchanges in 2 sessions * to {out}"])
    sessions = _sessions(read_recording(out))
    round_trip = next(v for k, v in sessions.items() if k.endswith("test_e2e.py::test_product_round_trip"))
    assert [s.split()[0] + " " + s.split()[2] for s in round_trip] == ["POST 200", "POST 201", "GET 200"]
    paid = next(v for k, v in sessions.items() if k.endswith("test_e2e.py::test_order_is_paid"))
    assert paid[-1].startswith("POST /orders/") and paid[-1].endswith("/pay 200")
    assert "HTTP_PROXY" not in os.environ  # the outer process is untouched


def test_reverse_mode_gives_the_suite_its_base_url(pytester, shop_env, tmp_path):
    pytester.makepyfile(test_e2e=E2E_SUITE)
    out = tmp_path / "reverse.vrec"
    result = pytester.runpytest_subprocess("--venom-record", str(out), "--venom-target", shop_env.url,
                                           "--venom-session", "connection", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*PROXY=- NO_PROXY=127.0.0.1,localhost*"])  # reverse mode sets no proxy
    recording = read_recording(out)
    assert recording.header.target == shop_env.url
    assert len(recording.exchanges) == 7
    # Plain requests.get/post open one connection per call: per-connection sessions split the tests.
    assert len(recording.sessions) == 7


def test_without_the_option_nothing_changes(pytester, shop_env):
    pytester.makepyfile(test_e2e=E2E_SUITE)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*PROXY=- NO_PROXY=127.0.0.1,localhost*"])
    result.stdout.no_fnmatch_line("venom-replay:*")
    assert "venom-record" in pytester.runpytest_subprocess("--help").stdout.str()


def test_an_existing_recording_is_refused_in_one_line(pytester, shop_env, tmp_path):
    pytester.makepyfile(test_e2e=E2E_SUITE)
    out = tmp_path / "kept.vrec"
    assert pytester.runpytest_subprocess("--venom-record", str(out)).ret == 0
    size = out.stat().st_size
    again = pytester.runpytest_subprocess("--venom-record", str(out))
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    again.stderr.fnmatch_lines([f"ERROR: --venom-record {out}: *file exists*"])
    assert out.stat().st_size == size


# The same kind of suite against an HTTPS API, with the two clients most suites use. Neither is
# told about the proxy or its certificate: both read the environment the plugin sets.
HTTPS_SUITE = '''
import os

import httpx
import requests

BASE = os.environ["SHOP_URL"]
ADMIN = {"username": "admin", "password": "admin-pass"}


def test_requests_over_https():
    token = requests.post(BASE + "/login", json=ADMIN, timeout=10).json()["token"]
    me = requests.get(BASE + "/me", headers={"Authorization": "Bearer " + token}, timeout=10)
    assert me.json()["username"] == "admin"


def test_httpx_over_https():
    with httpx.Client(timeout=10) as client:
        token = client.post(BASE + "/login", json=ADMIN).json()["token"]
        made = client.post(BASE + "/products", json={"name": "Lamp", "price": 10, "stock": 3},
                           headers={"Authorization": "Bearer " + token})
    assert made.status_code == 201


def test_environment_during_the_run():
    names = ("HTTPS_PROXY", "HTTP_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
    print(" ".join(name + "=" + os.environ.get(name, "-") for name in names))
'''


@pytest.fixture
def https_shop(tmp_path, monkeypatch):
    from venom_replay.replay.demo.shop import launch

    with launch(f"sqlite:///{tmp_path / 'tls-shop.db'}", tls=True) as shop:
        monkeypatch.setenv("SHOP_URL", shop.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield shop


def test_forward_mode_records_https_calls_of_requests_and_httpx(pytester, https_shop, tmp_path):
    pytest.importorskip("httpx")
    pytester.makepyfile(test_e2e=HTTPS_SUITE)
    out = tmp_path / "https.vrec"
    outer = {name: os.environ.get(name) for name in ("HTTPS_PROXY", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    # --venom-insecure: the shop's certificate is self-signed; the clients trust the proxy's CA.
    result = pytester.runpytest_subprocess("--venom-record", str(out), "--venom-insecure", "-s")
    result.assert_outcomes(passed=3)
    ca_cert = os.path.expanduser("~/.mitmproxy/mitmproxy-ca-cert.pem")
    expected_env = (f"*HTTPS_PROXY=http://127.0.0.1:* HTTP_PROXY=http://127.0.0.1:* "
                    f"REQUESTS_CA_BUNDLE={ca_cert} SSL_CERT_FILE={ca_cert}*")
    result.stdout.fnmatch_lines([expected_env])
    calls = sorted((ex.request.scheme, ex.request.method, ex.request.path, ex.response.status)
                   for ex in read_recording(out).exchanges)
    assert calls == sorted([("https", "POST", "/login", 200), ("https", "GET", "/me", 200),
                            ("https", "POST", "/login", 200), ("https", "POST", "/products", 201)])
    assert outer == {name: os.environ.get(name) for name in outer}  # the outer process is untouched


def test_https_without_insecure_is_refused_by_the_proxy_not_trusted(pytester, https_shop, tmp_path):
    # Without --venom-insecure the proxy verifies the API's certificate: the client trusted the proxy
    # (its request was decrypted and recorded), and the proxy refused the self-signed API.
    pytester.makepyfile(test_e2e=HTTPS_SUITE)
    out = tmp_path / "refused.vrec"
    result = pytester.runpytest_subprocess("--venom-record", str(out), "-k", "requests")
    result.assert_outcomes(failed=1)
    [exchange] = read_recording(out).exchanges
    assert (exchange.request.scheme, exchange.request.path, exchange.response) == ("https", "/login", None)
    assert "certificate verify failed" in exchange.error.lower()
