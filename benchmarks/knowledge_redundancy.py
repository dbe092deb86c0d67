"""What do the graph's facts tell a reader that it does not already know? Stored lift runs of one split, no model
runs. (issue #16)

    python -m benchmarks.knowledge_redundancy --name minilm-mpnet-per-pair1 --strong mpnet-lora-text-per-pair1 \
        minilm-lora-text-per-pair1-s38

Two measurements, on the runs' shared test part:
1. Connectivity: each choice's number of connecting facts (the pipeline's retrieval over --graph) added to each reader's
   test logits (z-scored over the question's choices) with one weight. The weight is cross-fitted: chosen on one
   random half of the questions (the accuracy-maximising weight in 0..5, the smallest on a tie) and applied to the
   other, so no answer is scored with a weight fitted on it. A reader that already uses what the graph's connections
   say gains nothing.
2. A stronger reader without facts (--strong, its `without` reader) beside each reader of the weaker runs, z-scored
   logits summed; (with facts) - (without) and (with facts) - (control) are paired with McNemar p. If the weak
   reader's facts add to the strong reader, the first is positive.
Writes redundancy_<name>.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from benchmarks.train_seed_spread import load_runs, zscores
from kqa.config import load_config
from kqa.data import load_questions
from kqa.evaluation.metrics import paired_stats
from kqa.retrieval.retriever import FactRetriever

WEIGHTS = np.round(np.arange(0.0, 5.01, 0.1), 2)  # candidate weights of the connectivity feature


def cross_fitted(z: np.ndarray, feature: np.ndarray, answer: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list]:
    """Correct answers of argmax(z + w * feature), w chosen on the other half of the questions; and the two w.

    z, feature: (Q, C); answer: (Q,) gold choice indices.
    """
    order = np.random.default_rng(seed).permutation(len(answer))
    halves = (order[::2], order[1::2])
    correct, chosen = np.zeros(len(answer), dtype=bool), []
    for fit, apply in (halves, halves[::-1]):
        hits = [np.mean((z[fit] + w * feature[fit]).argmax(axis=1) == answer[fit]) for w in WEIGHTS]
        weight = float(WEIGHTS[int(np.argmax(hits))])  # argmax: the first, i.e. smallest, of tied weights
        correct[apply] = (z[apply] + weight * feature[apply]).argmax(axis=1) == answer[apply]
        chosen.append(weight)
    return correct, chosen


def connectivity(readers: dict[str, dict], counts: np.ndarray, answer: np.ndarray) -> dict:
    """Per reader: its answers with the cross-fitted connectivity weight paired against its answers alone."""
    out = {}
    for name, reader in readers.items():
        alone = np.asarray(reader["correct"], dtype=bool)
        added, chosen = cross_fitted(zscores(reader["scores"]), counts, answer)
        out[name] = {"weights": chosen, **paired_stats("with connectivity", added.tolist(), name,
                                                        alone.tolist()).to_dict()}
    return out


def beside_strong(strong: dict, readers: dict[str, dict], answer: np.ndarray) -> dict:
    """The strong reader's z-scored logits plus each weak reader's; the facts pair against without and control."""
    base = zscores(strong["scores"])
    joined = {name: ((base + zscores(r["scores"])).argmax(axis=1) == answer).tolist() for name, r in readers.items()}
    out = {"accuracy": {"strong alone": float(np.mean(strong["correct"])),
                        **{f"strong + {name}": float(np.mean(c)) for name, c in joined.items()}}}
    for baseline in ("without", "control"):
        if "facts" in joined and baseline in joined:
            out[f"facts-{baseline}"] = paired_stats("facts", joined["facts"], baseline, joined[baseline]).to_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tags", nargs="+", help="lift runs of the weaker reader (one split)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--strong", required=True, help="lift run of the stronger backbone, same split")
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml")
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4-csqa"))
    args = parser.parse_args()

    data, ids, runs = load_runs([args.strong, *args.tags])
    config = load_config(args.pipeline)
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval)
    questions = {q.id: q for q in load_questions(data).questions}
    answer = np.array([questions[i].labels.index(questions[i].answer) for i in ids])  # (Q,)
    counts = np.array([[len(f) for f in retriever.run(questions[i]).per_choice] for i in ids], dtype=float)  # (Q, C)
    result = {"tags": args.tags, "strong": args.strong, "graph": str(args.graph), "pipeline": args.pipeline,
              "n": len(ids), "connectivity": {tag: connectivity(run, counts, answer)
                                              for tag, run in zip([args.strong, *args.tags], runs)},
              "beside_strong": {tag: beside_strong(runs[0]["without"], run, answer)
                                for tag, run in zip(args.tags, runs[1:])}}
    write_result(f"redundancy_{args.name}", result)
    for tag, readers in result["connectivity"].items():
        for name, row in readers.items():
            print(f"{tag} {name}: connectivity {100 * row['difference']:+.1f} (w {row['weights']}), "
                  f"p = {row['mcnemar_p']:.3g}")
    for tag, row in result["beside_strong"].items():
        pairs = ", ".join(f"{pair} {100 * row[pair]['difference']:+.1f} p = {row[pair]['mcnemar_p']:.3g}"
                          for pair in ("facts-without", "facts-control") if pair in row)
        print(f"{args.strong} without + {tag}: {pairs}")


if __name__ == "__main__":
    main()
