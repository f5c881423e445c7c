"""An HTTPS target with a certificate of its own (a development or staging server): checked by default,
trusted with --ca-cert, or not checked with --insecure.

The demo shop is recorded over HTTP (with its start state), then served over HTTPS with a self-signed
certificate made at start-up, on the same database, and explored through the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.proxy import recording_proxy
from venom_replay.replay.demo.shop import launch
from venom_replay.replay.demo.traffic import run_traffic


def explore(recording: Path, target: str, db: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), "--target", target,
                           "--db", db, "--report", str(out), "--depth", "1", "--no-mutations", "--timeout", "5",
                           "--max-recorded-steps", "30", "--prefix-roots", "0", "--max-transitions", "20", *extra], check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture
def https_shop(tmp_path):
    db = f"sqlite:///{tmp_path / 'shop.db'}"
    shop = launch(db)
    try:
        with recording_proxy(shop.url, tmp_path / "shop.vrec", "--db", db) as proxy:
            run_traffic(proxy.url)
    finally:
        shop.stop()
    cert = tmp_path / "shop-cert.pem"
    secure = launch(db, tls=True, tls_cert_out=str(cert))
    try:
        assert secure.url.startswith("https://")
        yield tmp_path / "shop.vrec", secure.url, db, cert
    finally:
        secure.stop()


def test_the_certificate_is_checked_trusted_with_ca_cert_or_skipped_with_insecure(https_shop, tmp_path):
    recording, url, db, cert = https_shop
    unchecked = explore(recording, url, db, tmp_path / "plain")
    assert unchecked.returncode == 2, unchecked.stderr[-2000:]  # nothing answered: not the recorded API
    assert "certificate verify failed" in unchecked.stderr, unchecked.stderr[-2000:]
    for flags, name in ((("--ca-cert", str(cert)), "trusted"), (("--insecure",), "insecure")):
        run = explore(recording, url, db, tmp_path / name, *flags)
        assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
        agreement = json.loads((tmp_path / name / "report.json").read_text())["replay_agreement"]
        assert agreement["same_status_class"] == agreement["steps"] == 30, agreement
    missing = explore(recording, url, db, tmp_path / "missing", "--ca-cert", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2 and "--ca-cert" in missing.stderr and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
