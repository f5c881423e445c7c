"""Unseen orderings: checked against a brute force that follows the written definition."""

from __future__ import annotations

import itertools
import re

import networkx as nx
import pytest

from support.fixtures_graph import make_template, make_tset, random_tset, shop_tset
from venom_replay.graph.transition import build_transition_graph
from venom_replay.graph.unseen import count_unseen, iter_unseen
from venom_replay.proxy.errors import VenomError


def natural(text):
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", text))], text


def brute_force_unseen(tset, max_depth):
    """Every sequence over the templates, kept when it respects dependencies and no session has it."""
    ids = sorted(tset.templates, key=natural)
    needs = {t: {} for t in ids}
    for t in tset.templates.values():
        for c in t.consumes:
            if c.producer in tset.templates:
                needs[t.id].setdefault(c.location, set()).add(c.producer)
    sessions = [[step.template for step in steps] for steps in tset.sessions.values()]

    def respects(seq):
        return all(prods & set(seq[:i]) for i, t in enumerate(seq) for prods in needs[t].values())

    def seen(seq):
        k = len(seq)
        return any(tuple(s[j : j + k]) == seq for s in sessions for j in range(len(s) - k + 1))

    found = []
    for k in range(1, max_depth + 1):
        found += [seq for seq in itertools.product(ids, repeat=k) if respects(seq) and not seen(seq)]
    return found


@pytest.mark.parametrize("seed", range(40))
def test_enumeration_matches_brute_force_on_random_graphs(seed):
    tset = random_tset(seed, n_templates=4 + seed % 3)
    g = build_transition_graph(tset)
    depth = 3 if seed % 3 == 2 else 4
    expected = brute_force_unseen(tset, depth)
    got = list(iter_unseen(g, depth))
    assert got == expected  # same set, same order, no duplicates
    counts = count_unseen(g, depth)
    assert counts == {k: sum(1 for s in expected if len(s) == k) for k in range(1, depth + 1)}


def test_shop_orderings_follow_the_definition():
    g = build_transition_graph(shop_tset())
    unseen = set(iter_unseen(g, 3))
    assert ("refund", "refund") not in unseen  # needs a token and an order first
    assert ("login", "create", "create") in unseen
    # Repeats and calls after a delete are exactly what the explorer wants to try.
    assert ("create", "refund", "refund") not in unseen  # create needs login first
    unseen4 = set(iter_unseen(g, 4))
    assert ("login", "create", "refund", "refund") in unseen4
    assert ("login", "create", "delete", "refund") in unseen4
    assert ("login", "create", "delete", "delete") in unseen4
    # Seen as consecutive steps: not unseen. Not consecutive in any session: unseen.
    assert ("login", "create", "read") not in unseen
    assert ("create", "read", "refund") not in unseen  # needs login, and was recorded anyway
    assert ("login", "create", "delete") not in unseen
    assert ("login", "read") not in unseen  # read needs an order id
    assert ("health",) not in unseen and ("login",) not in unseen  # recorded single calls
    assert ("health", "health") in unseen


def test_counts_equal_the_number_listed_on_a_bigger_graph():
    tset = random_tset(7, n_templates=9, n_sessions=12, max_len=10)
    g = build_transition_graph(tset)
    listed = list(iter_unseen(g, 4))
    counts = count_unseen(g, 4)
    assert sum(counts.values()) == len(listed) > 0
    assert counts == {k: sum(1 for s in listed if len(s) == k) for k in range(1, 5)}
    assert len(set(listed)) == len(listed)


def test_order_is_shortest_first_then_by_natural_template_order():
    templates = [make_template(t, "GET", f"/{t}") for t in ("t10", "t2", "t1")]
    g = build_transition_graph(make_tset(templates, {}))
    listed = list(iter_unseen(g, 2))
    assert listed[:3] == [("t1",), ("t2",), ("t10",)]
    assert listed[3:6] == [("t1", "t1"), ("t1", "t2"), ("t1", "t10")]
    assert len(listed) == 3 + 9


def test_order_does_not_depend_on_insertion_order():
    tset = random_tset(3, n_templates=6, n_sessions=6)
    shuffled = make_tset(
        list(reversed(tset.templates.values())),
        {sid: [s.template for s in steps] for sid, steps in reversed(tset.sessions.items())},
    )
    first = list(iter_unseen(build_transition_graph(tset), 3))
    second = list(iter_unseen(build_transition_graph(shuffled), 3))
    assert first == second


def test_alternative_producers_any_one_is_enough():
    templates = [
        make_template("create", "POST", "/items"),
        make_template("list", "GET", "/items"),
        make_template(
            "read", "GET", "/items/{id}",
            consumes=[("id", "path:id", "create", "body:$.id"), ("id", "path:id", "list", "body:$[0].id")],
        ),
    ]
    unseen = set(iter_unseen(build_transition_graph(make_tset(templates, {})), 2))
    assert ("create", "read") in unseen and ("list", "read") in unseen
    assert ("read",) not in unseen


def test_enumeration_is_lazy_on_a_huge_space():
    # 40 free templates at depth 8 is 40**8 (6.5e12) sequences: only a lazy generator returns here.
    templates = [make_template(f"t{i}", "GET", f"/r{i}") for i in range(40)]
    g = build_transition_graph(make_tset(templates, {"s": [f"t{i}" for i in range(40)]}))
    first = list(itertools.islice(iter_unseen(g, 8), 5))
    assert first == [("t0", "t0"), ("t0", "t2"), ("t0", "t3"), ("t0", "t4"), ("t0", "t5")]
    assert count_unseen(g, 8)[8] == 40**8 - 33  # 33 recorded substrings of length 8


def test_a_graph_without_sessions_is_refused_with_one_line():
    with pytest.raises(VenomError, match="no recorded sessions"):
        list(iter_unseen(nx.MultiDiGraph(), 2))
    with pytest.raises(VenomError, match="depth"):
        count_unseen(build_transition_graph(shop_tset()), -1)
