"""The page's JSON API: any request gets an answer, or a 4xx whose JSON `error` names the field; never a 500."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_web import WebRequests
from tests.fuzz import FUZZ


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    return WebRequests(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_requests_are_answered_or_refused_naming_the_field(web, rng):
    outcome = web.run(rng)
    assert outcome.kind != "escaped", outcome.detail


def ask(web, body: bytes):
    return web.client.post("/api/ask", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("choices", ['["$\\\\undefined$", "b$"]', '["$x^$", "fish"]', '["a $\\\\frac{$", "b"]'])
def test_dollar_signs_in_choices_are_drawn_as_typed_not_parsed_as_math(web, choices):
    """matplotlib read "$...$" as mathtext: an unknown command raised ValueError and the page answered 500."""
    r = ask(web, b'{"question": "Where is the fish?", "choices": ' + choices.encode() + b"}")
    assert r.status_code == 200, r.text
    assert r.json()["evidence_png"].startswith("data:image/png;base64,")


def test_a_concept_name_with_dollar_signs_is_drawn():
    from kqa.graph.draw import neighbourhood_png

    assert neighbourhood_png("$\\undefined$", []).startswith(b"\x89PNG")


def test_a_lone_surrogate_in_the_question_is_a_400_naming_the_field(web):
    r = ask(web, b'{"question": "Where is the fish\\ud800?", "choices": ["sea", "oven"]}')
    assert r.status_code == 400
    assert r.json()["error"].startswith("the request: `question` holds '\\ud800' at position 17")


@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"question": ' + b"1" * 5000 + b"}"], ids=["deep", "5000-digits"])
def test_a_body_fastapi_cannot_parse_is_a_400_in_the_pages_own_shape(web, body):
    r = ask(web, body)
    assert r.status_code == 400
    assert r.json() == {"error": "`request body`: there was an error parsing the body. Send JSON like "
                                 '{"question": "...", "choices": ["a", "b"]}.'}


def test_unknown_paths_and_methods_say_which_endpoints_exist(web):
    r = web.client.put("/api/ask")
    assert r.status_code == 405
    assert r.json()["error"].startswith("`/api/ask`: Method Not Allowed (405); the endpoints are GET /api/info")
    assert web.client.get("/api/nothing").json()["error"].startswith("`/api/nothing`: Not Found (404)")
