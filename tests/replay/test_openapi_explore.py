"""`explore --openapi`: an endpoint the recording never called is explored and the planted bug behind
it found; the correct twin gets no finding from it. The demo shop (buggy and fixed twins, each in its
own process on a fresh SQLite database), its traffic recorded through the real proxy with the refunds
cut out, the hand-written spec tests/apps/shop_openapi.yaml, and the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.proxy import recording_proxy

from venom_replay.proxy.recording import RecordingWriter, read_recording
from venom_replay.replay.demo.shop.process import launch
from venom_replay.replay.demo.traffic import run_traffic

SPEC = Path(__file__).resolve().parents[1] / "apps" / "shop_openapi.yaml"
REFUND = re.compile(r"/orders/\d+/refund")


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """The demo traffic without its refunds (a client that never refunds)."""
    folder = tmp_path_factory.mktemp("openapi-explore")
    shop = launch(f"sqlite:///{folder / 'recorded.db'}", fixed=True)
    try:
        full = folder / "shop.vrec"
        with recording_proxy(shop.url, full) as proxy:
            run_traffic(proxy.url)
    finally:
        shop.stop()
    rec = read_recording(full)
    cut = folder / "shop-no-refunds.vrec"
    with RecordingWriter(cut, target=rec.header.target, tool=rec.header.tool) as out:
        for ex in rec.exchanges:
            if not REFUND.fullmatch(ex.request.path):
                out.write_exchange(ex)
    return cut


def _explore(recording: Path, folder: Path, *, fixed: bool) -> dict:
    db = folder / f"explore-{'fixed' if fixed else 'buggy'}.db"
    shop = launch(f"sqlite:///{db}", fixed=fixed)
    try:
        started = time.monotonic()
        # prefix depth 2: the refund never ran in any recorded prefix, so a double refund is two new steps
        run = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "explore", str(recording), "--target", shop.url,
                              "--db", f"sqlite:///{db}", "--report", str(folder / "report"), "--openapi", str(SPEC),
                              "--no-mutations", "--prefix-depth", "2", "--time-limit", "400"],
                             capture_output=True, text=True, timeout=600, check=False)
        print(f"explore ({'fixed' if fixed else 'buggy'}): {time.monotonic() - started:.0f} s")
    finally:
        shop.stop()
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((folder / "report" / "report.json").read_text())
    assert report["db_restored"] is True and report["stopped"] == "complete", report["warnings"]
    agreement = report["replay_agreement"]
    assert agreement["same_status_class"] == agreement["steps"]
    return report


def _refund_findings(report: dict) -> list[dict]:
    return [f for f in report["findings"] if any(REFUND.fullmatch(s["path"]) for s in f["sequence"])]


def test_the_spec_only_endpoint_is_explored_and_its_planted_bug_found(recording: Path, tmp_path: Path) -> None:
    report = _explore(recording, tmp_path, fixed=False)
    [double] = [f for f in report["findings"] if f["checker"] == "repeated-success"]
    refunds = [s for s in double["sequence"] if REFUND.fullmatch(s["path"])]
    assert len(refunds) == 2 and all(s["status"] == 200 for s in refunds)
    assert refunds[0]["path"] == refunds[1]["path"]
    # the spec's wrong type is listed, not obeyed: the recorded products still replay as recorded
    assert any("'price'" in w and "kept" in w for w in report["warnings"])
    # reproduce learns the templates with the same spec (report.json names it): the refund it needs
    # exists only there
    assert report["openapi"] == str(SPEC.resolve())
    db = tmp_path / "explore-buggy.db"
    shop = launch(f"sqlite:///{db}")
    try:
        again = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "reproduce", str(tmp_path / "report" / "report.json"),
                                str(double["number"]), "--target", shop.url, "--db", f"sqlite:///{db}"],
                               capture_output=True, text=True, timeout=300, check=False)
    finally:
        shop.stop()
    assert again.returncode == 1 and "reproduced" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]


def test_the_correct_twin_gets_no_finding_from_the_spec_endpoint(recording: Path, tmp_path: Path) -> None:
    report = _explore(recording, tmp_path, fixed=True)
    assert _refund_findings(report) == [], [f["message"] for f in _refund_findings(report)]
    assert report["findings"] == [], [f["message"] for f in report["findings"]]  # nor from anything else
    assert any("never recorded became templates" in w for w in report["warnings"])
