"""EnsembleReader: the facts reader beside the reader without facts, z-scored logits summed, exact leave-one-out."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kqa.adapters.ensemble import EnsembleReader, standardized
from kqa.adapters.model import build_model
from kqa.adapters.reader import AdapterReader
from kqa.adapters.saving import save_adapter
from kqa.errors import ConfigError, StoreError
from kqa.pipeline import KQAPipeline
from kqa.types import Evidence
from tests.test_adapter_model import QUESTIONS, FakeRetriever, _randomize_lora, tiny_config


@pytest.fixture()
def two_readers(tiny_bert_dir, tmp_path):
    """A text-facts LoRA reader and another one (other weights) standing for the reader without facts."""
    for name, seed in (("facts", 1), ("base", 2)):
        model, _ = build_model(tiny_config(tiny_bert_dir, method="lora", knowledge="text"), seed=seed)
        _randomize_lora(model, seed)
        save_adapter(model, tmp_path / name)
    return tmp_path / "facts", tmp_path / "base"


def test_scores_are_the_sum_of_the_two_readers_standardized_logits(two_readers):
    facts_dir, base_dir = two_readers
    evidence = [FakeRetriever().run(q) for q in QUESTIONS]
    got = EnsembleReader(facts_dir, base_dir).run(QUESTIONS, evidence)
    facts = AdapterReader(facts_dir).run(QUESTIONS, evidence)
    base = AdapterReader(base_dir).run(QUESTIONS, [Evidence.empty(q) for q in QUESTIONS])  # reads no facts
    for row, f, b in zip(got, facts, base):
        assert row == pytest.approx((standardized(f) + standardized(b)).tolist(), abs=1e-4)
    assert not np.allclose(got[0], standardized(facts[0]), atol=1e-3)  # the base reader does count


def test_explain_gives_the_effects_of_leaving_each_fact_out_of_the_ensemble(two_readers):
    reader = EnsembleReader(*two_readers)
    question = QUESTIONS[1]
    evidence = FakeRetriever().run(question)  # two facts for every choice
    prediction = reader.explain(question, evidence)
    chosen = [c.label for c in prediction.choices].index(prediction.label)
    full = reader.run([question], [evidence])[0][chosen]
    assert prediction.choices[chosen].score == pytest.approx(full, abs=1e-4)
    facts = evidence.per_choice[chosen]
    for k, fact in enumerate(prediction.choices[chosen].evidence):  # one fact left out at a time, whole question
        kept = facts[:k] + facts[k + 1 :]
        fewer = replace(evidence, per_choice=tuple(kept if i == chosen else f for i, f in enumerate(evidence.per_choice)))
        assert fact.attribution == pytest.approx(full - reader.run([question], [fewer])[0][chosen], abs=1e-4)
    assert any(abs(f.attribution) > 1e-4 for f in prediction.choices[chosen].evidence)


def test_a_base_adapter_of_another_architecture_is_refused(two_readers, tiny_bert_dir, tmp_path):
    model, _ = build_model(tiny_config(tiny_bert_dir, method="lora", knowledge="text", head_width=8))
    save_adapter(model, tmp_path / "narrow")
    reader = EnsembleReader(two_readers[0], tmp_path / "narrow")
    with pytest.raises(StoreError, match=r"differs from the model's in \['head_width'\]"):
        reader.warm_up()


def test_a_pipeline_with_a_base_adapter_answers_with_both(two_readers, tmp_path):
    facts_dir, base_dir = two_readers
    pipeline = KQAPipeline.from_config({"reader": {"adapter": str(facts_dir), "base_adapter": str(base_dir)}})
    assert isinstance(pipeline.reader, EnsembleReader)
    prediction = pipeline.answer(QUESTIONS[0])  # no graph: no facts, the z-scores of both readers
    alone = EnsembleReader(facts_dir, base_dir).run([QUESTIONS[0]])[0]
    assert [c.score for c in prediction.choices] == pytest.approx(list(alone), abs=1e-4)
    # --adapter replaces the configured readers, the base one too
    replaced = KQAPipeline.from_config({"reader": {"adapter": str(facts_dir), "base_adapter": str(base_dir)}},
                                       adapter=facts_dir)
    assert isinstance(replaced.reader, AdapterReader) and replaced.config.reader.base_adapter is None
    with pytest.raises(ConfigError, match=r"`reader.base_adapter` is '.*nowhere', and there is no such folder.*"
                                          r"`reader.base_adapter: null`"):
        KQAPipeline.from_config({"reader": {"adapter": str(facts_dir), "base_adapter": str(tmp_path / "nowhere")}})
    with pytest.raises(ConfigError, match=r"`reader.base_adapter` is '.*base', but `reader.adapter` is null"):
        KQAPipeline.from_config({"reader": {"base_adapter": str(base_dir)}})
    assert pipeline.reader.uses_facts  # the facts adapter reads facts (knowledge: text)
