import threading

import pytest

from kqa.data import question_from_text
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.retriever import FactRetriever
from kqa.retrieval.service import build_index, link_text

QUESTION = question_from_text("Where would you keep a live fish?", ["aquarium", "oven", "desert"])


def test_evidence_per_choice_with_provenance(graph_dir):
    build_index(graph_dir, progress=False)
    retriever = FactRetriever.from_graph(graph_dir, "en-core-web-sm", RetrievalConfig(top_k=3))
    evidence = retriever.run(QUESTION)
    assert len(evidence.per_choice) == 3 and evidence.question_concepts == ("live fish",)
    assert evidence.choice_concepts == (("aquarium",), ("oven",), ("desert",))
    aquarium = evidence.per_choice[0]
    assert 1 <= len(aquarium) <= 3
    assert aquarium[0].text == "a live fish is located at an aquarium" and aquarium[0].origin == "direct"
    assert aquarium[0].provenance[0].sentence == "first" and aquarium[0].id
    assert [f.score for f in aquarium] == sorted((f.score for f in aquarium), reverse=True)
    assert any(f.text == "an oven is used for bake" for f in evidence.per_choice[1])


def test_graph_only_retrieval_needs_no_index(graph_dir):
    retriever = FactRetriever.from_graph(graph_dir, "en-core-web-sm", RetrievalConfig(dense_k=0))
    assert retriever.index is None
    evidence = retriever.run(QUESTION)
    assert all(f.origin != "dense" for per in evidence.per_choice for f in per)
    assert evidence.per_choice[0]


def test_mix_zero_ranks_by_dense_similarity_only(graph_dir):
    build_index(graph_dir, progress=False)
    dense = FactRetriever.from_graph(graph_dir, "en-core-web-sm", RetrievalConfig(mix=0.0, top_k=2)).run(QUESTION)
    for per in dense.per_choice:
        assert all(f.score >= 0 for f in per)


def test_link_text(graph_dir):
    assert [c["name"] for c in link_text(graph_dir, "A revolving door at the bank")] == ["revolving door", "bank"]


def test_merged_aliases_link_to_their_canonical_concept(graph_dir):
    from kqa.graph.resolve import merge

    merge(graph_dir, "aquarium", "tank")  # "aquarium" now reads as "tank"
    retriever = FactRetriever.from_graph(graph_dir, "en-core-web-sm", RetrievalConfig(dense_k=0))
    evidence = retriever.run(QUESTION)
    assert evidence.choice_concepts[0] == ("tank",)
    assert evidence.per_choice[0], "the alias's edges are found under the canonical concept"


def _question(stem, choices, concept=None, answer="A"):
    from dataclasses import replace

    return replace(question_from_text(stem, choices), concept=concept, answer=answer)


def test_question_concept_field_links_like_the_text(graph_dir):
    retriever = FactRetriever.from_graph(graph_dir, "en-core-web-sm", RetrievalConfig(dense_k=0))
    question = _question("Where would you put it?", ["aquarium", "oven"], concept="fishes")
    evidence = retriever.run(question)
    assert evidence.question_concepts == ("fish",)
    assert evidence.per_choice[0][0].text == "a fish is located at an aquarium" and evidence.per_choice[0][0].origin == "direct"
    off = FactRetriever.from_graph(graph_dir, "en-core-web-sm", RetrievalConfig(dense_k=0, question_concept=False))
    assert off.run(question).question_concepts == ()


def test_negated_assertions_are_never_retrieved(tmp_path):
    from kqa.graph.builder import import_documents
    from tests.retrieval.conftest import document

    import_documents(tmp_path / "g", [document("d", [("penguin", "NotCapableOf", "fly"), ("penguin", "CapableOf", "swim"),
                                                     ("bird", "CapableOf", "fly")])])
    retriever = FactRetriever.from_graph(tmp_path / "g", "en-core-web-sm", RetrievalConfig(dense_k=0))
    evidence = retriever.run(_question("What can a penguin do?", ["fly", "swim"]))
    assert all(f.relation != "NotCapableOf" for per in evidence.per_choice for f in per)
    assert [f.text for f in evidence.per_choice[1]][:1] == ["a penguin can swim"]


def test_per_pair_gives_the_slots_of_one_concept_pair_to_other_concepts(tmp_path):
    from kqa.graph.builder import import_documents
    from tests.retrieval.conftest import document

    import_documents(tmp_path / "g", [document("d", [("fish", "AtLocation", "aquarium"), ("aquarium", "HasA", "fish"),
                                                     ("fish", "IsA", "aquarium"), ("live", "RelatedTo", "aquarium")])])
    question = _question("Where would you keep a live fish?", ["aquarium", "oven"])

    def pairs(per_pair):
        config = RetrievalConfig(dense_k=0, top_k=2, per_pair=per_pair, paths={"choice_weight": 0.0})
        facts = FactRetriever.from_graph(tmp_path / "g", "en-core-web-sm", config).run(question).per_choice[0]
        return [frozenset((f.head, f.tail)) for f in facts]

    assert pairs(None) == [frozenset(("fish", "aquarium"))] * 2  # the three fish-aquarium edges outrank RelatedTo
    assert pairs(1) == [frozenset(("fish", "aquarium")), frozenset(("live", "aquarium"))]


def test_per_pair_must_be_positive():
    with pytest.raises(ValueError, match="per_pair"):
        RetrievalConfig(per_pair=0)


def test_definitions_are_ranked_after_connecting_facts(tmp_path):
    from kqa.graph.builder import import_documents
    from kqa.graph.model import ConceptInfo, Document
    from tests.retrieval.conftest import TRIPLES, document

    defs = Document("defs", "definitions", (), (ConceptInfo("aquarium", "", "a tank for keeping fish"),))
    import_documents(tmp_path / "g", [document("d1", TRIPLES), defs])
    config = RetrievalConfig(dense_k=0, definitions=True, top_k=10)
    evidence = FactRetriever.from_graph(tmp_path / "g", "en-core-web-sm", config).run(QUESTION)
    aquarium = evidence.per_choice[0]
    origins = [f.origin for f in aquarium]
    assert "definition" in origins and origins.index("definition") > origins.index("direct")
    definition = aquarium[origins.index("definition")]
    assert definition.text == "aquarium: a tank for keeping fish" and definition.provenance[0].source == "definition"
    assert all(f.origin == "choice" for f in aquarium[origins.index("definition") + 1:])
    plain = FactRetriever.from_graph(tmp_path / "g", "en-core-web-sm", RetrievalConfig(dense_k=0, top_k=10)).run(QUESTION)
    assert all(f.origin != "definition" for per in plain.per_choice for f in per)


class RecordingEmbedder:
    """Records each encode call; unit vectors (C, 4) stand in for the model."""

    def __init__(self):
        self.calls = []

    def encode(self, texts, progress=False):
        import numpy as np

        self.calls.append(list(texts))
        return np.eye(len(texts), 4, dtype=np.float32)


class NoHits:
    def search(self, queries, k):
        return [[] for _ in queries]


class ThreadRecordingEmbedder(RecordingEmbedder):
    def encode(self, texts, progress=False):
        self.threads = getattr(self, "threads", []) + [threading.current_thread().name]
        return super().encode(texts, progress)


@pytest.mark.parametrize("beside", [True, False])
def test_one_batched_encode_call_per_question(graph_dir, nlp, beside):
    from kqa.graph.store import GraphStore
    from kqa.retrieval.linking import ConceptLinker

    embedder = ThreadRecordingEmbedder()
    with GraphStore.open(graph_dir) as store:
        retriever = FactRetriever(store, ConceptLinker(store.vocabulary(), nlp), NoHits(), embedder, RetrievalConfig())
        retriever.encode_beside = beside
        evidence = retriever.run(QUESTION)
    # the question's content words and every choice (`query: content`, the default)
    assert embedder.calls == [[f"keep live fish {c.text}" for c in QUESTION.choices]]
    assert evidence.per_choice[0][0].text == "a live fish is located at an aquarium"
    # beside linking and paths, in the retriever's encoder thread; or in the caller's
    assert embedder.threads[0].startswith("kqa-query-encoding") == beside


def test_query_question_encodes_the_question_as_written(graph_dir, nlp):
    from kqa.graph.store import GraphStore
    from kqa.retrieval.linking import ConceptLinker

    embedder = RecordingEmbedder()
    with GraphStore.open(graph_dir) as store:
        retriever = FactRetriever(store, ConceptLinker(store.vocabulary(), nlp), NoHits(), embedder,
                                  RetrievalConfig(query="question"))
        retriever.run(QUESTION)
    assert embedder.calls == [[f"{QUESTION.stem} {c.text}" for c in QUESTION.choices]]


def test_content_words_drop_function_words_and_punctuation_but_keep_concept_words():
    from kqa.retrieval.retriever import content_words

    # "go", "keep" and "not" are spaCy stop words that ConceptNet's concept names keep
    assert content_words("Where would you go to keep a jellyfish that is not captured?") == \
        "go keep jellyfish not captured"
    assert content_words("Where is it?") == ""
    assert content_words("Where would you order a café crème?") == "order café crème"  # any script's letters
    # clitics go ("what's" is "what", a function word), a negation stays as "not", curly apostrophes read as straight
    assert content_words("What's a dog’s toy that isn’t chewed at five o'clock?") == \
        "dog toy not chewed five o'clock"


def test_query_must_be_a_known_form():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"query\n  Input should be 'content' or 'question'"):
        RetrievalConfig(query="stem")
