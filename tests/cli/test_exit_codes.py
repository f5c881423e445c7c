"""`venom-replay explore`'s exit codes and what the reports say about them, and summary.md's escaping.

Exit 3 when the databases were not restored: the orders API runs in its own process on SQLite with a
user trigger that keeps a count of orders. A restore deletes the orders the exploration created, the
trigger fires again and lowers the count below what it was: the content differs after the final
restore, which the run must not pass off as a plain pass or fail.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from markdown_it import MarkdownIt
from venom_replay.replay.report.markdown_report import markdown_summary
from venom_replay.replay.report.outcome import outcome

COUNTING_TRIGGERS = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL, total INTEGER NOT NULL,
                     status TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE order_stats (id INTEGER PRIMARY KEY, placed INTEGER NOT NULL);
INSERT INTO order_stats VALUES (1, 0);
CREATE TRIGGER count_placed AFTER INSERT ON orders BEGIN UPDATE order_stats SET placed = placed + 1 WHERE id = 1; END;
CREATE TRIGGER count_removed AFTER DELETE ON orders BEGIN UPDATE order_stats SET placed = placed - 1 WHERE id = 1; END;
"""


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def placed(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT placed FROM order_stats").fetchone()[0]


def test_databases_not_restored_exit_3_even_with_findings_and_every_report_says_so(orders_api, record_orders, tmp_path):
    path = tmp_path / "orders.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(COUNTING_TRIGGERS)
    url = f"sqlite:///{path}"
    api = orders_api(url)
    recording = record_orders(api.url)
    before = placed(path)
    run = cli("explore", "--no-mutations", str(recording), "--target", api.url, "--db", url, "--report", str(tmp_path / "r"), "--depth", "2",
              cwd=tmp_path)
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-3000:]
    assert placed(path) != before  # the leak is real, read through a connection of our own
    assert "error: the databases were NOT restored" in run.stderr and "Traceback" not in run.stderr

    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["findings"], "the planted bugs are still found: 3 wins over 1"
    assert report["db_restored"] is False and report["exit_code"] == 3
    assert report["problems"][0].startswith("the databases were NOT restored")

    suite = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["db_restored"] == "False" and props["exit_code"] == "3"
    [case] = [c for c in suite.iter("testcase") if c.get("name") == "databases restored"]
    assert "NOT restored" in case.find("failure").get("message")
    assert int(suite.get("failures")) == len(report["findings"]) + 1

    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "| **NO** |" in summary and "**Exit code 3.**" in summary and "NOT restored" in summary


def test_a_sound_run_passes_the_runs_own_test_cases(orders_api, record_orders, tmp_path):
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    api = orders_api(url, fixed=True)
    recording = record_orders(api.url)
    run = cli("explore", "--no-mutations", str(recording), "--target", api.url, "--db", url, "--report", str(tmp_path / "r"), "--depth", "2",
              cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "error:" not in run.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert (report["exit_code"], report["problems"], report["db_restored"]) == (0, [], True)
    suite = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "0", "0")
    assert {c.get("name") for c in suite.iter("testcase")} == {
        "exploration run", "databases restored", "target behaves like the recording"}
    assert not [c for c in suite.iter("testcase") if len(c.findall("failure")) + len(c.findall("error"))]


def test_help_documents_the_exit_codes(tmp_path):
    out = cli("explore", "--help", cwd=tmp_path)
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for code in ("0 no findings", "1 findings", "2 usage or set-up error", "3 the databases were not restored"):
        assert code in text, out.stdout
    assert "--min-agreement SHARE" in out.stdout and "default 0.5" in text


# ------------------------------------------------------------------ summary.md escaping (pure logic)

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "[click me](https://evil.example/phish)",
    "![pixel](https://evil.example/p.gif)",
    "a | b | c",
    "line one\nline two\r\n# heading\n- item",
    "`code` and ``more``",
    "**bold** _em_ ~~gone~~",
    "<https://evil.example/auto>",
    "&lt;script&gt; entity",
]


def _report(value: str) -> dict:
    step = {"template": "GET /x/{id}", "method": "GET", "path": f"/x/{value}", "status": 200, "example": 0}
    return {
        "target": f"http://127.0.0.1:1/{value}", "recording": f"/tmp/{value}.vrec", "strategy": "bfs", "depth": 3,
        "states": 2, "transitions": 3, "elapsed_seconds": 1.0, "stopped": "complete", "db_restored": True,
        "replay_agreement": {"steps": 2, "same_status_class": 1, "recorded": 2, "min_agreement": 0.5,
                             "like_recording": True, "unanswered": False,
                             "first_mismatches": [{"seq": 1, "session": value, "template": "GET /x/{id}", "method": "GET",
                                                   "path": f"/x/{value}", "recorded_status": 200, "live_status": None,
                                                   "error": f"timed out: {value}"}]},
        "findings": [{"number": 1, "checker": "user", "message": f"invariant broken: {value}", "signature": f"user:{value}",
                      "count": 1, "sequence": [step, {**step, "recorded_prefix": True}], "notes": [value]}],
        "warnings": [value], "invariant_errors": [f"--invariants x.py: f() failed: {value}"],
    }


def _texts(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_values_from_the_target_cannot_break_the_tables_or_inject_markup():
    renderer = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for value in HOSTILE:
        report = _report(value)
        text = markdown_summary(report)
        html = renderer.render(text)
        # No markup from the value: only the tags the summary itself makes.
        tags = set(re.findall(r"<(/?[a-z0-9]+)", html))
        assert tags <= {"h1", "/h1", "h2", "/h2", "h3", "/h3", "p", "/p", "table", "/table", "thead", "/thead",
                        "tbody", "/tbody", "tr", "/tr", "th", "/th", "td", "/td", "code", "/code", "ul", "/ul", "li",
                        "/li", "ol", "/ol", "strong", "/strong", "em", "/em"}, (value, tags)
        assert "<script" not in html and "<img" not in html and "<a " not in html and "<del>" not in html, (value, html)
        # Each table keeps its columns: 6 in the run's table, 5 in the mismatches' table.
        rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.DOTALL)
        assert [len(re.findall(r"<t[hd][ >]", r)) for r in rows] == [6, 6, 5, 5], (value, rows)
        # One heading per section the summary makes; the value's "# heading" and "- item" stay text.
        assert html.count("<h3>") == 1 and html.count("<h2>") == 2, (value, html)
        assert len(re.findall(r"<li>", html)) == 2 + 1 + 1, (value, html)  # two steps, one problem, one warning
        # What the user reads is the value itself, on one line.
        flat = " ".join(value.split())
        visible = " ".join(_texts(html).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
                           .replace("&amp;", "&").split())
        assert flat in visible, (value, visible)


def test_outcome_precedence():
    base = {"findings": [{"number": 1}], "db_restored": True, "stopped": "complete", "replay_agreement": None}
    assert outcome(base).code == 1
    assert outcome({**base, "findings": []}).code == 0
    assert outcome({**base, "invariant_errors": ["x"]}).code == 2
    assert outcome({**base, "db_restored": False}).code == 3
    assert outcome({**base, "db_restored": False, "stopped": "interrupted"}).code == 3
    assert outcome({**base, "stopped": "interrupted"}).code == 130
    unlike = {"steps": 4, "same_status_class": 0, "recorded": 4, "like_recording": False, "min_agreement": 0.5,
              "first_mismatches": [{"seq": 1, "method": "GET", "path": "/a", "recorded_status": 200, "live_status": 404}]}
    assert outcome({**base, "replay_agreement": unlike}).code == 2
    assert outcome({**base, "replay_agreement": unlike, "db_restored": False}).code == 3
    assert outcome({**base, "replay_agreement": unlike}).unlike_recording.endswith(
        "first mismatches: step 1 GET /a: recorded 200, live 404")
