"""A recording proxy killed with SIGKILL mid-traffic leaves a readable recording."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import requests

from support.proxy import start_recording_proxy
from venom_replay.proxy.recording import iter_records, read_recording


def test_sigkill_mid_traffic_keeps_every_complete_record(crud_api, tmp_path) -> None:
    out = tmp_path / "killed.vrec"
    proxy = start_recording_proxy(crud_api.url, out)
    stop = threading.Event()

    def hammer() -> None:
        s = requests.Session()
        s.trust_env = False
        while not stop.is_set():
            try:
                s.post(proxy.url + "/items", json={"name": "x" * 2000}, timeout=5)
            except requests.RequestException:
                return  # the proxy is gone

    clients = [threading.Thread(target=hammer) for _ in range(3)]
    for t in clients:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while sum(1 for _ in iter_records(out)) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        proxy.proc.send_signal(signal.SIGKILL)  # while the clients are still sending
        proxy.proc.wait(timeout=10)
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=10)
    rec = read_recording(out)
    assert len(rec.exchanges) >= 59
    assert [ex.seq for ex in rec.exchanges] == list(range(1, len(rec.exchanges) + 1))
    for ex in rec.exchanges:
        assert ex.response.status == 201 and ex.request.json() == {"name": "x" * 2000}
    assert rec.complete_records == len(rec.exchanges) + 1

    # Cut the file inside its last record, as a kill during the write would: show reports it.
    last_start = [end for end, _ in iter_records(out)][-2]
    out.write_bytes(out.read_bytes()[: last_start + 100])
    r = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "show", str(out), "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["torn_tail"] is True and summary["torn_offset"] == last_start
    assert summary["exchanges"] == len(rec.exchanges) - 1

    # Recording can continue into the damaged file: the torn record is cut off, numbering goes on.
    proxy = start_recording_proxy(crud_api.url, out, "--append")
    requests.get(proxy.url + "/health", proxies={"http": None})
    assert proxy.stop() == 0
    again = read_recording(out)
    assert not again.torn_tail
    assert again.exchanges[-1].request.path == "/health" and again.exchanges[-1].seq == len(rec.exchanges)
