"""The HTML graph view in a real headless Chromium: it renders, and it is interactive offline."""

from __future__ import annotations

import json

import pytest

from support.fixtures_graph import SECRET_TOKEN, TRICKY, shop_tset, state_graph
from venom_replay.graph.export import export_graph
from venom_replay.graph.transition import build_transition_graph

CENTRE_OF = """(() => {
  const el = document.querySelector(%s);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""


def open_graph(browser, g, path):
    export_graph(g, path)
    browser.open(path.as_uri())
    browser.wait_for("document.body.dataset.layout === 'done'")


def centre(browser, selector):
    point = browser.evaluate(CENTRE_OF % json.dumps(selector))
    assert point is not None, f"nothing matches {selector}"
    return point


def panel_text(browser):
    return browser.evaluate("document.getElementById('details').innerText")


@pytest.fixture
def shop_page(headless_browser, tmp_path):
    g = build_transition_graph(shop_tset())
    open_graph(headless_browser, g, tmp_path / "shop.html")
    return headless_browser, g


def test_renders_every_node_and_edge_without_errors_or_network(shop_page, tmp_path):
    browser, g = shop_page
    assert browser.evaluate("document.querySelectorAll('#nodes .node').length") == g.number_of_nodes()
    assert browser.evaluate("document.querySelectorAll('#edges .edge').length") == g.number_of_edges()
    assert browser.evaluate("document.querySelector('.node[data-id=\"create\"] text').textContent") == "POST /orders"
    # Every node sits inside the visible canvas after the layout settles and fits the view.
    inside = browser.evaluate("""(() => {
      const c = document.getElementById('graph').getBoundingClientRect();
      return [...document.querySelectorAll('.node')].every(n => {
        const r = n.getBoundingClientRect();
        return r.left >= c.left && r.right <= c.right && r.top >= c.top && r.bottom <= c.bottom; });
    })()""")
    assert inside
    errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
    assert not errors
    requested = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requested == [(tmp_path / "shop.html").as_uri()]
    shot = browser.screenshot(tmp_path / "shop.png")
    assert shot.stat().st_size > 10_000


def test_clicking_a_node_shows_its_details_with_secrets_masked(shop_page):
    browser, _ = shop_page
    assert "Click a node" in panel_text(browser)
    browser.click(*centre(browser, '.node[data-id="create"]'))
    text = panel_text(browser)
    assert text.startswith("POST /orders")
    assert "METHOD\nPOST" in text and "PATH\n/orders" in text
    assert "EXAMPLE REQUEST\nPOST /orders HTTP/1.1" in text
    assert "Authorization: Bearer ***" in text
    assert '"id": 17' in text
    assert SECRET_TOKEN not in text
    assert browser.evaluate("document.querySelector('.node[data-id=\"create\"]').classList.contains('selected')")
    # Clicking the background clears the selection.
    browser.click(30, 800)
    assert "Click a node" in panel_text(browser)


def test_edge_kind_filter_hides_and_shows_edges(shop_page):
    browser, _ = shop_page
    visible = "[...document.querySelectorAll('.edge[data-kind=\"%s\"]')].filter(e => getComputedStyle(e).display !== 'none').length"
    assert browser.evaluate(visible % "dependency") == 7
    browser.click(*centre(browser, '#edge-filters input[data-kind="dependency"]'))
    assert browser.evaluate(visible % "dependency") == 0
    assert browser.evaluate(visible % "observed") == 10
    browser.click(*centre(browser, '#edge-filters input[data-kind="dependency"]'))
    assert browser.evaluate(visible % "dependency") == 7


def test_nodes_can_be_dragged_and_the_view_zoomed(shop_page):
    browser, _ = shop_page
    where = "(() => { const n = graphView.nodes.find(n => n.id === 'health'); return [n.x, n.y]; })()"
    before = browser.evaluate(where)
    x, y = centre(browser, '.node[data-id="health"]')
    browser.mouse("mouseMoved", x, y)
    browser.mouse("mousePressed", x, y, button="left", buttons=1, clickCount=1)
    for step in range(1, 6):
        browser.mouse("mouseMoved", x + 24 * step, y - 12 * step, button="left", buttons=1)
    browser.mouse("mouseReleased", x + 120, y - 60, button="left", buttons=0, clickCount=1)
    after = browser.evaluate(where)
    scale = browser.evaluate("parseFloat(document.getElementById('viewport').getAttribute('transform').split('scale(')[1])")
    assert after[0] - before[0] == pytest.approx(120 / scale, abs=2)
    assert after[1] - before[1] == pytest.approx(-60 / scale, abs=2)
    assert "Click a node" in panel_text(browser)  # a drag is not a click

    browser.page("Input.dispatchMouseEvent", type="mouseWheel", x=400, y=400, deltaX=0, deltaY=-300)
    browser.wait_for(f"parseFloat(document.getElementById('viewport').getAttribute('transform').split('scale(')[1]) > {scale * 1.2}")


def test_any_graph_shape_renders_and_edges_show_details(headless_browser, tmp_path):
    """The explorer's state graph goes through the same view: kinds it has never seen get colours."""
    open_graph(headless_browser, state_graph(), tmp_path / "states.html")
    browser = headless_browser
    assert browser.evaluate("document.querySelectorAll('.node').length") == 3
    assert browser.evaluate("document.getElementById('title').textContent") == "explored states"
    labels = browser.evaluate("[...document.querySelectorAll('#edge-filters label')].map(l => l.textContent)")
    assert labels == ["action (2)", "finding (1)"]
    browser.click(*centre(browser, '.node[data-id="s2"]'))
    assert TRICKY.split("\n")[0] in panel_text(browser)  # markup in a label stays text
    browser.evaluate("graphView.select('e2')")
    text = panel_text(browser)
    assert "double refund" in text and "CHECKER\nidempotent" in text
    assert not [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
