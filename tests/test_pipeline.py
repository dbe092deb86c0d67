import pytest

from kqa.attribution import explain, no_facts
from kqa.config import PipelineConfig
from kqa.data import question_from_text
from kqa.pipeline import KQAPipeline
from kqa.scoring import CausalLMScorer


class FakeReader:
    """Scores fixed per label, so the pipeline's own logic (argmax, probabilities, ties) is what is tested."""

    name = "fake"
    uses_facts = False

    def __init__(self, by_label):
        self.by_label = by_label
        self.calls = 0

    def warm_up(self):
        pass

    def run(self, questions, evidence=None):
        self.calls += 1
        return [tuple(self.by_label[c.label] for c in q.choices) for q in questions]

    def explain(self, question, evidence):
        return explain(self, question, evidence, no_facts)


def test_answer_picks_the_best_choice_with_probabilities():
    pipeline = KQAPipeline(PipelineConfig(), FakeReader({"A": -3.0, "B": -1.0, "C": -2.0}))
    prediction = pipeline.answer(question_from_text("q?", ["x", "y", "z"]))
    assert prediction.label == "B"
    assert sum(c.probability for c in prediction.choices) == pytest.approx(1.0)
    assert prediction.choices[1].probability == max(c.probability for c in prediction.choices)
    assert prediction.evidence == ()  # no retriever yet
    assert prediction.correct is None


def test_ties_go_to_the_first_choice():
    pipeline = KQAPipeline(PipelineConfig(), FakeReader({"A": 0.0, "B": 1.0, "C": 1.0}))
    assert pipeline.answer(question_from_text("q?", ["x", "y", "z"])).label == "B"


def test_answer_batch_chunks_and_keeps_order():
    reader = FakeReader({"A": 1.0, "B": 0.0})
    questions = [question_from_text(f"q{i}?", ["x", "y"], qid=f"q{i}") for i in range(20)]
    predictions = KQAPipeline(PipelineConfig(), reader).answer_batch(questions, progress=False, chunk=8)
    assert [p.question_id for p in predictions] == [f"q{i}" for i in range(20)]
    assert reader.calls == 3
    assert all(p.latency_s >= 0 for p in predictions)


def test_from_config_accepts_a_local_model_folder(tiny_llama_dir):
    pipeline = KQAPipeline.from_config({"model": {"name": str(tiny_llama_dir)}})
    assert isinstance(pipeline.reader, CausalLMScorer)
    prediction = pipeline.answer(question_from_text("Where is the fish?", ["sea", "sky"]))
    assert prediction.label in {"A", "B"}
    assert len(prediction.choices) == 2 and prediction.to_dict()["predicted"] == prediction.label
