"""Every export format parses back into the same graph (or, for Mermaid, has the right shape)."""

from __future__ import annotations

import json
import re
import stat

import networkx as nx
import pydot
import pytest

from support.fixtures_graph import SECRET_TOKEN, TRICKY, make_template, make_tset, shop_tset, state_graph
from venom_replay.graph.export import export_graph, format_for
from venom_replay.graph.transition import build_transition_graph
from venom_replay.proxy.errors import VenomError



@pytest.fixture
def shop_graph():
    return build_transition_graph(shop_tset())


def edge_set(g):
    return sorted((str(u), str(v), str(k), d.get("kind"), str(d.get("label"))) for u, v, k, d in g.edges(keys=True, data=True))


def test_graphml_reads_back_with_networkx(tmp_path, shop_graph):
    path = export_graph(shop_graph, tmp_path / "shop.graphml")
    back = nx.read_graphml(path, force_multigraph=True)
    assert set(back.nodes) == set(shop_graph.nodes)
    assert edge_set(back) == edge_set(shop_graph)
    assert back.nodes["create"]["label"] == "POST /orders"
    assert json.loads(back.nodes["create"]["details"]) == shop_graph.nodes["create"]["details"]
    assert back["login"]["create"]["observed"]["count"] == 3
    assert "sessions" not in back.graph  # working data, not for reviewers
    assert SECRET_TOKEN not in path.read_text()


def test_node_link_json_reads_back_with_networkx(tmp_path, shop_graph):
    path = export_graph(shop_graph, tmp_path / "shop.json")
    back = nx.node_link_graph(json.loads(path.read_text()), edges="edges")
    assert back.is_multigraph() and back.is_directed()
    assert set(back.nodes) == set(shop_graph.nodes)
    assert edge_set(back) == edge_set(shop_graph)
    assert back.nodes["create"]["details"] == shop_graph.nodes["create"]["details"]
    # Whole sessions travel along, so unseen orderings can be listed from the JSON alone.
    assert back.graph["sessions"] == shop_graph.graph["sessions"]


def test_dot_parses_back_with_pydot_and_keeps_tricky_text(tmp_path):
    g = state_graph()
    path = export_graph(g, tmp_path / "states.dot")
    (parsed,) = pydot.graph_from_dot_file(str(path))
    back = nx.nx_pydot.from_pydot(parsed)
    assert set(back.nodes) == {"s0", "s1", "s2"}
    assert back.number_of_edges() == 3

    def unquote(text):
        assert text.startswith('"') and text.endswith('"')
        return re.sub(r'\\(["\\n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), text[1:-1])

    assert unquote(back.nodes["s2"]["label"]) == TRICKY
    kinds = sorted(unquote(d["kind"]) for _, _, d in back.edges(data=True))
    assert kinds == ["action", "action", "finding"]


def test_dot_of_the_transition_graph_parses(tmp_path, shop_graph):
    path = export_graph(shop_graph, tmp_path / "shop.dot")
    (parsed,) = pydot.graph_from_dot_file(str(path))
    back = nx.nx_pydot.from_pydot(parsed)
    assert set(back.nodes) == set(shop_graph.nodes)
    assert sorted((u, v, k.strip('"')) for u, v, k in back.edges(keys=True)) == sorted(shop_graph.edges(keys=True))


def test_mermaid_is_a_flowchart_with_every_node_and_edge(tmp_path, shop_graph):
    text = export_graph(shop_graph, tmp_path / "shop.mmd").read_text()
    lines = text.splitlines()
    assert lines[:4] == ["---", 'title: "transition graph of shop.vrec"', "---", "flowchart LR"]
    node_lines = [l for l in lines if re.fullmatch(r'  n\d+(\["[^"]*"\]|\(\("[^"]*"\)\))', l)]
    edge_lines = [l for l in lines if re.fullmatch(r'  n\d+ (-->|-\.->)(\|"[^"]*"\|)? n\d+', l)]
    assert len(node_lines) == shop_graph.number_of_nodes()
    assert len(edge_lines) == shop_graph.number_of_edges()
    assert sum("-.->" in l for l in edge_lines) == 7
    assert '  n2["POST /orders"]' in lines


def test_mermaid_escapes_quotes_pipes_and_markup(tmp_path):
    text = export_graph(state_graph(), tmp_path / "states.mmd").read_text()
    line = next(l for l in text.splitlines() if "second line" in l)
    assert "#quot;" in line and "#124;" in line and "#lt;/script#gt;" in line and "<br/>" in line
    assert line.count('"') == 2  # only the delimiters


def test_html_is_self_contained_and_embeds_the_graph(tmp_path):
    path = export_graph(state_graph(), tmp_path / "states.html")
    page = path.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', page, re.I)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace('"http://www.w3.org/2000/svg"', "")
    raw = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(raw)
    assert [n["label"] for n in data["nodes"]][2] == TRICKY
    assert {e["kind"] for e in data["edges"]} == {"action", "finding"}
    # The tricky label cannot close the data block early.
    assert page.count("</script>") == 2


@pytest.mark.parametrize("suffix", [".graphml", ".dot", ".json", ".mmd", ".html"])
def test_any_networkx_graph_exports(tmp_path, suffix):
    """Simple, undirected and attribute-less graphs go through every format too."""
    plain = nx.path_graph(4)
    simple = nx.DiGraph()
    simple.add_edge("a", "b", kind="action", count=2, label="go")
    for i, g in enumerate([plain, simple, state_graph()]):
        path = export_graph(g, tmp_path / f"g{i}{suffix}", title="t")
        assert path.stat().st_size > 0
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_format_comes_from_the_extension_or_the_option(tmp_path):
    assert format_for(tmp_path / "x.GRAPHML") == "graphml"
    assert format_for(tmp_path / "x.gv") == "dot"
    assert format_for(tmp_path / "x.out", "mermaid") == "mmd"
    with pytest.raises(VenomError) as err:
        format_for(tmp_path / "x.png")
    assert ".graphml, .dot, .gv, .json, .mmd, .mermaid, .html, .htm" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(VenomError, match="unknown graph format"):
        format_for(tmp_path / "x.json", "svg")


def test_an_unwritable_destination_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    with pytest.raises(VenomError, match="cannot write"):
        export_graph(make_graph(), blocker / "g.json")
    assert blocker.read_text() == "keep me"


def make_graph():
    return build_transition_graph(make_tset([make_template("a", "GET", "/a")], {"s": ["a"]}))
