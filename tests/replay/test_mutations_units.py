"""The mutation generator, its application to requests, and the re-bucketing of mutated findings
(pure logic on hand-built templates and requests; the end-to-end tests are test_mutations_blog.py)."""

from __future__ import annotations

import json

import pytest
from venom_replay.proxy.config import VenomConfig
from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.recording import Request, Response
from venom_replay.replay.checkers.base import StepResult, Violation
from venom_replay.replay.findings import Action
from venom_replay.replay.mutations.apply import NotApplicable, apply_mutation
from venom_replay.replay.mutations.generate import (
    HUGE,
    NEVER_PRODUCED_ID,
    generate,
    learn_request_domains,
)
from venom_replay.replay.mutations.judge import mutated_violations
from venom_replay.replay.mutations.model import Mutation
from venom_replay.replay.mutations.settings import MutationSettings

PUT = ActionTemplate(id="PUT /posts/{post_id}", method="PUT", path="/posts/{post_id}")
LIST = ActionTemplate(id="GET /posts", method="GET", path="/posts")


def put(post_id: int, title: str, tags: list[str]) -> Request:
    body = json.dumps({"id": post_id, "title": title, "tags": tags}).encode()
    return Request("PUT", "http", "127.0.0.1", 80, f"/posts/{post_id}", headers=[("Content-Type", "application/json")],
                   body=body, body_size=len(body))


def listing(per_page: int) -> Request:
    return Request("GET", "http", "127.0.0.1", 80, "/posts", query=[("page", "1"), ("per_page", str(per_page))])


LIST_ANSWER = (LIST, Response(200, body=json.dumps({"items": [
    {"id": 1, "title": "a", "tags": ["x"], "checksum": "ab12cd34ef56", "author": {"name": "ann"}}]}).encode()))


def test_a_put_gets_drops_an_echoed_field_and_an_unknown_id_first():
    request = put(1, "a", ["x"])
    found = generate(PUT, request, [request], [LIST_ANSWER], MutationSettings(per_template=8))
    kinds = {(m.kind, m.location) for m in found}
    assert ("foreign-id", "path:post_id") in kinds
    assert {("drop", "body:$.id"), ("drop", "body:$.title"), ("drop", "body:$.tags")} <= kinds
    assert ("echo", "body:$.checksum") in kinds and ("empty-object", "body:$.tags") in kinds
    echo = next(m for m in found if m.kind == "echo")
    assert echo.value == "ab12cd34ef56"
    assert len(found) == 8


def test_the_budget_is_shared_field_by_field_and_cut():
    request = put(1, "a", ["x"])
    everything = generate(PUT, request, [request], [LIST_ANSWER], MutationSettings(per_template=100))
    assert {"null", "wrong-type", "number", "string"} <= {m.kind for m in everything}
    assert generate(PUT, request, [request], [], MutationSettings(per_template=0)) == []
    first_drops = [m.location for m in everything if m.kind == "drop"][:3]
    assert first_drops == ["body:$.id", "body:$.title", "body:$.tags"]


def test_number_boundaries_come_from_the_learned_range():
    recorded = [listing(n) for n in (10, 20, 5, 10, 20, 50)]
    found = generate(LIST, recorded[0], recorded, [], MutationSettings(per_template=100, strict_domains=True))
    per_page = [m for m in found if m.location == "query:per_page" and m.kind == "number"]
    values = [m.value for m in per_page]
    assert values[:3] == [51, HUGE, 2**31] and {0, -1, 4, 2**63} <= set(values)
    assert all(m.outside_domain for m in per_page)  # 6 recorded values from 5 to 50
    lenient = generate(LIST, recorded[0], recorded, [], MutationSettings(per_template=100))
    assert not any(m.outside_domain for m in lenient)  # only judged with --strict-domains


def test_a_learned_format_is_broken_on_purpose():
    bodies = [json.dumps({"email": f"u{i}@example.org"}).encode() for i in range(4)]
    requests = [Request("POST", "http", "h", 80, "/users", body=b) for b in bodies]
    tpl = ActionTemplate(id="POST /users", method="POST", path="/users")
    assert learn_request_domains(requests)["body:$.email"].format() == "email"
    found = generate(tpl, requests[0], requests, [], MutationSettings(per_template=100))
    assert Mutation("format", "body:$.email", "not-an-email", "breaks the learned email format") in found


def test_skip_fields_and_extra_values():
    request = put(1, "a", ["x"])
    settings = MutationSettings(per_template=100, skip_fields=frozenset({"title", "path:post_id"}),
                                extra_values={"tags": [["' OR 1=1 --"]]})
    found = generate(PUT, request, [request], [], settings)
    assert not any(m.location in ("body:$.title", "path:post_id") for m in found)
    assert found[0] == Mutation("extra", "body:$.tags", ["' OR 1=1 --"], "[mutations] extra_values")


def test_applying_mutations_to_body_query_and_path():
    request = put(7, "a", ["x"])
    dropped = apply_mutation(request, PUT.path, Mutation("drop", "body:$.id"))
    assert json.loads(dropped.body) == {"title": "a", "tags": ["x"]} and dropped.body_size == len(dropped.body)
    echoed = apply_mutation(request, PUT.path, Mutation("echo", "body:$.checksum", "ab"))
    assert json.loads(echoed.body)["checksum"] == "ab" and json.loads(request.body).get("checksum") is None
    moved = apply_mutation(request, PUT.path, Mutation("foreign-id", "path:post_id", NEVER_PRODUCED_ID))
    assert moved.path == f"/posts/{NEVER_PRODUCED_ID}"
    prefixed = apply_mutation(Request("PUT", "http", "h", 80, "/api/v1/posts/7", body=b"{}"), PUT.path,
                              Mutation("foreign-id", "path:post_id", 9))
    assert prefixed.path == "/api/v1/posts/9"  # the target's path prefix is kept
    query = apply_mutation(listing(10), LIST.path, Mutation("number", "query:per_page", 100001))
    assert query.query == [("page", "1"), ("per_page", "100001")]
    with pytest.raises(NotApplicable):
        apply_mutation(listing(10), LIST.path, Mutation("drop", "query:missing"))
    with pytest.raises(NotApplicable):
        apply_mutation(request, PUT.path, Mutation("drop", "body:$.absent"))


def test_mutated_findings_are_bucketed_by_field_and_kind():
    mutation = Mutation("drop", "body:$.id")
    step = StepResult(PUT, put(1, "a", []), Response(500), mutation=mutation)
    [v] = mutated_violations(step, [Violation("server-error", "PUT answered 500", "server-error:PUT /posts/{post_id}:500")])
    assert v.signature == "server-error:PUT /posts/{post_id}:500|mutation:body:$.id:drop"
    assert "body:$.id left out" in v.message and v.details["mutation"] == mutation.as_dict()


def test_a_mutation_round_trips_through_report_json_and_names_itself():
    mutation = Mutation("number", "query:per_page", 2**63, "2^63", outside_domain=True)
    assert Mutation.from_dict(json.loads(json.dumps(mutation.as_dict()))) == mutation
    action = Action("GET /posts", mutation=mutation)
    assert str(action) == "GET /posts [query:per_page = 9223372036854775808 (number: 2^63)]"
    assert action != Action("GET /posts") and hash(Action("PUT", mutation=Mutation("empty-object", "body:$.tags", {})))


def test_the_mutations_section_is_read_and_checked():
    config = VenomConfig(raw={"mutations": {"per_template": 3, "skip_fields": ["password"], "strict_domains": True}})
    settings = MutationSettings.from_config(config)
    assert (settings.per_template, settings.skip_fields, settings.strict_domains) == (3, frozenset({"password"}), True)
    assert MutationSettings.from_config(config, per_template=0).per_template == 0  # --no-mutations wins
    with pytest.raises(ConfigError):
        MutationSettings.from_config(VenomConfig(raw={"mutations": {"skip_fields": "password"}}))


def test_strict_domains_reports_an_accepted_out_of_domain_value_at_low_severity():
    from venom_replay.proxy.infer.model import TemplateSet
    from venom_replay.replay.checkers.base import StepContext
    from venom_replay.replay.mutations.judge import MutationDomainChecker

    def judged(status: int, outside: bool) -> list:
        mutation = Mutation("number", "query:per_page", 51, "learned max 50, + 1", outside_domain=outside)
        step = StepResult(LIST, listing(51), Response(status), mutation=mutation)
        ctx = StepContext(step=step, path=[step], values={}, templates=TemplateSet({LIST.id: LIST}, {}))
        return mutated_violations(step, MutationDomainChecker().check(ctx))

    [v] = judged(200, True)
    assert v.details["severity"] == "low" and v.signature.startswith("mutation-domain:GET /posts|mutation:query:per_page")
    assert judged(400, True) == [] and judged(200, False) == []


def _create(label: str, user: str, new_id: int) -> tuple[ActionTemplate, Request, Response]:
    method, path = label.split(" ", 1)
    tpl = ActionTemplate(id=label, method=method, path=path, effect="create")
    request = Request(method, "http", "api.test", 80, path, headers=[("Authorization", f"Bearer {user}")],
                      body=b'{"title": "t"}')
    return tpl, request, Response(201, body=json.dumps({"id": new_id}).encode())


def test_ids_of_another_kind_and_of_another_identity_come_from_recorded_creates():
    from venom_replay.replay.mutations.ids import created_ids

    created = created_ids([_create("POST /posts", "ann", 11), _create("POST /posts", "bob", 12),
                           _create("POST /posts/{post_id}/comments", "ann", "c-77"),
                           _create("POST /tags", "ann", 3)])  # a small integer could be a post's id too
    read = ActionTemplate(id="GET /posts/{post_id}", method="GET", path="/posts/{post_id}")
    as_ann = Request("GET", "http", "api.test", 80, "/posts/11", headers=[("Authorization", "Bearer ann")])
    plain = generate(read, as_ann, [as_ann], [], MutationSettings(), created)
    assert [(m.kind, m.value) for m in plain if m.location == "path:post_id"] == [
        ("foreign-id", NEVER_PRODUCED_ID), ("other-kind-id", "c-77")]  # a comment's id where a post's goes
    swapped = generate(read, as_ann, [as_ann], [], MutationSettings(), created, swap_identities=True)
    assert ("other-identity-id", 12) in [(m.kind, m.value) for m in swapped]  # bob's post, sent as ann
    assert ("other-identity-id", 11) not in [(m.kind, m.value) for m in swapped]  # ann's own is no swap
