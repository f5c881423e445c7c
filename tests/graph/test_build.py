"""The transition graph: nodes, the two edge kinds, the start node, and redacted click details."""

from __future__ import annotations

import json

import pytest

from support.fixtures_graph import SECRET_PASSWORD, SECRET_TOKEN, make_template, make_tset, shop_tset
from venom_replay.graph.transition import DEPENDENCY, OBSERVED, START, build_transition_graph, observed_pairs


def edges_of_kind(g, kind):
    return {(u, v, k): d for u, v, k, d in g.edges(keys=True, data=True) if d["kind"] == kind}


def test_nodes_are_templates_plus_one_start_node():
    tset = shop_tset()
    g = build_transition_graph(tset)
    assert set(g.nodes) == set(tset.templates) | {START}
    assert g.nodes[START]["kind"] == "start"
    create = g.nodes["create"]
    assert create["kind"] == "template"
    assert create["label"] == "POST /orders"
    assert create["count"] == 3
    assert create["statuses"] == {"201": 3}
    assert create["produces"] == ["order_id <- body:$.id"]
    assert create["consumes"] == ["token -> header:Authorization from POST /login body:$.token"]
    assert g.nodes["read"]["statuses"] == {"200": 2, "404": 1}


def test_observed_edges_count_direct_successions_within_sessions():
    g = build_transition_graph(shop_tset())
    observed = {(u, v): d["count"] for (u, v, _), d in edges_of_kind(g, OBSERVED).items()}
    assert observed == {
        (START, "login"): 2,
        (START, "health"): 1,
        ("health", "login"): 1,
        ("login", "create"): 3,
        ("create", "read"): 1,
        ("create", "refund"): 1,
        ("create", "delete"): 1,
        ("read", "refund"): 1,
        ("refund", "read"): 1,
        ("delete", "read"): 1,
    }
    assert all(k == OBSERVED for (_, _, k) in edges_of_kind(g, OBSERVED))


def test_observed_pairs_are_template_pairs_without_the_start_node():
    pairs = observed_pairs(shop_tset())
    assert ("login", "create") in pairs and ("delete", "read") in pairs
    assert not any(START in pair for pair in pairs)
    assert ("refund", "refund") not in pairs


def test_dependency_edges_stay_distinct_from_observed_ones_between_the_same_pair():
    g = build_transition_graph(shop_tset())
    keys = set(g["login"]["create"])
    assert keys == {OBSERVED, f"{DEPENDENCY}:header:Authorization"}
    dep = g["login"]["create"][f"{DEPENDENCY}:header:Authorization"]
    assert dep["kind"] == DEPENDENCY and dep["var"] == "token" and dep["source"] == "body:$.token"
    assert dep["label"] == "token"
    # read consumes two values from two producers: two dependency edges, no observed one from login.
    assert set(g["login"]["read"]) == {f"{DEPENDENCY}:header:Authorization"}
    assert set(g["create"]["read"]) == {OBSERVED, f"{DEPENDENCY}:path:order_id"}
    assert len(edges_of_kind(g, DEPENDENCY)) == 7


def test_several_sources_of_one_producer_for_one_location_make_one_edge():
    templates = [
        make_template("create", "POST", "/items", produces=[("id", "body:$.id"), ("id", "header:Location")]),
        make_template(
            "read", "GET", "/items/{id}",
            consumes=[("id", "path:id", "create", "body:$.id"), ("id", "path:id", "create", "header:Location")],
        ),
    ]
    g = build_transition_graph(make_tset(templates, {"s": ["create", "read"]}))
    dep = g["create"]["read"][f"{DEPENDENCY}:path:id"]
    assert dep["sources"] == ["body:$.id", "header:Location"]
    assert len(edges_of_kind(g, DEPENDENCY)) == 1


def test_a_step_of_an_unknown_template_splits_the_session():
    templates = [make_template(t, "GET", f"/{t}") for t in ("a", "b")]
    tset = make_tset(templates, {"s": ["a", "dropped", "b"]})
    g = build_transition_graph(tset)
    assert g.graph["sessions"] == {"s": [["a"], ["b"]]}
    assert ("a", "b") not in observed_pairs(tset)
    assert set(g.successors(START)) == {"a"}
    # A binding to a template that is not in the set draws no edge.
    templates.append(make_template("c", "GET", "/c", consumes=[("x", "query:x", "ghost", "body:$.x")]))
    assert not edges_of_kind(build_transition_graph(make_tset(templates, {})), DEPENDENCY)


def test_click_details_show_method_path_and_examples_with_secrets_masked():
    g = build_transition_graph(shop_tset())
    details = g.nodes["create"]["details"]
    assert details["method"] == "POST" and details["path"] == "/orders"
    assert details["example request"].startswith("POST /orders HTTP/1.1")
    assert "Authorization: Bearer ***" in details["example request"]
    assert '"id": 17' in details["example response"]
    login = g.nodes["login"]["details"]
    assert '"user": "ann"' in login["example request"]
    everything = json.dumps([d for _, d in g.nodes(data=True)])
    assert SECRET_TOKEN not in everything and SECRET_PASSWORD not in everything


def test_the_start_node_id_is_reserved():
    tset = make_tset([make_template(START, "GET", "/")], {})
    with pytest.raises(ValueError, match="reserved"):
        build_transition_graph(tset)
