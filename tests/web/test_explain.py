"""Leave-one-out attribution for a reader that reads facts: each fact's effect on the chosen answer's score."""

from __future__ import annotations

from kqa.attribution import ReadFacts, explain
from kqa.config import PipelineConfig, ScorerConfig
from kqa.data import question_from_text
from kqa.pipeline import KQAPipeline
from kqa.types import Evidence, Fact
from kqa.web.explain import Explainer


class CountingReader:
    """Score of a choice = how many prompt facts mention it (the best `max_facts` of all choices, like the scorer)."""

    name = "counting"

    def __init__(self, max_facts: int):
        self.config = ScorerConfig(use_facts=True, max_facts=max_facts)

    @property
    def uses_facts(self):
        return self.config.use_facts

    def warm_up(self):
        pass

    def run(self, questions, evidence=None):
        out = []
        for q, e in zip(questions, evidence):
            texts = [f.text for f in self.prompt_facts(e)]
            out.append(tuple(float(sum(c.text in t for t in texts)) for c in q.choices))
        return out

    def prompt_facts(self, evidence):
        facts = sorted({f.text: f for per in evidence.per_choice for f in per}.values(), key=lambda f: -f.score)
        return tuple(facts[: self.config.max_facts])

    def explain(self, question, evidence):
        read = ReadFacts(self.prompt_facts(evidence) if self.uses_facts else ())
        return explain(self, question, evidence, lambda e, chosen: read)


class FixedRetriever:
    def __init__(self, per_choice):
        self.per_choice = per_choice

    def run(self, question):
        return Evidence(question.id, self.per_choice, ("fish",), (("aquarium",), ("pond",)))


def fact(text, score):
    return Fact("h", "RelatedTo", "t", text, score)


def test_each_prompt_fact_gets_its_leave_one_out_effect_on_the_chosen_answer():
    question = question_from_text("Where do fish live?", ["aquarium", "pond"])
    per_choice = ((fact("fish live in an aquarium", 0.9), fact("an aquarium is a tank", 0.8)),
                  (fact("a pond has fish", 0.7), fact("a pond near an aquarium", 0.1)))
    pipeline = KQAPipeline(PipelineConfig(), CountingReader(max_facts=3), FixedRetriever(per_choice))
    explained = Explainer(pipeline).run(question)
    assert explained.prediction.label == "A"  # aquarium: 2 facts of the 3 in the prompt mention it
    effects = {f.text: f.attribution for c in explained.prediction.choices for f in c.evidence}
    assert effects == {"fish live in an aquarium": 1.0, "an aquarium is a tank": 1.0, "a pond has fish": 0.0,
                       "a pond near an aquarium": None}  # the 4th fact is beyond max_facts: not in the prompt


def test_no_attribution_when_the_reader_ignores_facts_and_the_reason_is_given():
    question = question_from_text("Where do fish live?", ["aquarium", "pond"])
    reader = CountingReader(max_facts=3)
    reader.config = ScorerConfig(use_facts=False)
    pipeline = KQAPipeline(PipelineConfig(), reader, FixedRetriever(((fact("fish live in an aquarium", 0.9),), ())))
    explained = Explainer(pipeline).run(question)
    assert explained.prediction.choices[0].evidence[0].attribution is None
    assert "use_facts is false" in explained.attribution
