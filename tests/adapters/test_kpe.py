"""KPE's knowledge losses (train.knowledge_losses): spans of each fact in the stream, tail masking, the two heads,
and a gated adapter trained with them on a tiny config-built BERT."""

from __future__ import annotations

import pytest
import torch

from kqa.adapters.config import KnowledgeLosses, TrainConfig
from kqa.adapters.encoding import QuestionEncoder, collate, pad_id
from kqa.adapters.kpe import IGNORE, RELATIONS, KnowledgeObjectives, mask_tails
from kqa.errors import ConfigError
from kqa.retrieval.verbalize import verbalize
from kqa.train import Trainer
from kqa.types import Evidence, Fact
from tests.test_adapter_model import make_question, tiny_config
from tests.test_train import QUESTIONS, train_config


def fact(head, relation, tail):
    return Fact(head, relation, tail, verbalize(head, relation, tail))


class TripleRetriever:
    """Each choice gets two real triples: where it is located and what it is used for (tails from the stem)."""

    def run(self, question):
        topic = question.stem.split()[3]
        return Evidence(question.id, tuple((fact(c.text, "AtLocation", topic), fact(c.text, "UsedFor", "sleeping"))
                                           for c in question.choices))


def encoder(tokenizer, max_fact_tokens=64):
    return QuestionEncoder(tokenizer, "encoder", 64, max_fact_tokens, 4, spans=True)


def test_spans_point_at_each_facts_head_and_tail(minilm_tokenizer):
    question = make_question("Where would you keep a live fish?", ["fish tank", "desert"], "q1")
    facts = (fact("fish tank", "AtLocation", "pet store"), fact("fish tank", "UsedFor", "keeping fish"))
    encoded = encoder(minilm_tokenizer).encode(question, Evidence("q1", (facts, ())))
    stream, spans = encoded.facts[0], encoded.spans[0]
    words = [minilm_tokenizer.decode(stream[a:b]) for h0, h1, t0, t1, _ in spans for a, b in ((h0, h1), (t0, t1))]
    assert words == ["fish tank", "pet store", "fish tank", "keeping fish"]
    assert [s[4] for s in spans] == [RELATIONS.index("AtLocation"), RELATIONS.index("UsedFor")]
    assert encoded.spans[1] == ()  # a choice without facts has no spans
    assert stream == QuestionEncoder(minilm_tokenizer, "encoder", 64, 64, 4).encode(
        question, Evidence("q1", (facts, ()))).facts[0]  # the same stream as without spans


def test_a_fact_cut_by_the_stream_length_has_no_span(minilm_tokenizer):
    question = make_question("Where would you keep a live fish?", ["aquarium", "desert"], "q1")
    facts = (fact("aquarium", "AtLocation", "house"), fact("aquarium", "UsedFor", "keeping fish alive"))
    evidence = Evidence("q1", (facts, ()))
    full = encoder(minilm_tokenizer).encode(question, evidence)
    cut = encoder(minilm_tokenizer, max_fact_tokens=len(full.facts[0]) - 1).encode(question, evidence)
    assert len(full.spans[0]) == 2 and cut.spans[0] == full.spans[0][:1]


def test_mask_tails_hides_exactly_the_tails_and_keeps_them_as_labels(minilm_tokenizer):
    items = [encoder(minilm_tokenizer).encode(q, TripleRetriever().run(q)) for q in QUESTIONS[:3]]
    batch = collate(items, pad_id(minilm_tokenizer))
    masked, labels = mask_tails(batch.fact_ids, batch.fact_spans, minilm_tokenizer.mask_token_id)
    tails = torch.zeros_like(masked, dtype=torch.bool)
    for n, _, _, t0, t1, _ in batch.fact_spans.tolist():
        tails[n, t0:t1] = True
    assert tails.any() and torch.equal(masked == minilm_tokenizer.mask_token_id, tails)
    assert torch.equal(labels[tails], batch.fact_ids[tails]) and (labels[~tails] == IGNORE).all()
    assert torch.equal(masked[~tails], batch.fact_ids[~tails])


def test_objectives_learn_tail_tokens_and_relations():
    torch.manual_seed(0)
    relations = torch.randn(len(RELATIONS), 8)
    heads = KnowledgeObjectives(8, 50, relations, KnowledgeLosses())
    stream = torch.randn(2, 6, 8)
    spans = torch.tensor([[0, 0, 1, 2, 4, 3], [1, 0, 2, 3, 5, 7]])
    labels = torch.full((2, 6), IGNORE)
    labels[0, 2:4], labels[1, 3:5] = torch.tensor([5, 6]), torch.tensor([7, 8])
    optimizer = torch.optim.Adam(heads.parameters(), lr=1e-2)
    first = heads(stream, spans, labels)
    for _ in range(100):
        loss = heads(stream, spans, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first.item()
    no_facts = heads(stream.requires_grad_(), spans[:0], torch.full((2, 6), IGNORE))
    assert no_facts.item() == 0.0 and no_facts.requires_grad  # a batch without facts still backpropagates


def test_gated_adapter_trains_with_knowledge_losses(tiny_bert_dir, tmp_path):
    adapter = tiny_config(tiny_bert_dir, method="gated")
    plain = Trainer(adapter, train_config(epochs=1), TripleRetriever(), progress=False).run(QUESTIONS, tmp_path / "a")
    kpe = Trainer(adapter, train_config(epochs=1, knowledge_losses=KnowledgeLosses()), TripleRetriever(),
                  progress=False).run(QUESTIONS, tmp_path / "b")
    assert all(torch.isfinite(torch.tensor(kpe.losses)))
    assert kpe.losses[0] > plain.losses[0] + 1.0  # QA + span prediction over the vocabulary + relation InfoNCE
    from kqa.adapters.saving import read_adapter

    assert sorted(read_adapter(kpe.adapter_dir).weights) == sorted(read_adapter(plain.adapter_dir).weights)


def test_knowledge_losses_without_a_stream_or_on_resume_name_the_setting(tiny_bert_dir, tmp_path):
    losses = train_config(epochs=1, knowledge_losses=KnowledgeLosses())
    text_reader = tiny_config(tiny_bert_dir, method="lora", knowledge="text")
    with pytest.raises(ConfigError, match=r"`train.knowledge_losses` .* `adapter.method` 'lora' with "
                                          r"`adapter.knowledge` 'text' reads none"):
        Trainer(text_reader, losses, TripleRetriever(), progress=False).run(QUESTIONS, tmp_path / "a")
    with pytest.raises(ConfigError, match="--resume.*knowledge_losses"):
        Trainer(tiny_config(tiny_bert_dir), losses, TripleRetriever(), progress=False).run(
            QUESTIONS, tmp_path / "b", resume=True)
    with pytest.raises(ValueError, match="temperature"):
        KnowledgeLosses(temperature=0)


@pytest.fixture
def triple_graph(tmp_path):
    from kqa.graph.model import AddDocument, Document, Triple
    from kqa.graph.store import GraphStore

    things = ["fish", "paper", "stone", "river", "bread", "cloud", "chair", "lamp"]
    triples = tuple(Triple(a, relation, b, f"{a} {b}", "test", 0.9) for a in things for b in things if a != b
                    for relation in ("AtLocation", "UsedFor"))
    with GraphStore.open(tmp_path / "g", writable=True, create=True) as store:
        store.commit([AddDocument(Document("d1", "facts.txt", triples))])
    return tmp_path / "g"


def test_knowledge_pretraining_reads_the_graph_before_the_questions(tiny_bert_dir, triple_graph, tmp_path):
    from kqa.adapters.config import KnowledgePretraining
    from kqa.adapters.pretrain import graph_facts

    facts = graph_facts(triple_graph, 40, seed=0)
    assert len(facts) == 40 and facts == graph_facts(triple_graph, 40, seed=0)
    assert len(graph_facts(triple_graph, 10_000, seed=0)) == 8 * 7 * 2  # all of them when the graph holds fewer
    adapter = tiny_config(tiny_bert_dir, method="gated")
    losses = KnowledgeLosses()
    config = train_config(epochs=1, knowledge_losses=losses)
    plain = Trainer(adapter, config, TripleRetriever(), progress=False).run(QUESTIONS, tmp_path / "a")
    pretrained = Trainer(adapter, config.model_copy(update={"knowledge_pretraining": KnowledgePretraining(
        facts=64, batch_size=8)}), TripleRetriever(), progress=False, graph=triple_graph).run(QUESTIONS, tmp_path / "b")
    assert pretrained.losses[0] < plain.losses[0] - 0.5  # the knowledge losses start lower after pre-training
    with pytest.raises(ConfigError, match="`train.knowledge_pretraining` reads the graph's facts, but no graph"):
        Trainer(adapter, config.model_copy(update={"knowledge_pretraining": KnowledgePretraining()}),
                TripleRetriever(), progress=False).run(QUESTIONS, tmp_path / "c")
    with pytest.raises(ValueError, match="`knowledge_pretraining` learns the `knowledge_losses` objectives"):
        TrainConfig(knowledge_pretraining=KnowledgePretraining())
