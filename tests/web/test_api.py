"""The page's JSON API over a tiny-model pipeline: answers with evidence, limits, errors, graph updates, load."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from kqa.config import ModelConfig
from kqa.graph.builder import import_documents
from kqa.web.app import create_app
from kqa.web.config import WebConfig
from tests.retrieval.conftest import document
from tests.web.conftest import FISH, running


@pytest.fixture
def client(tiny_pipeline):
    with TestClient(create_app(tiny_pipeline, WebConfig(max_question_chars=80, max_choices=5))) as c:
        yield c


def ask(client, question=FISH[0], choices=FISH[1], **extra):
    return client.post("/api/ask", json={"question": question, "choices": choices, **extra})


def test_ask_answers_with_probabilities_evidence_and_picture(client):
    r = ask(client)
    assert r.status_code == 200, r.text
    body = r.json()
    choices = body["prediction"]["choices"]
    assert [c["text"] for c in choices] == FISH[1]
    assert sum(c["probability"] for c in choices) == pytest.approx(1.0)
    assert body["prediction"]["predicted"] in "ABC"
    aquarium = choices[0]
    assert any(f["tail"] == "aquarium" and f["provenance"][0]["sentence"] for f in aquarium["evidence"])
    assert "live fish" in body["question_concepts"] or "fish" in body["question_concepts"]
    assert body["choice_concepts"][0] == ["aquarium"]
    assert body["evidence_png"].startswith("data:image/png;base64,iVBOR")  # base64 of the PNG signature


def test_facts_in_the_prompt_get_an_attribution(client):
    body = ask(client).json()
    facts = [f for c in body["prediction"]["choices"] for f in c["evidence"]]
    assert facts and all(f["attribution"] is not None for f in facts)  # fewer facts than scorer.max_facts
    assert "left out" in body["attribution"]
    quiet = ask(client, explain=False).json()
    assert all(f["attribution"] is None for c in quiet["prediction"]["choices"] for f in c["evidence"])


@pytest.mark.parametrize("question, choices, field", [
    ("   ", ["a", "b"], "`question` is empty"),
    ("why " * 30, ["a", "b"], "`question` has 119 characters, more than the limit of 80"),
    ("Where?", ["only one", "  "], "at least 2 non-empty answer choices"),
    ("Where?", [f"c{i}" for i in range(6)], "6 answer choices, more than the limit of 5"),
    ("Where?", ["a", "x" * 201], "choice 2 has 201 characters"),
])
def test_bad_questions_get_400_naming_the_field(client, question, choices, field):
    r = ask(client, question, choices)
    assert r.status_code == 400
    assert field in r.json()["error"]


def test_malformed_and_oversized_bodies_are_refused_with_a_message(client):
    r = client.post("/api/ask", json={"question": "Where?"})
    assert r.status_code == 400 and "`choices`" in r.json()["error"]
    r = client.post("/api/ask", content=b'{"question": "' + b"x" * 70000 + b'", "choices": ["a", "b"]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]


def test_concept_neighbourhood_stats_and_unknown_concepts(client):
    r = client.get("/api/concept", params={"name": "  Fish "})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["concept"] == "fish" and body["png"].startswith("data:image/png;base64,")
    assert {(e["relation"], e["tail"]) for e in body["edges"]} >= {("AtLocation", "aquarium"), ("CapableOf", "swim")}
    missing = client.get("/api/concept", params={"name": "fis"})
    assert missing.status_code == 404
    assert "'fis' is not in the graph" in missing.json()["error"] and "fish" in missing.json()["suggestions"]
    assert client.get("/api/concept", params={"name": ""}).status_code == 400
    assert client.get("/api/concept", params={"name": "x" * 500}).json()["error"].startswith("`concept` has 500")
    assert client.get("/api/suggest", params={"q": "re"}).json()[:1] == ["revolving door"]
    stats = client.get("/api/stats").json()
    assert stats["edges"] == 17 and stats["relations"]["AtLocation"] == 5


def test_a_graph_update_while_serving_is_picked_up(client, graph_dir):
    assert client.get("/api/concept", params={"name": "pond"}).status_code == 404
    import_documents(graph_dir, [document("d3", [("fish", "AtLocation", "pond")], "Fish live in a pond.")])
    assert client.get("/api/stats").json()["edges"] == 18
    assert client.get("/api/concept", params={"name": "pond"}).status_code == 200
    body = ask(client, choices=["pond", "oven"]).json()
    assert body["choice_concepts"][0] == ["pond"]  # the retriever links the new concept
    assert any(f["tail"] == "pond" for f in body["prediction"]["choices"][0]["evidence"])


def test_a_graph_that_cannot_be_read_keeps_the_old_one_and_says_so(client, graph_dir):
    manifest = graph_dir / "manifest.json"
    text = manifest.read_text().replace('"log_bytes": ', '"log_bytes": 1')  # claims bytes the log does not hold
    manifest.write_text(text)
    stats = client.get("/api/stats").json()
    assert stats["edges"] == 17 and "cannot be read" in stats["note"]
    assert ask(client).status_code == 200


def test_pipeline_without_a_graph_answers_and_says_how_to_add_one(tiny_pipeline):
    tiny_pipeline.retriever = None
    with TestClient(create_app(tiny_pipeline)) as client:
        assert ask(client).json()["prediction"]["choices"][0]["evidence"] == []
        r = client.get("/api/stats")
        assert r.status_code == 400 and "--graph DIR" in r.json()["error"]
        assert client.get("/api/info").json()["graph"] is None


def test_model_is_loaded_once_and_twenty_concurrent_questions_all_answer(tiny_pipeline, tiny_llama_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    loads = []
    real = AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *a, **k: (loads.append(1), real(*a, **k))[1])
    reader = tiny_pipeline.reader
    reader.model_config, reader.model, reader.tokenizer = ModelConfig(name=str(tiny_llama_dir)), None, None
    with running(create_app(tiny_pipeline)) as url:
        def one(i):
            return httpx.post(f"{url}/api/ask", json={"question": f"Where would you keep fish {i}?",
                                                       "choices": ["aquarium", "oven"], "explain": False}, timeout=60)
        with ThreadPoolExecutor(20) as pool:
            replies = list(pool.map(one, range(20)))
    assert [r.status_code for r in replies] == [200] * 20
    assert {r.json()["prediction"]["choices"][0]["text"] for r in replies} == {"aquarium"}
    assert len(loads) == 1  # at start-up, not per request


def test_more_waiting_questions_than_the_limit_get_503_busy(tiny_pipeline):
    gate = threading.Event()
    run = tiny_pipeline.reader.run
    tiny_pipeline.reader.run = lambda *a, **k: (gate.wait(10), run(*a, **k))[1]  # hold the model
    with running(create_app(tiny_pipeline, WebConfig(max_waiting=2))) as url:
        def one(_):
            return httpx.post(f"{url}/api/ask", json={"question": "Where?", "choices": ["a", "b"], "explain": False},
                              timeout=30)
        with ThreadPoolExecutor(5) as pool:
            futures = [pool.submit(one, i) for i in range(5)]
            threading.Timer(2.0, gate.set).start()
            replies = [f.result() for f in futures]
    codes = sorted(r.status_code for r in replies)
    assert codes.count(200) == 2 and codes.count(503) == 3, codes
    assert "already waiting for the model" in next(r for r in replies if r.status_code == 503).json()["error"]
