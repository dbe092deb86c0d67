"""Forward + backward time of the default CPU reader with a batch read in runs of similar length (kqa's
`KnowledgeModel.forward`, `RUN_ROWS` sequences a pass) against the whole batch padded to its longest, side by side on
the same batches (the order of the two alternates from batch to batch).

    python -m benchmarks.bench_length_runs --graph graphs/cn4-csqa --n 400

Each step is forward + backward of MiniLM-L6 + LoRA reading each choice's ConceptNet facts as text
(`pipelines/encoder-facts.yaml`), 8 questions (40 sequences) a batch, in a seeded order. Also counts the tokens each
way reads (real + padding). Writes benchmarks/results/length_runs.json.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

from benchmarks.common import peak_rss_mb, write_result
from kqa.adapters import model as model_module
from kqa.adapters.encoding import collate, pad_id
from kqa.adapters.model import build_model, length_runs
from kqa.config import load_config
from kqa.data import load_questions
from kqa.retrieval.retriever import FactRetriever

PIPELINE = "pipelines/encoder-facts.yaml"


def step_seconds(model, batch, run_rows: int) -> float:
    """One forward + backward with `run_rows` sequences a pass."""
    model_module.RUN_ROWS = run_rows
    began = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(batch), batch.labels)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - began


def tokens_read(batch, run_rows: int) -> int:
    return sum(len(rows) * batch.rows(rows).input_ids.shape[1] for rows in length_runs(batch, run_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4-csqa"))
    parser.add_argument("--n", type=int, default=400, help="CSQA validation questions (batches of 8).")
    args = parser.parse_args()
    pipeline = load_config(PIPELINE)
    retriever = FactRetriever.from_graph(args.graph, pipeline.graph.spacy_model, pipeline.retrieval)
    model, tokenizer = build_model(pipeline.adapter)
    encoder = model.make_encoder(tokenizer, pipeline.train.max_length)
    questions = load_questions("csqa:validation", limit=args.n).questions
    encoded = [encoder.encode(q, retriever.run(q)) for q in questions]
    random.Random(0).shuffle(encoded)
    size, run_rows = pipeline.train.batch_size, model_module.RUN_ROWS
    batches = [collate(encoded[i : i + size], pad_id(tokenizer)) for i in range(0, len(encoded), size)]
    model.train()
    step_seconds(model, batches[0], run_rows)  # warm up
    seconds = {"runs": 0.0, "whole": 0.0}
    for i, batch in enumerate(batches):
        ways = [("runs", run_rows), ("whole", len(batch.input_ids))]
        for name, per_pass in ways if i % 2 == 0 else ways[::-1]:
            seconds[name] += step_seconds(model, batch, per_pass)
    model_module.RUN_ROWS = run_rows
    tokens = {"runs": sum(tokens_read(b, run_rows) for b in batches),
              "whole": sum(tokens_read(b, len(b.input_ids)) for b in batches)}
    result = {"pipeline": PIPELINE, "graph": str(args.graph), "n": len(questions), "batches": len(batches),
              "run_rows": run_rows, "seconds": {k: round(v, 2) for k, v in seconds.items()},
              "whole_over_runs": round(seconds["whole"] / seconds["runs"], 2),
              "tokens": tokens, "token_ratio": round(tokens["whole"] / tokens["runs"], 2),
              "real_tokens": sum(int(b.attention_mask.sum()) for b in batches),
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    write_result("length_runs", result)
    print(result)


if __name__ == "__main__":
    main()
