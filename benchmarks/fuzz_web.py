"""The web page's JSON API as a fuzz target: the real app over a tiny graph, with a fake reader (no language model).

The fake retriever turns the question and each choice into a fact, so user text reaches the evidence picture too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from benchmarks import fuzz_inputs as inputs
from benchmarks.fuzz_targets import Outcome, Target
from kqa.attribution import explain, no_facts
from kqa.types import Evidence, Fact


class LengthReader:
    """Scores a choice by its length: deterministic, instant, and reads no facts."""

    name = "fuzz-length"
    uses_facts = False

    def warm_up(self) -> None:
        pass

    def run(self, questions, evidence=None):
        return [tuple(float(len(c.text)) for c in q.choices) for q in questions]

    def explain(self, question, evidence):
        return explain(self, question, evidence, no_facts)


class EchoRetriever:
    """One fact per choice linking the question's first word to the choice, over a real store (for the browser)."""

    def __init__(self, store):
        self.store = store

    def run(self, question) -> Evidence:
        head = question.stem.split()[0]
        per_choice = tuple((Fact(head, "RelatedTo", c.text, f"{head} is related to {c.text}", 0.5),)
                           for c in question.choices)
        return Evidence(question.id, per_choice, (head,), tuple((c.text,) for c in question.choices))


class WebRequests(Target):
    """POST /api/ask bodies, GET /api/concept and /api/suggest queries, odd methods and paths.

    succeeded: a 2xx/3xx answer; refused: a 4xx whose JSON `error` names a field (in backticks); escaped: the rest.
    """

    name = "web"

    def __init__(self, workdir: Path):
        from fastapi.testclient import TestClient

        from kqa.config import PipelineConfig
        from kqa.graph.builder import import_documents
        from kqa.graph.model import Document, Triple
        from kqa.graph.store import GraphStore
        from kqa.pipeline import KQAPipeline
        from kqa.web.app import create_app
        from kqa.web.config import WebConfig

        super().__init__(workdir)
        graph = self.workdir / "graph"
        triples = tuple(Triple(h, r, t, f"{h} {t}.", "fuzz", 0.9) for h, r, t in (
            ("fish", "AtLocation", "aquarium"), ("fish", "AtLocation", "sea"), ("oven", "UsedFor", "bake")))
        import_documents(graph, [Document("d1", "d1.txt", triples)])
        pipeline = KQAPipeline(PipelineConfig(), LengthReader(), EchoRetriever(GraphStore.open(graph)))
        self.client = TestClient(create_app(pipeline, WebConfig()), raise_server_exceptions=False)
        self.client.__enter__()  # one event loop for all requests, not one per request (5 ms each)

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def run(self, rng: random.Random) -> Outcome:
        method, url, options = web_request(rng)
        try:
            response = self.client.request(method, url, **options)
        except Exception as exc:  # noqa: BLE001
            return Outcome("escaped", f"{method} {url[:80]}: the client failed: {type(exc).__name__}: {exc}")
        return classify(response.status_code, response.content, f"{method} {url[:80]}")


def web_request(rng: random.Random) -> tuple[str, str, dict]:
    """(method, URL, httpx keywords) of one request to the page's API."""
    from urllib.parse import quote_from_bytes

    kind = rng.randrange(10)
    if kind < 6:
        body = {"question": f"Where is the {rng.choice(inputs.WORDS)}?", "choices": list(rng.sample(inputs.WORDS, 3)),
                "explain": rng.random() < 0.5}
        content = inputs.maybe_mutated(body, rng, p_value=0.97, p_bytes=0.2)  # a valid ask is drawn (0.15 s): keep few
        kind_header = rng.choice(("application/json", "application/json", "text/plain", ""))
        return "POST", "/api/ask", {"content": content, "headers": {"content-type": kind_header} if kind_header else {}}
    if kind < 9:
        raw = inputs.odd_string(rng)[:300] if rng.random() < 0.7 else rng.choice(inputs.WORDS)
        data = raw.encode("utf-8", "surrogatepass") if rng.random() < 0.8 else rng.randbytes(rng.randrange(1, 9))
        return "GET", f"/api/{rng.choice(('concept?name=', 'suggest?q='))}{quote_from_bytes(data)}", {}
    return rng.choice((("GET", "/api/info", {}), ("GET", "/api/stats", {}), ("GET", "/api/nothing", {}),
                       ("PUT", "/api/ask", {}), ("POST", "/api/ask", {"content": b"x" * 70_000})))


def classify(status: int, content: bytes, request: str) -> Outcome:
    if status < 400:
        return Outcome("succeeded")
    try:
        error = json.loads(content).get("error")
    except (ValueError, AttributeError):
        error = None
    if status < 500 and isinstance(error, str) and "`" in error:
        return Outcome("refused", f"{status} {error[:300]}")
    return Outcome("escaped", f"{request} -> {status} {content[:300]!r}")
