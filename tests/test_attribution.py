"""One explanation path for every reader (kqa.attribution): the zero-shot scorer explains, batched leave-one-out
effects equal a one-fact-at-a-time loop, and the argmax behind every prediction breaks ties one way."""

from dataclasses import replace

import pytest

from kqa.attribution import ReadFacts, attribute, format_explanation, leave_one_out
from kqa.config import ModelConfig, PipelineConfig, ScorerConfig
from kqa.data import question_from_text
from kqa.pipeline import KQAPipeline
from kqa.prediction import best_choice
from kqa.scoring import CausalLMScorer
from kqa.types import Evidence, Fact

QUESTION = question_from_text("Where would you keep a live fish?", ["aquarium", "desert", "oven"], "q1")
TEXTS = ("fish live in water", "an aquarium holds water", "a desert is dry", "an oven is hot")


def fact(text: str, score: float) -> Fact:
    return Fact("h", "RelatedTo", "t", text, score)


def scorer(model, tokenizer, **settings) -> CausalLMScorer:
    return CausalLMScorer(ModelConfig(name="tiny"), ScorerConfig(use_facts=True, **settings), model=model,
                          tokenizer=tokenizer)


class Recording:
    """Scores a choice by how many of its facts mention it; records the size of every `run` call."""

    name, uses_facts = "recording", True

    def __init__(self):
        self.calls: list[int] = []

    def warm_up(self):
        pass

    def run(self, questions, evidence=None):
        self.calls.append(len(questions))
        return [tuple(float(sum(c.text in f.text for f in per)) for c, per in zip(q.choices, e.per_choice))
                for q, e in zip(questions, evidence)]


def test_ties_go_to_the_first_best_choice():
    assert best_choice([0.0, 2.0, 2.0, 1.0]) == 1 and best_choice([-1.0]) == 0


def test_leave_one_out_scores_all_and_each_left_out_in_one_call():
    reader = Recording()
    facts = [fact("an aquarium holds water", 0.9), fact("fish like an aquarium", 0.8), fact("a desert is dry", 0.7)]
    effects = leave_one_out(reader.run, QUESTION, 0, facts)
    assert reader.calls == [len(facts) + 1]  # K+1 single-choice sequences: all facts, then each left out
    assert effects == {"an aquarium holds water": 1.0, "fish like an aquarium": 1.0, "a desert is dry": 0.0}
    assert leave_one_out(reader.run, QUESTION, 0, []) == {} and reader.calls == [len(facts) + 1]


def test_attribute_writes_on_the_read_choice_within_its_limit_only():
    per_choice = ((fact("a", 1), fact("b", 1), fact("c", 1)), (fact("a", 1),), ())
    evidence = Evidence("q1", per_choice)
    effects = {"a": 0.5, "b": -0.25, "c": 2.0}
    one = attribute(evidence, effects, ReadFacts(per_choice[0][:2], choice=0, limit=2))
    assert [f.attribution for f in one.per_choice[0]] == [0.5, -0.25, None]
    assert one.per_choice[1][0].attribution is None
    shared = attribute(evidence, effects, ReadFacts(per_choice[0]))
    assert shared.per_choice[1][0].attribution == 0.5  # a prompt shared by all choices: every copy shows the effect


def test_the_zero_shot_scorer_explains_each_prompt_fact(tiny_llama, minilm_tokenizer):
    reader = scorer(tiny_llama, minilm_tokenizer, max_facts=3)
    per_choice = ((fact(TEXTS[0], 0.9), fact(TEXTS[1], 0.8)), (fact(TEXTS[2], 0.7), fact(TEXTS[0], 0.9)),
                  (fact(TEXTS[3], 0.1),))
    evidence = Evidence("q1", per_choice)
    prediction = reader.explain(QUESTION, evidence)
    scores = reader.run([QUESTION], [evidence])[0]
    assert prediction.label == QUESTION.labels[best_choice(scores)]
    assert [c.score for c in prediction.choices] == pytest.approx(scores, abs=1e-6)
    effects: dict[str, set] = {}
    for choice in prediction.choices:
        for f in choice.evidence:
            effects.setdefault(f.text, set()).add(f.attribution)
    assert effects[TEXTS[3]] == {None}  # the 4th best fact is beyond max_facts: not in the prompt
    assert all(len(v) == 1 and None not in v for t, v in effects.items() if t != TEXTS[3])  # one effect per fact
    assert format_explanation(prediction).count(TEXTS[0]) == 1  # listed once, though two choices found it


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_batched_effects_equal_a_one_fact_at_a_time_loop(tiny_llama, minilm_tokenizer, shared_prefix):
    reader = scorer(tiny_llama, minilm_tokenizer, batch_size=16, shared_prefix=shared_prefix)
    facts = [fact(t, 1.0 - 0.1 * i) for i, t in enumerate(TEXTS)]
    effects = leave_one_out(reader.run, QUESTION, 0, facts)
    single = replace(QUESTION, choices=QUESTION.choices[:1], answer=None)

    def alone(kept):  # one unbatched run per fact set
        return reader.run([single], [Evidence("q1", (tuple(kept),))])[0][0]

    full = alone(facts)
    for j, f in enumerate(facts):
        assert effects[f.text] == pytest.approx(full - alone(facts[:j] + facts[j + 1 :]), abs=1e-4)
    assert any(abs(e) > 1e-6 for e in effects.values())  # the facts do move the score


def test_pipeline_explains_with_the_zero_shot_scorer_without_a_graph(tiny_llama, minilm_tokenizer):
    pipeline = KQAPipeline(PipelineConfig(), scorer(tiny_llama, minilm_tokenizer))
    prediction = pipeline.explain(QUESTION)
    assert prediction.label == pipeline.answer(QUESTION).label
    assert prediction.evidence == () and "no facts were read" in format_explanation(prediction)
