"""Two readers on one frozen backbone: the reader without facts beside each reader of a lift run (issue #16).

For each lift run (benchmarks/results/lift_<tag>.json, its adapters under runs/lift/<tag>/), a second reader without
facts is trained on the same split with other initialisation, shuffling and dropout (`train.split_seed`; kept under
runs/lift/<tag>/without-2/ and reused when there). Each reader's test logits are standardized per question (z-scores
over the choices) and summed in pairs:
  without + without-2   two readers without facts: the fair baseline, as many readers and as much training
  without + facts       the reader without facts beside the reader of the retrieved facts
  without + control     the reader without facts beside the reader of another question's facts
Per run: each reader's and each pair's test accuracy with 95% CI, and (without + facts) against the reader without
facts alone and against the two other pairs (paired bootstrap CI, exact McNemar p); over all runs the same
differences with each distinct test question counted once (kqa.evaluation.metrics.paired_by_question). The single readers' answers are checked against the lift
run's stored ones.

    python -m benchmarks.bench_lift_ensemble --name default-runs minilm-lora-text-direct-runs \
        minilm-lora-text-direct-runs-seed1 minilm-lora-text-direct-runs-seed2

Writes benchmarks/results/ensemble_<name>.json after each run, and each run's test z-scores to
runs/lift/<tag>/test_z.npz.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, write_result
from kqa.adapters.config import AdapterConfig, TrainConfig
from kqa.adapters.ensemble import standardized
from kqa.adapters.reader import AdapterReader
from kqa.config import load_config
from kqa.data import load_mixture, load_questions
from kqa.evaluation.metrics import bootstrap_ci, paired_by_question, paired_stats
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.control import MatchedControlRetriever
from kqa.retrieval.retriever import CachedRetriever, FactRetriever
from kqa.train import Trainer
from kqa.types import Evidence

logger = logging.getLogger(__name__)
SECOND_SEED = 1000  # the second reader without facts trains with seed + this, on the split of seed
PAIRS = (("without", "without-2"), ("without", "facts"), ("without", "control"))


def run_tag(tag: str, spacy_model: str) -> tuple[list[str], dict[str, list[bool]], dict]:
    """Test question ids, each reader's and pair's answers (right or not), and the run's JSON section."""
    lift = json.loads((RESULTS / f"lift_{tag}.json").read_text(encoding="utf-8"))
    adapter, train = AdapterConfig.model_validate(lift["adapter"]), TrainConfig.model_validate(lift["train"])
    questions = load_questions(lift["data"], limit=lift["n"]).questions
    by_id = {q.id: q for q in questions}
    test = [by_id[qid] for qid in lift["result"]["test_ids"]]
    retriever = CachedRetriever(FactRetriever.from_graph(Path(lift["graph"]), spacy_model,
                                                         RetrievalConfig.model_validate(lift["retrieval"])))
    extra = load_mixture(((s.data, s.weight) for s in train.extra_data), seed=train.seed)
    control = MatchedControlRetriever(retriever, [*questions, *extra], seed=train.seed)
    folder = Path("runs/lift") / tag
    second = folder / "without-2"
    if not (second / "adapter").is_dir():
        again = train.model_copy(update={"seed": train.seed + SECOND_SEED, "split_seed": train.seed})
        Trainer(adapter, again, None).run(questions, second, extra=extra)
    sources = {"without": None, "without-2": None, "facts": retriever, "control": control}
    z = {}
    for name, source in sources.items():
        evidence = [source.run(q) if source else Evidence.empty(q) for q in test]
        scores = AdapterReader(folder / name / "adapter", max_length=train.max_length).run(test, evidence)
        z[name] = np.array([standardized(s) for s in scores])  # (Q, C) as kqa.adapters.ensemble scores
    np.savez(folder / "test_z.npz", ids=[q.id for q in test], **z)  # for further analyses, without re-scoring
    gold = np.array([q.labels.index(q.answer) for q in test])
    answers = {name: list(z[name].argmax(axis=1) == gold) for name in z}
    answers |= {f"{a}+{b}": list((z[a] + z[b]).argmax(axis=1) == gold) for a, b in PAIRS}
    differ = [stored["name"] for stored in lift["result"]["readers"]  # the same adapters and questions: same answers
              if [bool(c) for c in stored["correct"]] != [bool(c) for c in answers[stored["name"]]]]
    if differ:
        logger.warning("%s: readers %s answer differently from their lift run", tag, differ)
    return [q.id for q in test], answers, _section(answers) | {"differ_from_lift_run": differ}


def _section(answers: dict[str, list[bool]]) -> dict:
    accuracy = {name: dict(zip(("accuracy", "low", "high"), bootstrap_ci(c))) for name, c in answers.items()}
    pairs = [paired_stats("without+facts", answers["without+facts"], b, answers[b]).to_dict()
             for b in ("without", "without+without-2", "without+control")]
    return {"accuracy": accuracy, "pairs": pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tags", nargs="+", help="lift_<tag>.json runs whose adapters are under runs/lift/<tag>/")
    parser.add_argument("--name", required=True)
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml", help="Its spaCy model links questions.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spacy_model = load_config(args.pipeline).graph.spacy_model
    tested: list[str] = []
    pooled: dict[str, list[bool]] = {}
    runs = {}
    for tag in args.tags:
        ids, answers, runs[tag] = run_tag(tag, spacy_model)
        tested += ids
        for name, correct in answers.items():
            pooled.setdefault(name, []).extend(correct)
        distinct = {b: paired_by_question(tested, pooled["without+facts"], pooled[b])
                    for b in ("without", "without+without-2", "without+control")}
        write_result(f"ensemble_{args.name}", {"tags": args.tags, "second_seed": f"seed + {SECOND_SEED}",
                                               "runs": runs, "distinct": distinct})
        print(tag, json.dumps(runs[tag]["pairs"]), flush=True)


if __name__ == "__main__":
    main()
