"""The `kqa` command line. Each command parses its arguments and calls one library function."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kqa.errors import KQAError

app = typer.Typer(help="kqa: knowledge-augmented commonsense question answering.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

PipelineOpt = Annotated[Optional[Path], typer.Option("--pipeline", "-p", help="Pipeline YAML (default: packaged defaults).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")]


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question text.")],
    choices: Annotated[str, typer.Option("--choices", "-c", help="Answer choices separated by '|', e.g. 'a|b|c'.")],
    pipeline: PipelineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer one multiple-choice question."""
    from kqa.data import question_from_text
    from kqa.pipeline import KQAPipeline

    texts = [c.strip() for c in choices.split("|") if c.strip()]
    prediction = KQAPipeline.from_config(pipeline).answer(question_from_text(question, texts))
    if as_json:
        _print_json(prediction.to_dict())
        return
    for choice in prediction.choices:
        mark = "->" if choice.label == prediction.label else "  "
        typer.echo(f"{mark} {choice.label}. {choice.text:<30} p={choice.probability:.3f}  score={choice.score:.4f}")


@app.command("eval")
def eval_(
    data: Annotated[str, typer.Argument(help="csqa:validation, obqa:validation, or a CSQA-style .jsonl file.")],
    pipeline: PipelineOpt = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="First N questions only.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write predictions.jsonl and metrics.json here.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Skip and count malformed records.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a pipeline on a multiple-choice question set and print its accuracy."""
    from kqa.data import load_questions
    from kqa.evaluate import Evaluator
    from kqa.pipeline import KQAPipeline

    loaded = load_questions(data, skip_invalid=skip_invalid, limit=limit)
    report = Evaluator(KQAPipeline.from_config(pipeline), out, progress=not as_json).run(loaded, source=data)
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(report.table())


@app.command()
def validate(
    data: Annotated[str, typer.Argument(help="A question set to check without answering it.")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Report every bad record instead of the first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a question file: exit 1 with the first problem, or list all of them with --skip-invalid."""
    from kqa.data import load_questions

    loaded = load_questions(data, skip_invalid=skip_invalid)
    summary = {"valid": len(loaded.questions), "invalid": len(loaded.skipped), "problems": list(loaded.skipped)}
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"{data}: {summary['valid']} valid questions, {summary['invalid']} invalid")
        for problem in loaded.skipped:
            typer.echo(f"  {problem}")
    if loaded.skipped:
        raise typer.Exit(1)


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def main() -> None:
    """Console entry point: KQAErrors become one clear line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except KQAError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
