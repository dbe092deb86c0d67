"""`kqa train` and `kqa adapters combine|compress` (registered by kqa/cli.py): each parses its arguments and calls
one library function (train_pipeline, AdapterCombiner.run, AdapterCompressor.run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def train_command(
    pipeline: Annotated[Path | None, typer.Option("--pipeline", "-p", help="Pipeline YAML with adapter/train sections.")] = None,
    data: Annotated[list[str], typer.Option("--data", help="Question sets: the first (csqa:validation or a CSQA-style .jsonl file) is split into train/dev/test; each further one joins the train part only, as SET or SET@WEIGHT (0.5: a seeded half, 2: twice).")] = ["csqa:validation"],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: adapter/, checkpoints/, split.json.")] = Path("runs/adapter"),
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="First N questions only.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Override train.epochs.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue exactly from the last checkpoint in --out.")] = False,
    init_from: Annotated[Path | None, typer.Option("--from", help="Start from a saved adapter (after a graph update).")] = None,
    graph: Annotated[Path | None, typer.Option("--graph", help="Knowledge graph folder (overrides graph.path).")] = None,
    control: Annotated[bool, typer.Option("--control", help="Train with another question's facts (control run).")] = False,
    coreset: Annotated[float | None, typer.Option("--coreset", help="Train on this share (0-1] of the train split, a K-means core-set of the questions (DEFT); overrides train.coreset.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Train a knowledge adapter on a frozen backbone; the best weights land in OUT/adapter.

    The split is a fixed seeded part of --data (CSQA has no packaged training split): train / dev (early stopping)
    / test by train.train_fraction and train.dev_fraction. Checkpoints go to OUT/checkpoints; --resume continues.

    Examples:
      kqa train --pipeline pipelines/encoder-kpe.yaml --graph graphs/mine --out runs/kpe
      kqa train --pipeline pipelines/encoder-kpe.yaml --graph graphs/mine --out runs/kpe --resume
      kqa train --pipeline pipelines/encoder-facts.yaml --data csqa:validation --data arc_easy:test@0.5 --out runs/mix
      kqa eval csqa:validation --pipeline pipelines/encoder-kpe.yaml --adapter runs/kpe/adapter --graph graphs/mine
    """
    from kqa.train import train_pipeline

    result = train_pipeline(pipeline, data[0], out, limit=limit, epochs=epochs, resume=resume, init_from=init_from,
                            graph=graph, control=control, progress=not as_json, coreset=coreset,
                            extra_data=[_training_set(text) for text in data[1:]])
    summary = {"adapter": str(result.adapter_dir), "steps": result.steps, "dev_accuracy": list(result.dev_accuracy),
               "n_train": result.n_train,
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


def _training_set(text: str) -> dict:
    """'arc_easy:test@0.5' -> {"data": "arc_easy:test", "weight": 0.5}; without a number after '@', all of it once."""
    name, _, weight = text.rpartition("@")
    try:
        return {"data": name, "weight": float(weight)}
    except ValueError:
        return {"data": text, "weight": 1.0}


adapters_app = typer.Typer(help="Adapter arithmetic and compression on saved adapters (kqa train's OUT/adapter).",
                           no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


# unknown options pass through: `--weights 1 -1` must not read "-1" as an option
@adapters_app.command("combine", context_settings={"ignore_unknown_options": True},
                      epilog="Examples:\n  kqa adapters combine runs/a/adapter runs/b/adapter --weights 0.7 0.3 --out runs/ab\n"
                      "  kqa adapters combine runs/a/adapter runs/b/adapter --weights 1 -1 --out runs/a-minus-b")
def combine_command(
    adapters: Annotated[list[str], typer.Argument(help="Saved adapter folders (same backbone, method, architecture).")],
    weights: Annotated[list[float], typer.Option("--weights", "-w", help="One weight per adapter, e.g. --weights 0.7 0.3; negative subtracts.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the combined adapter.")],
    combination: Annotated[str, typer.Option("--combination", help="LoRA: cat (exact, ranks add up) or linear (same rank).")] = "cat",
    as_json: JsonFlag = False,
) -> None:
    """Weighted sum of adapters as task vectors: LoRA via peft add_weighted_adapter, the rest as
    theta_0 + sum w_i (theta_i - theta_0)."""
    from kqa.adapters.arithmetic import AdapterCombiner

    folders, values = split_weights(adapters, weights)
    result = AdapterCombiner(combination).run(folders, values, out)
    summary = {"adapter": str(result.path), "sources": list(result.sources), "weights": list(result.weights),
               "lora_rank": result.lora_rank}
    typer.echo(json.dumps(summary) if as_json else f"combined {len(folders)} adapters with weights {values} "
               f"into {result.path}" + (f" (LoRA rank {result.lora_rank})" if result.lora_rank else ""))


def split_weights(arguments: list[str], weights: list[float]) -> tuple[list[str], list[float]]:
    """`--weights 0.7 0.3`: the click option takes one value, the rest arrive as trailing arguments; move every
    trailing number that is not an existing folder back to the weights."""
    folders = list(arguments)
    extra: list[float] = []
    while folders and _number(folders[-1]) is not None and not Path(folders[-1]).exists():
        extra.insert(0, _number(folders.pop()))
    return folders, list(weights) + extra


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@adapters_app.command("compress", epilog="Example:\n  kqa adapters compress runs/a/adapter --density 0.1 --out runs/a-small")
def compress_command(
    adapter: Annotated[Path, typer.Argument(help="Saved adapter folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the compressed adapter (loads like any adapter).")],
    density: Annotated[float, typer.Option("--density", help="Share of each tensor's update kept (top magnitudes).")] = 0.1,
    as_json: JsonFlag = False,
) -> None:
    """ComPEFT: keep the top-k% of each tensor's update as ternary values (sign x one scale per tensor)."""
    from kqa.adapters.compress import AdapterCompressor

    report = AdapterCompressor(density).run(adapter, out)
    summary = {"adapter": str(report.path), "density": report.density, "bytes_before": report.bytes_before,
               "bytes_after": report.bytes_after, "ratio": round(report.ratio, 2),
               "relative_error": round(report.relative_error, 4)}
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{report.bytes_before:,} -> {report.bytes_after:,} bytes ({report.ratio:.1f}x smaller), relative "
               f"error of the update {report.relative_error:.3f}; saved to {report.path}")
