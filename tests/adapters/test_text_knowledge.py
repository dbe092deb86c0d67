"""Facts in the reader's input (`adapter.knowledge: text|both`), full fine-tuning, and the three-reader lift."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from kqa.adapters.config import AdapterConfig, TrainConfig
from kqa.adapters.encoding import QuestionEncoder, collate, pad_id
from kqa.adapters.model import build_model, check_cache_allowed
from kqa.adapters.reader import AdapterReader
from kqa.adapters.saving import load_model, save_adapter
from kqa.errors import ConfigError, InputError
from kqa.evaluation.lift import KnowledgeLift
from kqa.train import split_questions
from kqa.types import Evidence, Fact
from tests.test_adapter_model import QUESTIONS, FakeRetriever, make_question, tiny_config

JELLY = make_question("Where would you find a jellyfish?", ["ocean", "desert"], "j1")
JELLY_FACTS = Evidence("j1", ((Fact("jellyfish", "AtLocation", "ocean", "a jellyfish is located at an ocean"),
                               Fact("ocean", "HasA", "water", "an ocean has water")), ()))


def test_encoder_appends_the_choice_facts_after_a_separator(minilm_tokenizer):
    encoder = QuestionEncoder(minilm_tokenizer, "encoder", 64, 32, 4, stream=False, text=True)
    encoded = encoder.encode(JELLY, JELLY_FACTS)
    assert minilm_tokenizer.decode(encoded.pairs[0]) == (
        "[CLS] where would you find a jellyfish? [SEP] ocean [SEP] a jellyfish is located at an ocean ; "
        "an ocean has water [SEP]")
    plain = QuestionEncoder(minilm_tokenizer, "encoder", 64, 32, 4, stream=False, text=False).encode(JELLY)
    assert encoded.pairs[1] == plain.pairs[1]  # a choice without facts reads as without knowledge
    assert encoded.facts == ((), ())  # text only: no knowledge stream


def test_facts_give_way_to_the_question_and_the_choice(minilm_tokenizer):
    long_facts = Evidence("j1", (tuple(Fact("a", "IsA", "b", f"fact number {i} about oceans and seas") for i in
                                       range(20)), ()))
    encoder = QuestionEncoder(minilm_tokenizer, "encoder", 24, 64, 20, stream=False, text=True)
    ids = encoder.encode(JELLY, long_facts).pairs[0]
    text = minilm_tokenizer.decode(ids)
    assert len(ids) == 24 and text.startswith("[CLS] where would you find") and "[SEP] ocean [SEP] fact" in text
    budget = QuestionEncoder(minilm_tokenizer, "encoder", 128, 5, 20, stream=False, text=True)
    facts_part = minilm_tokenizer.decode(budget.encode(JELLY, long_facts).pairs[0]).split("[SEP]")[2]
    assert len(minilm_tokenizer(facts_part.strip(), add_special_tokens=False)["input_ids"]) == 5  # max_fact_tokens


def test_decoder_reads_the_facts_before_the_question(minilm_tokenizer):
    encoder = QuestionEncoder(minilm_tokenizer, "decoder", 64, 32, 4, stream=False, text=True)
    # a BERT vocabulary stands in for the decoder's: its [CLS]/[SEP] are not what is tested
    text = minilm_tokenizer.decode(encoder.encode(JELLY, JELLY_FACTS).pairs[0], skip_special_tokens=True)
    assert text.startswith("facts : a jellyfish is located at an ocean ; an ocean has water.")
    assert text.endswith("question : where would you find a jellyfish? answer : ocean")
    short = QuestionEncoder(minilm_tokenizer, "decoder", 12, 32, 4, stream=False, text=True)
    ids = short.encode(JELLY, JELLY_FACTS).pairs[0]
    assert len(ids) == 12 and minilm_tokenizer.decode(ids, skip_special_tokens=True).endswith("answer : ocean")


@pytest.mark.parametrize(("values", "message"), [
    ({"method": "gated", "knowledge": "text"}, r"`knowledge: text` puts the facts in the input.*use `knowledge: both`"),
    ({"method": "lora", "knowledge": "both"}, r"`knowledge: both` needs a gated method .* got `method` 'lora'"),
    ({"knowledge": "prompt"}, r"Input should be 'stream', 'text' or 'both'"),
])
def test_knowledge_mode_errors_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        AdapterConfig(**values)


def test_text_facts_change_the_logits_of_a_lora_reader(tiny_bert_dir, minilm_tokenizer):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="lora", knowledge="text"))
    encoder = model.make_encoder(tokenizer, 64)
    with_facts = collate([encoder.encode(q, FakeRetriever().run(q)) for q in QUESTIONS], pad_id(tokenizer))
    without = collate([encoder.encode(q) for q in QUESTIONS], pad_id(tokenizer))
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(with_facts), model(without))
    assert with_facts.input_ids.shape[1] > without.input_ids.shape[1] and with_facts.fact_mask.sum() == 0


def test_both_feeds_the_stream_and_the_text(tiny_bert_dir):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="gated", knowledge="both"))
    encoded = model.make_encoder(tokenizer, 64).encode(JELLY, JELLY_FACTS)
    assert encoded.facts[0] and "[SEP] ocean [SEP] a jellyfish" in tokenizer.decode(encoded.pairs[0])


def test_full_fine_tuning_trains_the_backbone_and_saves_it(tiny_bert_dir, tmp_path):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="full", knowledge="text"))
    backbone = [p for k, p in model.backbone.named_parameters()]
    assert all(p.requires_grad for p in backbone) and model.trainable_parameters() > model.backbone_parameters()
    with torch.no_grad():  # as if trained: the saved folder must carry the changed backbone
        for p in backbone:
            p.add_(0.01)
    batch = collate([model.make_encoder(tokenizer, 64).encode(JELLY, JELLY_FACTS)], pad_id(tokenizer))
    expected = model.eval()(batch)
    save_adapter(model, tmp_path / "full")
    loaded, _ = load_model(tmp_path / "full")
    assert torch.allclose(loaded.eval()(batch), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="activation_cache` cannot be used with `adapter.method: full`"):
        check_cache_allowed(model)


WORDS = ["fish", "paper", "stone", "river", "bread", "cloud", "chair", "lamp", "snow", "apple", "horse", "glass"]


class AnswerRetriever:
    """Facts that name the gold answer (what good knowledge looks like), for every choice of the question."""

    def run(self, question):
        gold = next(c.text for c in question.choices if c.label == question.answer)
        fact = Fact(gold, "IsA", "answer", f"the answer is {gold}")
        return Evidence(question.id, tuple((fact,) if c.text == gold else () for c in question.choices))


def test_knowledge_lift_trains_three_readers_and_pairs_them(tiny_bert_dir, tmp_path):
    rng = random.Random(0)  # the answer is arbitrary: only a reader of the facts can find it
    questions = [make_question(f"Which word, number {i}?", rng.sample(WORDS, 3), f"t{i}", rng.choice("ABC"))
                 for i in range(30)]
    adapter = tiny_config(tiny_bert_dir, method="lora", knowledge="text", facts_per_choice=2)
    train = TrainConfig(seed=0, train_fraction=0.6, dev_fraction=0.1, epochs=4, batch_size=4, lr=1e-2, patience=9,
                        max_length=48)
    lift = KnowledgeLift(adapter, train, AnswerRetriever(), progress=False)
    result = lift.run(questions, tmp_path / "lift")
    assert [r.name for r in result.readers] == ["without", "facts", "control"] and result.split == (18, 3, 9)
    facts, without = result.reader("facts"), result.reader("without")
    assert facts.accuracy >= 0.75 and facts.accuracy > without.accuracy  # the facts give the answer away
    pair = result.pair("facts", "without")
    assert pair.difference == pytest.approx(facts.accuracy - without.accuracy)
    assert pair.a_only - pair.b_only == round(pair.difference * pair.n)
    saved = json.loads((tmp_path / "lift" / "lift.json").read_text())
    assert saved["pairs"][1]["a"] == "facts" and saved["pairs"][1]["b"] == "control"
    assert "knowledge lift (facts - control)" in result.table()
    stamp = (tmp_path / "lift" / "facts" / "test.json").stat().st_mtime_ns
    again = KnowledgeLift(adapter, train, AnswerRetriever(), progress=False).run(questions, tmp_path / "lift")
    assert again.readers == result.readers  # stored runs are reused, not retrained
    assert (tmp_path / "lift" / "facts" / "test.json").stat().st_mtime_ns == stamp
    assert [(p.a, p.b) for p in result.pairs] == [("facts", "without"), ("facts", "control")]
    test = {q.id: q for q in questions}
    gold = [test[qid].labels.index(test[qid].answer) for qid in result.test_ids]
    assert facts.correct == tuple(int(np.argmax(s)) == g for s, g in zip(facts.scores, gold))  # the stored logits


def test_a_stored_reader_without_test_logits_is_tested_again_not_retrained(tiny_bert_dir, tmp_path):
    questions = [make_question(f"Which word, number {i}?", WORDS[i % 5 : i % 5 + 3], f"t{i}", "A") for i in range(10)]
    adapter = tiny_config(tiny_bert_dir, method="lora", knowledge="text", facts_per_choice=2)
    train = TrainConfig(seed=0, train_fraction=0.6, dev_fraction=0.1, epochs=1, batch_size=4, max_length=48)
    lift = KnowledgeLift(adapter, train, AnswerRetriever(), progress=False, readers=["without"])
    first = lift.run(questions, tmp_path / "lift")
    record = json.loads((tmp_path / "lift" / "without" / "test.json").read_text())
    assert "split_seed" not in record["stamp"]["train"]  # unset: stamps written before the field existed still match
    del record["run"]["scores"]  # as written before the logits were kept
    (tmp_path / "lift" / "without" / "test.json").write_text(json.dumps(record))
    weights = tmp_path / "lift" / "without" / "adapter" / "adapter.safetensors"
    trained_at = weights.stat().st_mtime_ns
    again = lift.run(questions, tmp_path / "lift")
    assert weights.stat().st_mtime_ns == trained_at and again.readers == first.readers
    with pytest.raises(KeyError, match=r"no pair \('facts', 'without'\) in this lift \(were both readers trained"):
        again.pair("facts", "without")


def test_stored_readers_are_retrained_when_the_paths_find_other_facts_or_the_kernels_differ(tiny_bert_dir, tmp_path,
                                                                                            monkeypatch):
    questions = [make_question(f"Which word, number {i}?", WORDS[i % 5 : i % 5 + 3], f"t{i}", "A") for i in range(10)]
    adapter = tiny_config(tiny_bert_dir, method="lora", knowledge="text", facts_per_choice=2)
    train = TrainConfig(seed=0, train_fraction=0.6, dev_fraction=0.1, epochs=1, batch_size=4, max_length=48)
    readers = ["without", "facts"]

    def trained_at() -> dict[str, int]:
        KnowledgeLift(adapter, train, AnswerRetriever(), progress=False, readers=readers).run(questions, tmp_path / "l")
        return {r: (tmp_path / "l" / r / "adapter" / "adapter.safetensors").stat().st_mtime_ns for r in readers}

    first = trained_at()
    assert trained_at() == first  # reused
    monkeypatch.setattr("kqa.evaluation.lift.PATH_RULES", -1)  # a retrieval version that finds other facts
    second = trained_at()
    assert second["without"] == first["without"] and second["facts"] > first["facts"]  # only the facts reader
    monkeypatch.setattr("kqa.evaluation.lift.cpu_kernels", lambda: "other kernels")  # another machine's answers
    third = trained_at()
    assert third["without"] > second["without"] and third["facts"] > second["facts"]


def test_lift_refuses_a_split_without_test_questions_or_answers_before_training(tiny_bert_dir, tmp_path):
    questions = [make_question(f"Which word, number {i}?", WORDS[i % 5 : i % 5 + 3], f"t{i}", "A") for i in range(10)]
    adapter = tiny_config(tiny_bert_dir, method="lora", knowledge="text")
    everything = TrainConfig(seed=0, train_fraction=0.7, dev_fraction=0.3)
    with pytest.raises(ConfigError, match=r"`train.train_fraction` \+ `train.dev_fraction` \(0.7 \+ 0.3\) leave none"):
        KnowledgeLift(adapter, everything, AnswerRetriever(), progress=False).run(questions, tmp_path / "lift")
    test_ids = {questions[i].id for i in split_questions(len(questions), TrainConfig(seed=0)).test}
    unanswered = [replace(q, answer=None) if q.id in test_ids else q for q in questions]  # train and dev answered
    with pytest.raises(InputError, match=r"gold `answer`; 3 have none among their labels, e.g. \['t"):
        KnowledgeLift(adapter, TrainConfig(seed=0), AnswerRetriever(), progress=False).run(unanswered,
                                                                                           tmp_path / "lift")
    assert not (tmp_path / "lift").exists()  # refused before any reader trained


def test_lift_refuses_an_unknown_reader(tiny_bert_dir):
    with pytest.raises(ValueError, match=r"`readers` \['random'\] are not readers"):
        KnowledgeLift(tiny_config(tiny_bert_dir), TrainConfig(), None, readers=["facts", "random"])


def test_adapter_reader_explains_text_facts(tiny_bert_dir):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="lora", knowledge="text"))
    reader = AdapterReader(model=model.eval(), tokenizer=tokenizer)
    prediction = reader.explain(JELLY, FakeRetriever().run(JELLY))  # two facts for every choice
    chosen = next(c for c in prediction.choices if c.label == prediction.label)
    assert len(chosen.evidence) == 2 and all(f.attribution is not None for f in chosen.evidence)
