"""report.html as people read it: the demo's report opened in headless Chromium.

The demo runs through the real CLI (its shop, recorder and explorer); its report.html is opened from
disk in Debian's Chromium driven by Playwright, with every network request refused (the page must be
one offline file). First paint must show the findings, each with its own path drawn: the path's state
circles must not overlap each other or the step labels, and labels must be at a legible size. The full
explored graph waits behind a button and opens folded. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from venom_replay.replay.report.html_clusters import by_depth, by_template
from venom_replay.replay.report.html_finding_path import finding_path_svg
from venom_replay.replay.report.html_report import html_report

CHROMIUM = Path("/usr/bin/chromium")
MIN_FONT_PX = 11.0

# ------------------------------------------------------------------ escaping (pure logic)

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>'\"&"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _hostile_report() -> tuple[dict[str, Any], nx.MultiDiGraph]:
    step = {"template": HOSTILE, "method": "GET", "path": f"/x/{HOSTILE}", "status": 200, "example": 0}
    report = {
        "target": HOSTILE, "strategy": "bfs", "depth": 3, "states": 2, "transitions": 2, "elapsed_seconds": 1.0,
        "stopped": "complete", "db_restored": True, "replay_agreement": None, "warnings": [HOSTILE],
        "findings": [{"number": 1, "checker": HOSTILE, "message": HOSTILE, "signature": HOSTILE, "count": 1,
                      "sequence": [{**step, "recorded_prefix": True}, step], "notes": [HOSTILE],
                      "exchanges": []}],
    }
    graph = nx.MultiDiGraph()
    graph.add_node("a", label=HOSTILE, kind="root", details={"depth": 0})
    graph.add_node("b", label=HOSTILE, kind="finding", details={"depth": 1})
    graph.add_edge("a", "b", key=HOSTILE, template=HOSTILE, label=HOSTILE, kind="finding", count=1)
    return report, graph


def test_target_text_stays_text_in_the_page_the_paths_and_the_folded_graphs() -> None:
    report, graph = _hostile_report()
    page = html_report(report, graph)
    parser = _Tags()
    parser.feed(page)
    # The page's own scripts only: the graph views as JSON data and the one script that shows them.
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert [s.get("type") for s in scripts] == ["application/json"] * 3 + [None] + ["application/json"]
    assert not [t for t, _ in parser.tags if t == "img"]
    assert not [a for _, attrs in parser.tags for a in attrs if a.startswith("on")]
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    # Each embedded graph page is a JSON string whose text cannot close its <script> element.
    bodies = re.findall(r"<script type=application/json id=graph-\w+>(.*?)</script>", page, flags=re.DOTALL)
    assert len(bodies) == 3
    for body in bodies:
        assert "<" not in body and ">" not in body
        assert "<script>alert(1)" not in json.loads(body)  # the graph page escapes it in its turn


def test_folding_keeps_every_transition_and_a_few_nodes() -> None:
    graph = nx.MultiDiGraph()
    graph.add_node("r", kind="root", details={"depth": 0})
    for i in range(30):
        graph.add_node(f"s{i}", kind="finding" if i == 29 else "state", details={"depth": 1 + i % 3})
    for i in range(30):
        parent = "r" if i % 3 == 0 else f"s{i - 1}"
        template = "T0" if parent == "r" else f"T{1 + i % 3}"
        graph.add_edge(parent, f"s{i}", key=template, template=template, kind="ok", count=2)
    depth = by_depth(graph)
    assert depth.number_of_nodes() == 4
    assert sum(d["count"] for _, _, d in depth.edges(data=True)) == 60
    assert depth.nodes["depth 1"]["label"] == "depth 1: 10 states"
    assert "with a finding" in depth.nodes["depth 3"]["label"]
    folded = by_template(graph)
    assert set(folded.nodes) == {"(start)", "T0", "T2", "T3"}
    # An edge out of the root follows "start"; the others follow the template that entered their source.
    assert {(a, b): d["count"] for a, b, d in folded.edges(data=True)} == {
        ("(start)", "T0"): 20, ("T0", "T2"): 20, ("T2", "T3"): 20}
    assert folded.nodes["T2"]["details"]["follows"] == {"T0": 20}


def test_the_template_view_draws_the_strongest_predecessors_and_every_finding() -> None:
    graph = nx.MultiDiGraph()
    graph.add_node("r", kind="root", details={"depth": 0})
    # Five actions lead to five states; "Z" is then executed from each, once from the first, five times from the last.
    for i, name in enumerate("ABCDE"):
        graph.add_node(name, kind="state", details={"depth": 1})
        graph.add_node(f"{name}z", kind="state", details={"depth": 2})
        graph.add_edge("r", name, key=name, template=name, kind="ok", count=1)
        graph.add_edge(name, f"{name}z", key="Z", template="Z", kind="finding" if name == "A" else "ok", count=i + 1)
    folded = by_template(graph)
    drawn = {a for a, b in folded.in_edges("Z")}
    assert drawn == {"E", "D", "C", "A"}  # the three most frequent, and A's edge, which carries a finding
    assert folded.nodes["Z"]["details"]["follows"] == {"E": 5, "D": 4, "C": 3, "B": 2, "A": 1}


def _spans(svg: str) -> list[tuple[int, int, bool]]:
    rows = re.findall(r"<text class='path-label \w+' data-first=(\d+) data-last=(\d+).*?</text>", svg)
    marks = [("prefix-mark" in t) for t in re.findall(r"<text class='path-label.*?</text>", svg)]
    return [(int(a), int(b), m) for (a, b), m in zip(rows, marks)]


def test_long_recorded_prefixes_fold_into_one_row_and_short_ones_stay() -> None:
    def finding(prefix_flags: list[bool]) -> dict[str, Any]:
        steps = [{"method": "GET", "path": f"/s/{i}", "status": 200, **({"recorded_prefix": True} if p else {})}
                 for i, p in enumerate(prefix_flags, 1)]
        return {"number": 1, "sequence": steps}

    assert _spans(finding_path_svg(finding([True] * 10 + [False, False]))) == [
        (1, 10, True), (11, 11, False), (12, 12, False)]
    assert _spans(finding_path_svg(finding([True, True, False]))) == [(1, 1, True), (2, 2, True), (3, 3, False)]
    # The finding's own step is never folded away, even when the whole sequence was recorded.
    assert _spans(finding_path_svg(finding([True] * 5)))[-1] == (5, 5, True)
    assert "10 steps of a recorded session" in finding_path_svg(finding([True] * 10 + [False]))


# ------------------------------------------------------------------ the demo's report in Chromium


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-report")
    done = subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", "demo", "--report", str(out)],
                          check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] - 0.5 and b["x"] < a["x"] + a["width"] - 0.5
            and a["y"] < b["y"] + b["height"] - 0.5 and b["y"] < a["y"] + a["height"] - 0.5)


_GEOMETRY = """svg => ({
  nodes: [...svg.querySelectorAll('.path-node circle')].map(c => c.getBoundingClientRect().toJSON()),
  labels: [...svg.querySelectorAll('.path-label')].map(t => ({box: t.getBoundingClientRect().toJSON(),
      font: parseFloat(getComputedStyle(t).fontSize), text: t.textContent,
      marked: t.querySelector('.prefix-mark') !== null,
      first: Number(t.dataset.first), last: Number(t.dataset.last)})),
  nodeFonts: [...svg.querySelectorAll('.path-node text')].map(t => parseFloat(getComputedStyle(t).fontSize)),
})"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium package is not installed")
@pytest.mark.timeout(300)
def test_demo_report_opens_on_readable_finding_paths(demo_report: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
    report = json.loads((demo_report / "report.json").read_text())
    findings = report["findings"]
    assert findings, "the demo's shop has planted bugs"
    remote: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route(re.compile(r"^(?!file:|about:|data:)"), lambda route: (remote.append(route.request.url),
                                                                                 route.abort()))
            page.goto((demo_report / "report.html").as_uri())
            first = tmp_path / "report-first-paint.png"
            page.screenshot(path=str(first))
            print(f"screenshot: {first}")

            # First paint: the findings, not the graph; the first finding's path is on screen.
            assert page.locator("h2").first.text_content().startswith("Findings")
            svgs = page.locator("svg.finding-path")
            assert svgs.count() == len(findings)
            top = svgs.first.bounding_box()
            assert top is not None and top["y"] < 900 and top["height"] > 0
            assert page.locator("#graph-views").is_hidden() and page.locator("#graph-frame").get_attribute("srcdoc") is None

            for i, finding in enumerate(findings):
                geometry = svgs.nth(i).evaluate(_GEOMETRY)
                steps = finding["sequence"]
                labels = geometry["labels"]
                # A few rows at first paint: each explored step, long recorded prefixes folded to one row.
                assert len(geometry["nodes"]) == len(labels) + 1 and len(labels) <= 5, labels
                assert all(n["width"] >= 20 and n["height"] >= 20 for n in geometry["nodes"]), geometry["nodes"]
                boxes = geometry["nodes"] + [label["box"] for label in labels]
                clashes = [(a, b) for j, a in enumerate(boxes) for b in boxes[j + 1:] if _overlap(a, b)]
                assert not clashes, f"finding {finding['number']}: overlapping shapes {clashes[:2]}"
                fonts = [label["font"] for label in labels] + geometry["nodeFonts"]
                assert min(fonts) >= MIN_FONT_PX, fonts
                # The rows cover every step in order; recorded-prefix steps are marked as summary.md marks
                # them, in the drawing and in the list below it.
                spans = [(label["first"], label["last"]) for label in labels]
                assert [n for a, b in spans for n in range(a, b + 1)] == list(range(1, len(steps) + 1)), spans
                for label, (a, b) in zip(labels, spans):
                    assert label["marked"] == all(s.get("recorded_prefix") for s in steps[a - 1:b]), (label, steps)
                    if a == b:
                        assert f"{steps[a - 1]['method']} {steps[a - 1]['path']}" in label["text"]
                listed = page.locator(f"#finding-{finding['number']} li.prefix-step")
                assert listed.count() == sum(1 for s in steps if s.get("recorded_prefix"))
            assert any(s.get("recorded_prefix") for f in findings for s in f["sequence"]), \
                "the demo's findings start from a recorded prefix"
            full = tmp_path / "report-findings.png"
            page.screenshot(path=str(full), full_page=True)
            print(f"screenshot: {full}")

            # The explored graph behind its button, folded by depth first, a handful of nodes.
            page.click("#show-graph")
            frame = page.frame_locator("#graph-frame")
            frame.locator("body").wait_for()
            graph_shot = tmp_path / "report-graph-by-depth.png"
            page.locator("#graph-views").scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(graph_shot))
            print(f"screenshot: {graph_shot}")
            for view in ("depth", "template", "all"):
                page.click(f"[data-view={view}]")
                data = json.loads(frame.locator("script[type='application/json']").first.text_content())
                if view == "all":
                    assert len(data["nodes"]) == report["states"]
                elif view == "depth":
                    assert len(data["nodes"]) <= report["depth"] + 1, data["nodes"]
                else:
                    assert len(data["nodes"]) <= 40, len(data["nodes"])
            template_shot = tmp_path / "report-graph-by-template.png"
            page.click("[data-view=template]")
            page.wait_for_timeout(500)
            page.screenshot(path=str(template_shot))
            print(f"screenshot: {template_shot}")
        finally:
            browser.close()
    assert remote == [], f"the report fetched from the network: {remote}"
