"""Leave-one-out attribution: one implementation for every reader.

A reader answers; the facts its score for the chosen answer read are then left out one at a time, and each fact's
`attribution` is the chosen answer's score with all of them minus its score without that fact (positive: the fact
supported the answer). The K+1 variants (all K facts, then each left out) are scored in one `reader.run` call on
single-choice copies of the question, so a reader batches them into one forward pass where it can, and the full
score is measured in the same batch as the ones it is compared with. A reader that scores the copies its own way (the
zero-shot scorer reads them in the answer's pass) passes its `score` to `explain_scored`; the copies
(`left_out_copies`) and the effects stay the ones defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from kqa.prediction import best_choice, make_prediction
from kqa.roles import Reader
from kqa.types import Evidence, Fact, Prediction, Question


@dataclass(frozen=True)
class ReadFacts:
    """The facts a reader read for one answer, in reading order, and which copies of them show their effect."""

    facts: tuple[Fact, ...] = ()
    choice: int | None = None  # only this choice's facts show effects; None: every copy (a prompt shared by all)
    limit: int | None = None  # only the first `limit` facts of a choice were read; None: all of them
    everywhere: bool = False  # each choice reads other choices' facts beside its own (a long_context adapter's
    # documents and knowledge stream): a fact is left out of the whole question, not out of a single-choice copy


Score = Callable[[Sequence[Question], Sequence[Evidence]], list[tuple[float, ...]]]  # a reader's `run`


def explain(reader: Reader, question: Question, evidence: Evidence,
            read: Callable[[Evidence, int], ReadFacts]) -> Prediction:
    """Answer `question` with `reader`, then attribute the facts `read(evidence, chosen)` names."""
    scores = reader.run([question], [evidence])[0]
    return explain_scored(reader.run, question, evidence, scores, read)


def explain_scored(score: Score, question: Question, evidence: Evidence, scores: Sequence[float],
                   read: Callable[[Evidence, int], ReadFacts]) -> Prediction:
    """`explain` once the answer's `scores` are known: the leave-one-out copies are scored by `score`."""
    chosen = best_choice(scores)
    facts = read(evidence, chosen)
    if facts.everywhere:
        effects = leave_one_out_everywhere(score, question, evidence, chosen, facts.facts)
    else:
        effects = leave_one_out(score, question, chosen, facts.facts)
    return make_prediction(question, tuple(scores), attribute(evidence, effects, facts))


def no_facts(evidence: Evidence, chosen: int) -> ReadFacts:
    """The `read` of a reader that reads no facts: its explanation attributes nothing."""
    return ReadFacts()


def leave_one_out(score: Score, question: Question, chosen: int, facts: Sequence[Fact]) -> dict[str, float]:
    """Effect of each fact (by text) on the score of choice `chosen`: with all `facts` minus without that one
    (`score`: a reader's `run`)."""
    if not facts:
        return {}
    scores = score(*left_out_copies(question, chosen, facts))  # (K+1, 1)
    full = scores[0][0]
    return {f.text: full - s[0] for f, s in zip(facts, scores[1:])}


def left_out_copies(question: Question, chosen: int, facts: Sequence[Fact]) -> tuple[list[Question], list[Evidence]]:
    """The K+1 single-choice copies of `question` whose scores give the effects: choice `chosen` with all `facts`,
    then with each left out."""
    facts = list(facts)
    single = replace(question, choices=(question.choices[chosen],), answer=None)
    kept = [facts] + [facts[:j] + facts[j + 1 :] for j in range(len(facts))]  # K+1 fact sets: all, then each left out
    return [single] * len(kept), [Evidence(question.id, (tuple(k),)) for k in kept]


def leave_one_out_everywhere(score: Score, question: Question, evidence: Evidence, chosen: int,
                             facts: Sequence[Fact]) -> dict[str, float]:
    """`leave_one_out` for a reader whose choices read each other's facts: the K+1 copies are the whole question,
    with all its facts, then without each fact's text in any choice (K+1 times as many sequences as choices)."""
    if not facts:
        return {}
    texts = [f.text for f in facts]
    copies = [replace(evidence, per_choice=tuple(tuple(f for f in per if f.text != left_out) for per in
                                                 evidence.per_choice)) for left_out in (None, *texts)]
    scores = score([question] * len(copies), copies)  # (K+1, C)
    full = scores[0][chosen]
    return {text: full - s[chosen] for text, s in zip(texts, scores[1:])}


def attribute(evidence: Evidence, effects: Mapping[str, float], read: ReadFacts) -> Evidence:
    """`evidence` whose read facts carry their effect (None for facts that were not left out)."""

    def mark(i: int, per: tuple[Fact, ...]) -> tuple[Fact, ...]:
        if read.choice is not None and i != read.choice:
            return per
        limit = len(per) if read.limit is None else read.limit
        return tuple(replace(f, attribution=effects.get(f.text)) if k < limit else f for k, f in enumerate(per))

    return replace(evidence, per_choice=tuple(mark(i, per) for i, per in enumerate(evidence.per_choice)))


def format_explanation(prediction: Prediction) -> str:
    """Text for `kqa ask --explain`: the chosen answer and the facts it read, most influential first.

    Facts are gathered over all choices: a prompt shared by every choice (the zero-shot scorer) reads facts found for
    other choices too; each is listed once."""
    chosen = next(c for c in prediction.choices if c.label == prediction.label)
    read = {f.text: f for c in prediction.choices for f in c.evidence if f.attribution is not None}
    facts = sorted(read.values(), key=lambda f: -abs(f.attribution))
    lines = [f"{chosen.label}. {chosen.text}  (p={chosen.probability:.3f})"]
    if not facts:
        lines.append("   no facts were read for this answer")
    for fact in facts:
        lines.append(f"   {fact.attribution:+.4f}  {fact.text}")
    return "\n".join(lines)
