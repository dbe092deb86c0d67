"""Zero-shot parity with a published number: SmolLM2-135M on CommonsenseQA validation (all 1221 questions).

The SmolLM2 model card reports 33.9 % (lighteval, 0-shot, no instruction: the bare question, each choice prefixed with
a space, acc_norm = log-likelihood per character of the choice). This runs that prompt/normalisation
(`scorer.template: "{question}"`, `scorer.mode: char`) beside kqa's earlier default ("Question: ...\\nAnswer:", per
token) on the same loaded model and questions, with 95 % bootstrap intervals and a paired test.

    python -m benchmarks.bench_parity [--n 1221]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import peak_rss_mb, write_result
from kqa.data import load_questions
from kqa.evaluation.metrics import bootstrap_ci, mcnemar_exact, paired_bootstrap
from kqa.pipeline import KQAPipeline

VARIANTS = {
    "lighteval: bare question, per character": {"template": "{question}", "mode": "char"},
    "kqa 0.1: Question/Answer, per token": {"template": "Question: {question}\nAnswer:", "mode": "mean"},
    "Question/Answer, per character": {"template": "Question: {question}\nAnswer:", "mode": "char"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1221)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    questions = load_questions("csqa:validation", limit=args.n).questions
    result: dict = {"model": args.model, "data": "csqa:validation", "n": len(questions), "published": 0.339,
                    "variants": {}}
    shared = None
    correct: dict[str, list[bool]] = {}
    for name, scorer in VARIANTS.items():
        pipeline = KQAPipeline.from_config({"model": {"name": args.model}, "scorer": scorer})
        if shared is None:
            pipeline.reader.warm_up()
            shared = pipeline.reader
        pipeline.reader.model, pipeline.reader.tokenizer = shared.model, shared.tokenizer
        began = time.perf_counter()
        correct[name] = [bool(p.correct) for p in pipeline.answer_batch(questions)]
        accuracy, low, high = bootstrap_ci(correct[name])
        result["variants"][name] = {"scorer": scorer, "accuracy": accuracy, "ci95": [low, high],
                                    "s_per_question": (time.perf_counter() - began) / len(questions)}
        print(f"{name:<44} {accuracy:.4f} [{low:.4f}, {high:.4f}]")
    first, *others = list(VARIANTS)
    for other in others:
        a, b = correct[first], correct[other]
        diff, low, high = paired_bootstrap(a, b)
        a_only = sum(x and not y for x, y in zip(a, b))
        b_only = sum(y and not x for x, y in zip(a, b))
        result["variants"][other]["vs_lighteval"] = {"difference": -diff, "ci95": [-high, -low],
                                                    "mcnemar_p": mcnemar_exact(a_only, b_only)}
    result["peak_rss_mb"] = peak_rss_mb()
    write_result("zero_shot_parity", result)


if __name__ == "__main__":
    main()
