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
AdapterOpt = Annotated[Optional[Path], typer.Option("--adapter", "-a", help="Trained adapter folder (from kqa train).")]
GraphOpt = Annotated[Optional[Path], typer.Option("--graph", "-g", help="Graph folder (overrides the pipeline's graph.path).")]


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question text.")],
    choices: Annotated[str, typer.Option("--choices", "-c", help="Answer choices separated by '|', e.g. 'a|b|c'.")],
    pipeline: PipelineOpt = None,
    graph: GraphOpt = None,
    adapter: AdapterOpt = None,
    explain: Annotated[bool, typer.Option("--explain", help="Rank the chosen answer's facts by leave-one-out effect.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer one multiple-choice question (with evidence when the pipeline has a graph)."""
    from kqa.data import question_from_text
    from kqa.pipeline import KQAPipeline

    texts = [c.strip() for c in choices.split("|") if c.strip()]
    qa = KQAPipeline.from_config(pipeline, graph=graph, adapter=adapter)
    query = question_from_text(question, texts)
    prediction = qa.explain(query) if explain else qa.answer(query)
    if as_json:
        _print_json(prediction.to_dict())
        return
    if explain:
        from kqa.adapters.reader import format_explanation

        typer.echo(format_explanation(prediction))
        return
    for choice in prediction.choices:
        mark = "->" if choice.label == prediction.label else "  "
        typer.echo(f"{mark} {choice.label}. {choice.text:<30} p={choice.probability:.3f}  score={choice.score:.4f}")
        for fact in choice.evidence:
            source = fact.provenance[0].source[:12] if fact.provenance else "?"
            typer.echo(f"       {fact.score:.2f}  {fact.text}   [{fact.relation}, {fact.origin}, {source}]")


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


from kqa.adapters.cli import train_command  # noqa: E402  (sub-commands are mounted after the root app exists)
from kqa.evaluation.cli import eval_command  # noqa: E402
from kqa.graph.cli import app as graph_app  # noqa: E402

app.add_typer(graph_app, name="graph")
app.command("train")(train_command)
app.command("eval")(eval_command)
index_app = typer.Typer(help="The dense fact index kept beside a graph.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("build")
def index_build(
    graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph folder; the index goes to GRAPH/index.")],
    factory: Annotated[str, typer.Option(help="FAISS factory string: Flat, HNSW32,Flat, IVF256,Flat, ...")] = "Flat",
    embedder: Annotated[str, typer.Option(help="sentence-transformers model: short name, path or hub id.")] = "minilm-l6",
    as_json: JsonOpt = False,
) -> None:
    """Embed every fact of a graph and write a FAISS index with its manifest beside it."""
    from dataclasses import asdict

    from kqa.retrieval.index import IndexConfig
    from kqa.retrieval.service import build_index

    manifest = build_index(graph, _validated(IndexConfig, factory=factory, embedder=embedder), progress=not as_json)
    if as_json:
        _print_json(asdict(manifest))
    else:
        typer.echo(f"indexed {manifest.count} facts ({manifest.factory}, {manifest.embedder}, dim {manifest.dimension})")


@app.command()
def link(
    text: Annotated[str, typer.Argument(help="Any text: a question or an answer choice.")],
    graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph folder whose concepts are matched.")],
    spacy_model: Annotated[str, typer.Option(help="spaCy pipeline: short name, package or path.")] = "en-core-web-sm",
    as_json: JsonOpt = False,
) -> None:
    """Show which graph concepts a text mentions."""
    from kqa.retrieval.service import link_text

    concepts = link_text(graph, text, spacy_model)
    if as_json:
        _print_json({"text": text, "concepts": concepts})
        return
    for c in concepts:
        typer.echo(f"{c['name']:<30} <- {c['text']!r} [{c['start']}:{c['end']}] ({c['source']})")


def _validated(section, **values):
    """Build a config section from CLI values, reporting bad ones like a bad YAML key."""
    from pydantic import ValidationError

    from kqa.config import format_validation_error
    from kqa.errors import ConfigError

    try:
        return section(**values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def main() -> None:
    """Console entry point: KQAErrors become one clear line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except KQAError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
