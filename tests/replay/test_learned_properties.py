"""Learning and checking never crash, whatever JSON the API answers (Hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venom_replay.replay.learned.learn import LearnedChecker
from venom_replay.replay.learned.model import split_path, child_path

from support.learned_traffic import Traffic, run_path

keys = st.sampled_from(["id", "amount", "refunded", "status", "a b", "x.y", 'q"uote', "", "token", "items", "0"]) | st.text(max_size=6)
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5), max_leaves=25)
# Bodies that look like resources (objects with numeric fields) find relations; arbitrary ones find edge cases.
objects = st.dictionaries(keys, scalars, min_size=1, max_size=6)
bodies = json_values | objects | st.lists(objects, max_size=4) | st.dictionaries(st.just("items"), st.lists(objects, max_size=4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    recorded=st.lists(st.tuples(st.sampled_from(["POST /r", "GET /r", "GET /r/1", "DELETE /r/1", "PUT /r/2"]),
                                st.sampled_from([200, 201, 204, 404, 409, 500]), bodies, bodies), min_size=1, max_size=25),
    explored=st.lists(st.tuples(st.sampled_from(["POST /r", "GET /r", "GET /r/1", "DELETE /r/1", "PUT /r/2"]),
                                st.sampled_from([200, 201, 204, 404]), bodies, bodies), min_size=1, max_size=6),
    recorded_path=st.booleans(),
)
def test_learning_and_checking_never_crash(recorded, explored, recorded_path):
    t = Traffic("POST /r", "GET /r", "GET /r/{rid}", "DELETE /r/{rid}", "PUT /r/{rid}")
    for n, (line, status, body, sent) in enumerate(recorded):
        t.call(f"s{n % 3}", line, status, body, sent=sent)
    invariants = t.learn(min_support=2, min_distinct=2, echo_min_support=2, range_min_support=4, min_path_support=1)
    for inv in invariants:
        assert inv.support >= 1 and 0.0 <= inv.confidence <= 1.0 and inv.expr
        inv.to_dict()
    tset, _ = t.build()
    checker = LearnedChecker(invariants, {})
    found = run_path(checker, [t.step(line, status, body, sent=sent) for line, status, body, sent in explored], tset, recorded=recorded_path)
    assert not (recorded_path and found)  # a recorded path never yields a finding, it only drops
    # Nothing was dropped for failing to evaluate: every kind copes with any body.
    assert not [d for d in checker.dropped if d.reason.startswith("could not be evaluated")]
    for v in found:
        assert v.checker == "learned" and v.signature.startswith("learned:") and v.details["observed"]


@given(st.lists(keys, min_size=1, max_size=4))
def test_paths_round_trip(path_keys):
    path = "$"
    for key in path_keys:
        path = child_path(path, key)
    assert split_path(path) == path_keys
