"""Zero-shot multiple-choice answering: seconds per question, accuracy per scoring mode, batched vs one-by-one.

    python -m benchmarks.bench_zero_shot --n 200 [--model smollm2-135m]
"""

from __future__ import annotations

import argparse

from benchmarks.common import peak_rss_mb, timer, write_result
from kqa.data import load_questions
from kqa.pipeline import KQAPipeline


def accuracy(pipeline: KQAPipeline, questions) -> tuple[float, float]:
    out: dict = {}
    with timer(out, "s"):
        predictions = pipeline.answer_batch(questions, progress=False)
    return sum(bool(p.correct) for p in predictions) / len(predictions), out["s"] / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--naive-n", type=int, default=20, help="questions for the batch_size=1 comparison")
    args = parser.parse_args()
    questions = load_questions("csqa:validation", limit=args.n).questions
    result: dict = {"model": args.model, "n": len(questions)}
    pipelines = {mode: KQAPipeline.from_config({"model": {"name": args.model}, "scorer": {"mode": mode}})
                 for mode in ("mean", "sum")}
    with timer(result, "load_s"):
        pipelines["mean"].reader.warm_up()
    for mode, pipeline in pipelines.items():
        pipeline.reader.model, pipeline.reader.tokenizer = pipelines["mean"].reader.model, pipelines["mean"].reader.tokenizer
        result[f"accuracy_{mode}"], result[f"s_per_question_{mode}"] = accuracy(pipeline, questions)
    # batched (default batch_size) vs one sequence per forward, same questions, same run
    naive = KQAPipeline.from_config({"model": {"name": args.model}, "scorer": {"batch_size": 1}})
    naive.reader.model, naive.reader.tokenizer = pipelines["mean"].reader.model, pipelines["mean"].reader.tokenizer
    subset = questions[: args.naive_n]
    _, batched_s = accuracy(pipelines["mean"], subset)
    _, naive_s = accuracy(naive, subset)
    result |= {"batched_s_per_question": batched_s, "unbatched_s_per_question": naive_s,
               "unbatched_over_batched": round(naive_s / batched_s, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}
    write_result(f"zero_shot_{args.model}", result)


if __name__ == "__main__":
    main()
