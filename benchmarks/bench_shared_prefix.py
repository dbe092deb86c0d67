"""Shared-prefix vs batched decoder scoring (issue #19 item 4): the zero-shot scorer with 10 facts in its prompt and
5 choices, side by side on the same questions, with the token counts that bound the ratio.

    python -m benchmarks.bench_shared_prefix --graph graphs/cn4-csqa --n 40
    python -m benchmarks.bench_shared_prefix --facts 0 --n 120     # the bare question (kqa ask's default reader)

The batched path reads prefix + choice once per choice (5 (L + n) tokens); the shared-prefix path reads the prefix
once and each choice's tokens but its last after it, in one packed token trie (L + sum(n - 1)). `token_ratio` is
that bound; `naive_over_shared` is what the clock says, for all questions in one call, and for one question a call
(as `kqa ask` and `kqa serve` answer; each path over all questions in turn). Writes
benchmarks/results/shared_prefix.json (shared_prefix_nofacts.json with --facts 0).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.config import ModelConfig, ScorerConfig
from kqa.data import load_questions
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.retriever import FactRetriever
from kqa.scoring import CausalLMScorer
from kqa.types import Evidence


def bench_shared_prefix(scorer: CausalLMScorer, questions, evidence, repeats: int = 3) -> dict:
    """Seconds per question of the batched and the shared-prefix path (best of `repeats`, alternating)."""
    paths = {name: CausalLMScorer(scorer.model_config, scorer.config.model_copy(update={"shared_prefix": shared}),
                                  scorer.model, scorer.tokenizer)
             for name, shared in (("naive", False), ("shared", True))}
    best = {name: float("inf") for name in paths}
    scores = {}
    for s in paths.values():
        s.run(questions[:2], evidence[:2])  # warm up
    for _ in range(repeats):
        for name, s in paths.items():
            began = time.perf_counter()
            scores[name] = s.run(questions, evidence)
            best[name] = min(best[name], (time.perf_counter() - began) / len(questions))
    out = {f"{name}_s_per_question": round(seconds, 4) for name, seconds in best.items()}
    out["naive_over_shared"] = round(best["naive"] / best["shared"], 2)
    one = {name: one_at_a_time(s, questions, evidence) for name, s in paths.items()}
    out |= {f"{name}_one_question_p50_s": round(seconds, 4) for name, seconds in one.items()}
    out["one_question_naive_over_shared"] = round(one["naive"] / one["shared"], 2)
    out["scores_max_abs_diff"] = max(abs(a - b) for naive, shared in zip(scores["naive"], scores["shared"])
                                     for a, b in zip(naive, shared))
    return out | token_counts(scorer, questions, evidence)


def one_at_a_time(scorer: CausalLMScorer, questions, evidence) -> float:
    """Median seconds to score one question in its own call."""
    seconds = []
    for question, ev in zip(questions, evidence):
        began = time.perf_counter()
        scorer.run([question], [ev])
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def token_counts(scorer: CausalLMScorer, questions, evidence) -> dict:
    """Tokens each path feeds the model, summed over the questions, and their ratio (the bound on the speed-up)."""
    naive = shared = prefix = 0
    conts: list[int] = []
    for question, ev in zip(questions, evidence):
        prompt = scorer.prompt(scorer.facts_prefix(ev), question)
        encoded = scorer.encode(prompt, question)
        context = len(encoded[0].ids) - encoded[0].n_cont
        lengths = [e.n_cont for e in encoded]
        prefix += context
        naive += sum(context + n for n in lengths)
        shared += context + sum(n - 1 for n in lengths)
        conts += lengths
    return {"prefix_tokens_mean": round(prefix / len(questions), 1),
            "choice_tokens_mean": round(sum(conts) / len(conts), 2), "token_ratio": round(naive / shared, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4-csqa"))
    parser.add_argument("--n", type=int, default=40, help="CSQA questions scored by each path.")
    parser.add_argument("--facts", type=int, default=10, help="Facts in the prompt (ScorerConfig.max_facts); 0: "
                        "the bare question, no retrieval.")
    args = parser.parse_args()
    questions = load_questions("csqa:validation", limit=args.n).questions
    if args.facts:
        retriever = FactRetriever.from_graph(args.graph, "en-core-web-sm", RetrievalConfig(dense_k=0))
        evidence = [retriever.run(q) for q in questions]
    else:
        evidence = [Evidence(q.id, tuple(() for _ in q.choices)) for q in questions]
    scorer = CausalLMScorer(ModelConfig(), ScorerConfig(use_facts=args.facts > 0, max_facts=args.facts))
    scorer.warm_up()
    result = {"graph": str(args.graph) if args.facts else None, "n": len(questions), "facts": args.facts,
              "model": scorer.model_config.name,
              "mode": scorer.config.mode, **bench_shared_prefix(scorer, questions, evidence),
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    write_result("shared_prefix" if args.facts else "shared_prefix_nofacts", result)
    print(result)


if __name__ == "__main__":
    main()
