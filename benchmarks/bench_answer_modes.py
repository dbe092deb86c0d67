"""The zero-shot scorer's answer time in each scoring mode, one question a call, with the question's facts in the
prompt (as `kqa ask` and `kqa serve` answer).

    python -m benchmarks.bench_answer_modes [--graph graphs/cn4] [--n 60] [--tag T]

For each of the first --n CSQA questions, with the retrieval of --pipeline: the median time of
`CausalLMScorer.run([question], [evidence])` per character and in PMI mode (which also reads each choice after the
facts and "Answer:"), one model for both. To compare with an older version, check it out beside this one and copy
this file into it (`git worktree add /tmp/old <commit> && cp benchmarks/bench_answer_modes.py /tmp/old/benchmarks/`),
then run it there and here in turn (`cd /tmp/old && python -m benchmarks.bench_answer_modes --graph $PWD/graphs/cn4`,
with this repository's path for $PWD). Writes benchmarks/results/answer_modes[_T].json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.config import ScorerConfig, load_config
from kqa.data import load_questions
from kqa.retrieval.retriever import FactRetriever
from kqa.scoring import CausalLMScorer

MODES = ("char", "pmi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4"))
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml", help="Its retrieval section is used.")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--max-facts", type=int, default=10, help="Facts the scorer reads.")
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    config = load_config(args.pipeline)
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval)
    questions = load_questions("csqa:validation", limit=args.n).questions
    evidence = [retriever.run(q) for q in questions]
    first = CausalLMScorer(load_config(None).model, ScorerConfig(use_facts=True, max_facts=args.max_facts))
    first.warm_up()  # one model for every mode
    medians = {}
    for mode in MODES:
        scorer = CausalLMScorer(first.model_config, ScorerConfig(use_facts=True, max_facts=args.max_facts, mode=mode),
                                model=first.model, tokenizer=first.tokenizer)
        scorer.run(questions[:1], evidence[:1])  # the first call pays for lazy set-up
        seconds = []
        for question, found in zip(questions, evidence):
            began = time.perf_counter()
            scorer.run([question], [found])
            seconds.append(time.perf_counter() - began)
        medians[mode] = round(1000 * statistics.median(seconds), 1)
        print(f"{mode}: answer {medians[mode]:.1f} ms (median of {len(seconds)})")
    name = "answer_modes" + (f"_{args.tag}" if args.tag else "")
    write_result(name, {"graph": str(args.graph), "n": len(questions), "answer_ms": medians,
                        "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
