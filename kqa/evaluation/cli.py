"""`kqa eval`: the typer command (argument parsing only) and `evaluate`, the plain function it calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kqa.evaluation.config import EvaluationConfig
from kqa.evaluation.converters import FORMATS
from kqa.evaluation.results import CompareReport, EvalReport


def evaluate(data: list[str], *, pipeline: str | Path | None = None, graph: str | Path | None = None,
             adapter: str | Path | None = None, out: str | Path | None = None, limit: int | None = None,
             skip_invalid: bool = False,
             format: str = "auto", compare: bool = False, compare_pipeline: str | Path | None = None,
             config: EvaluationConfig = EvaluationConfig()) -> EvalReport | CompareReport:
    """Load every set, then run one evaluation (an EvalReport) or the --compare ablation (a CompareReport)."""
    from kqa.config import load_config, with_graph
    from kqa.errors import ConfigError
    from kqa.evaluation.answering import PipelineSpec
    from kqa.evaluation.compare import Comparison
    from kqa.evaluation.converters import load_set
    from kqa.evaluation.runner import Evaluator

    if config.resume and out is None:
        raise ConfigError("--resume needs --out: the folder whose predictions.jsonl is resumed.")
    if (compare or compare_pipeline) and out is None:
        raise ConfigError("--compare needs --out: each variant writes its own predictions there.")
    sets = [load_set(d, format=format, skip_invalid=skip_invalid, limit=limit) for d in data]
    spec = PipelineSpec(with_graph(load_config(pipeline), graph), control_seed=config.seed,
                        adapter=str(adapter) if adapter is not None else None)
    if not (compare or compare_pipeline):
        return Evaluator(spec, out, config).run(sets)
    other = None
    if compare_pipeline is not None:
        other = PipelineSpec(load_config(compare_pipeline), control_seed=config.seed)
    name = Path(compare_pipeline).stem if compare_pipeline else "pipeline2"
    return Comparison(spec, out, config, other, other_name=name if name not in ("with", "without", "control") else "pipeline2").run(sets)


def eval_command(
    data: Annotated[list[str], typer.Argument(help="One or more sets: csqa:validation, obqa:validation, or .jsonl files.")],
    pipeline: Annotated[Path | None, typer.Option("--pipeline", "-p", help="Pipeline YAML (default: packaged defaults).")] = None,
    graph: Annotated[Path | None, typer.Option("--graph", "-g", help="Graph folder (overrides the pipeline's graph.path).")] = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", "-a", help="Trained adapter folder (from kqa train).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write predictions.jsonl, metrics.json, report.md here.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="First N questions of each set.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep OUT's predictions and answer only the rest.")] = False,
    compare: Annotated[bool, typer.Option("--compare", help="Ablation: with / without knowledge / matched control.")] = False,
    compare_pipeline: Annotated[Path | None, typer.Option("--compare-pipeline", help="A second pipeline YAML, compared paired with 'with'.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes (or Ray actors) answering in parallel.")] = 1,
    engine: Annotated[str, typer.Option("--engine", help="local (multiprocessing) or ray (Ray Data; pip install 'kqa\\[dist]').")] = "local",
    threads: Annotated[int | None, typer.Option("--threads", help="torch threads per process (default: cores // workers); pin it for byte-identical predictions across --workers.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Skip and count malformed records.")] = False,
    format: Annotated[str, typer.Option("--format", "-f", help=f"Record shape: {', '.join(FORMATS)}.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and of the control derangement.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")] = False,
) -> None:
    """Evaluate a pipeline on multiple-choice sets: predictions, metrics with intervals, and a report with plots.

    With --out, predictions.jsonl is written in input order as answers come (--resume continues a killed run) and
    metrics.json and report.md at the end. --compare answers with knowledge, without, and with a matched control.

    Examples:
      kqa eval csqa:validation --limit 200 --out runs/csqa
      kqa eval my_questions.jsonl --json
      kqa eval csqa:validation --pipeline pipelines/zero-shot-knowledge.yaml --compare --out runs/ablation
    """
    import json
    import sys

    from kqa.overrides import override

    config = override(EvaluationConfig, {"progress": "--json"}, workers=workers, engine=engine, threads=threads,
                      resume=resume, seed=seed, progress=not as_json)
    report = evaluate(data, pipeline=pipeline, graph=graph, adapter=adapter, out=out, limit=limit, skip_invalid=skip_invalid,
                      format=format, compare=compare, compare_pipeline=compare_pipeline, config=config)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), sort_keys=True) + "\n")
    else:
        typer.echo(report.table())
