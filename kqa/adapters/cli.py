"""`kqa train`: typer command function (registered by kqa/cli.py); it parses arguments and calls train_pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def train_command(
    pipeline: Annotated[Path | None, typer.Option("--pipeline", "-p", help="Pipeline YAML with adapter/train sections.")] = None,
    data: Annotated[str, typer.Option("--data", help="csqa:validation or a CSQA-style .jsonl file.")] = "csqa:validation",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: adapter/, checkpoints/, split.json.")] = Path("runs/adapter"),
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="First N questions only.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override train.epochs.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue exactly from the last checkpoint in --out.")] = False,
    init_from: Annotated[Path | None, typer.Option("--from", help="Start from a saved adapter (after a graph update).")] = None,
    graph: Annotated[Path | None, typer.Option("--graph", help="Knowledge graph folder (overrides graph.path).")] = None,
    control: Annotated[bool, typer.Option("--control", help="Train with another question's facts (control run).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Train a knowledge adapter on a frozen backbone; the best weights land in OUT/adapter."""
    from kqa.train import train_pipeline

    result = train_pipeline(pipeline, data, out, limit=limit, epochs=epochs, resume=resume, init_from=init_from,
                            graph=graph, control=control, progress=not as_json)
    summary = {"adapter": str(result.adapter_dir), "steps": result.steps, "dev_accuracy": list(result.dev_accuracy),
               "best_epoch": result.best_epoch, "final_loss": result.losses[-1] if result.losses else None,
               "trainable_params": result.trainable_params, "backbone_params": result.backbone_params,
               "epoch_seconds": [round(s, 3) for s in result.epoch_seconds]}
    if as_json:
        typer.echo(json.dumps(summary))
        return
    share = 100 * result.trainable_params / result.backbone_params
    typer.echo(f"trainable parameters: {result.trainable_params:,} ({share:.2f}% of {result.backbone_params:,})")
    typer.echo(f"steps {result.steps}, dev accuracy per epoch {summary['dev_accuracy']}, best epoch "
               f"{result.best_epoch}; adapter saved to {result.adapter_dir}")
