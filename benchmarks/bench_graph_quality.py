"""Graph quality: precision of text-extracted IsA/PartOf against WordNet, before/after validation; CSQA 2-hop coverage
before/after entity resolution and inference.

    .venv/bin/python benchmarks/bench_graph_quality.py --glosses 3000            # quick (a few minutes)
    .venv/bin/python benchmarks/bench_graph_quality.py --full-graph graphs/wordnet  # + coverage on a COPY of it

Part 1 (precision). A graph is built from the WordNet 3.0 relations plus `--glosses` noun synsets' glosses and
examples ("aquarium is a tank ... fish. The aquarium was full."), sampled with a fixed seed and parsed by kqa's
spaCy rule extractor. Every edge with a support from the extractor and relation IsA or PartOf is judged against
WordNet's own pointers (silver labels), with this matching:
  * senses(c): the synsets that list concept c as a lemma; when c is not a WordNet lemma, those of its last word
    (the head of an English noun phrase: "large vessel" -> "vessel"); c is *unknown* when both are empty.
  * H(S): S and its direct hypernyms (including instance hypernyms).
  * IsA(h, t) is correct iff some sense of t is a hypernym of some sense of h within 2 steps (1 or 2 hypernym
    pointers up), or a sense of t is a sense of h (the same synset: an extracted synonym stated as IsA).
  * PartOf(h, t) is correct iff some sense of t is in H(holonyms(H(s))) for some sense s of h, where holonyms(S) are
    the part, member and substance holonyms of S (WordNet's meronym pointers read backwards) - one part-whole step,
    with at most one hypernym step on either side.
  Precision = correct / judged; "strict" counts unknown triples as wrong. After `validate_graph(quarantine=True)`
  (default ValidationConfig), precision is recomputed over the extracted edges still active.

Part 2 (coverage). For each CSQA validation question, the question concept and the gold answer text are linked to
graph concepts the way retrieval links them (ConceptLinker on the packaged spaCy pipeline, whole-phrase with head
fallback; after resolution, aliases link to their canonical concept). A question is covered when some question
concept and some answer concept are joined by a path of 1 or 2 retrievable edges (any relation, either direction).
"capped" repeats this with each concept's 200 most confident edges (PathConfig.max_neighbours), what retrieval reads.
As a control, the same is measured from the question concept to the first wrong choice: a path that reaches
distractors as often as gold answers carries no answer signal. Measured on a copy of --full-graph when given, else
on the part-1 graph: as built, after resolution, after resolution +
inference (`kqa graph infer` defaults), and after inference alone (the merges undone with unmerge ops).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import peak_rss_mb, write_result  # noqa: E402
from kqa.graph.builder import GraphBuilder, import_documents  # noqa: E402
from kqa.graph.config import GraphConfig, InferenceConfig, ResolutionConfig  # noqa: E402
from kqa.graph.engines import LocalParser  # noqa: E402
from kqa.graph.importers import WordNetImporter, _sentence  # noqa: E402
from kqa.graph.inference import infer  # noqa: E402
from kqa.graph.model import ACTIVE, Unmerge  # noqa: E402
from kqa.graph.resolve import resolve_entities  # noqa: E402
from kqa.graph.store import GraphStore  # noqa: E402
from kqa.graph.validate import validate_graph  # noqa: E402
from kqa.graph.wordnet import read_synsets, wordnet_dir  # noqa: E402

HYPERNYMS = {"@", "@i"}
HOLONYMS = {"#p", "#m", "#s"}  # this synset is a part / member / substance of the target
MERONYMS = {"%p", "%m", "%s"}  # the target is a part / member / substance of this synset


class WordNetLabels:
    """Silver labels from WordNet's pointers (see the module docstring for the matching)."""

    def __init__(self, synsets):
        self.senses: dict[str, set] = defaultdict(set)
        self.hyper: dict[tuple, set] = defaultdict(set)
        self.holo: dict[tuple, set] = defaultdict(set)
        for s in synsets:
            for w in s.words:
                self.senses[w].add(s.key)
            for p in s.pointers:
                if p.symbol in HYPERNYMS:
                    self.hyper[s.key].add(p.target)
                elif p.symbol in HOLONYMS:
                    self.holo[s.key].add(p.target)
                elif p.symbol in MERONYMS:
                    self.holo[p.target].add(s.key)

    def senses_of(self, concept: str) -> set:
        return self.senses.get(concept) or self.senses.get(concept.split()[-1], set()) if concept.split() else set()

    def up(self, keys: set) -> set:
        return keys | {h for k in keys for h in self.hyper.get(k, ())}

    def judge(self, head: str, relation: str, tail: str) -> bool | None:
        hs, ts = self.senses_of(head), self.senses_of(tail)
        if not hs or not ts:
            return None
        if relation == "IsA":
            return bool(ts & (hs | self.up(self.up(hs))))
        wholes = {w for s in self.up(hs) for w in self.holo.get(s, ())}
        return bool(ts & self.up(wholes))


def gloss_docs(synsets, n: int, seed: int):
    from kqa.graph.corpus import RawDocument

    nouns = [s for s in synsets if s.key[0] == "n" and s.definition]
    for s in sorted(random.Random(seed).sample(nouns, min(n, len(nouns))), key=lambda s: s.key):
        sentences = [_sentence(f"{s.words[0]} is {s.definition}")] + [_sentence(e) for e in s.examples]
        yield RawDocument(f"wn30:n{s.key[1]:08d}", " ".join(sentences))


def precision(store: GraphStore, labels: WordNetLabels, active_only: bool) -> dict:
    out = {}
    edges = [e for e in store.edges() if e.relation in ("IsA", "PartOf")
             and any(s.extractor.startswith("spacy-rules") for s in e.supports)
             and (e.status == ACTIVE or not active_only)]
    for rel in ("IsA", "PartOf"):
        verdicts = [labels.judge(e.head, e.relation, e.tail) for e in edges if e.relation == rel]
        judged = [v for v in verdicts if v is not None]
        out[rel] = {"triples": len(verdicts), "judged": len(judged), "correct": sum(judged),
                    "precision": round(sum(judged) / max(len(judged), 1), 4),
                    "precision_strict": round(sum(judged) / max(len(verdicts), 1), 4)}
    return out


class Coverage:
    """CSQA question concept -> gold answer (and, as a control, -> the first wrong choice): paths read from a store."""

    def __init__(self, questions, nlp):
        self.nlp = nlp
        self.docs = []
        for q in questions:
            gold = next(c.text for c in q.choices if c.label == q.answer)
            wrong = next(c.text for c in q.choices if c.label != q.answer)
            self.docs.append((nlp(q.concept or ""), nlp(gold), nlp(wrong)))

    def run(self, store: GraphStore, cap: int = 200) -> dict:
        from kqa.retrieval.linking import ConceptLinker

        start = time.perf_counter()
        linker = ConceptLinker(store.vocabulary() | set(store.aliases()), self.nlp)  # aliases link, then resolve
        cache: dict[str, tuple[set, set]] = {}
        tally = Counter()
        for qdoc, *answers in self.docs:
            qs = {store.resolve(c.name) for c in linker.link_doc(qdoc, whole=True)}
            for kind, adoc in zip(("gold", "distractor"), answers):
                ans = {store.resolve(c.name) for c in linker.link_doc(adoc, whole=True)}
                tally[f"linked_{kind}"] += bool(qs and ans)
                hits = [self._hit(self._near(store, q, cap, cache), self._near(store, a, cap, cache), q, a)
                        for q in qs for a in ans if q != a]
                tally[f"covered_2hop_{kind}"] += any(h[0] for h in hits)
                tally[f"covered_2hop_capped_{kind}"] += any(h[1] for h in hits)
        n = len(self.docs)
        shares = {k: (v if k.startswith("linked") else round(v / n, 4)) for k, v in sorted(tally.items())}
        return {"questions": n, **shares, "seconds": round(time.perf_counter() - start, 1)}

    @staticmethod
    def _near(store: GraphStore, concept: str, cap: int, cache: dict) -> tuple[set, set]:
        """Neighbour concepts over retrievable edges: all of them, and those of the `cap` most confident edges."""
        from kqa.retrieval.facts import is_retrievable

        if concept not in cache:
            edges = store.neighbours(concept)
            ends = [(e.tail if e.head == concept else e.head, is_retrievable(e)) for e in edges]
            cache[concept] = ({c for c, ok in ends if ok}, {c for c, ok in ends[:cap] if ok})
        return cache[concept]

    @staticmethod
    def _hit(qn: tuple[set, set], an: tuple[set, set], q: str, a: str) -> tuple[bool, bool]:
        """(all edges, capped edges): q and a adjacent on either one's list (as retrieval finds a direct edge), or
        sharing a neighbour."""
        return tuple(a in qn[i] or q in an[i] or bool(qn[i] & an[i]) for i in (0, 1))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def coverage_stages(graph: GraphStore, coverage: Coverage, resolution: ResolutionConfig) -> dict:
    """As built, +resolution, +resolution+inference, inference only (merges undone). Changes `graph`."""
    log(f"coverage stages on {graph.path}")
    out = {"as_built": coverage.run(graph) | {"graph": graph.stats()}}
    timings = {}
    began = time.perf_counter()
    log("resolve")
    report = resolve_entities(graph, resolution)
    timings["resolve_s"] = round(time.perf_counter() - began, 1)
    out["resolution"] = coverage.run(graph) | {"merged": len(report.merges), "rejected": report.rejected,
                                                "by_method": report.to_dict()["by_method"]}
    log("infer")
    result = infer(graph, InferenceConfig())
    timings["infer_s"] = round(result.seconds, 1)
    out["resolution_inference"] = coverage.run(graph) | {"inferred": result.triples,
                                                          **result.details, "graph": result.counts}
    log("unmerge all, infer")
    began = time.perf_counter()
    graph.commit([Unmerge(a) for a in sorted(graph.aliases())])
    timings["unmerge_all_s"] = round(time.perf_counter() - began, 1)
    result = infer(graph, InferenceConfig())
    out["inference"] = coverage.run(graph) | {"inferred": result.triples, **result.details}
    timings |= retraction_timing(graph)
    out["timings"] = timings
    return out


def copy_graph(source: Path, target: Path) -> Path:
    """The committed files only, manifest first (a writer may still append to the log: its tail is ignored)."""
    import json

    target.mkdir(parents=True)
    shutil.copy2(source / "manifest.json", target / "manifest.json")
    manifest = json.loads((target / "manifest.json").read_text())
    for name in (manifest["snapshot"], manifest["log"]):
        shutil.copy2(source / name, target / name)
    return target


def retraction_timing(store: GraphStore) -> dict:
    """What `graph remove` adds for inference: remove the gloss document with the most inferred consequences and
    time the retraction of stale inferred edges (a scan of the inference document's premises)."""
    from kqa.graph.builder import retract_stale_inferences
    from kqa.graph.inference import INFERENCE_DOC, PREMISE
    from kqa.graph.model import RemoveName

    inferred_id = store.state.names.get(INFERENCE_DOC, "")
    inferred = store.state.docs.get(inferred_id)
    if inferred is None:
        return {}
    uses = Counter(p for tid in inferred.edges for s in store.state.edges[tid].supports for p in PREMISE.findall(
        s.sentence.partition(":")[2]))
    glosses = [(d, r) for d, r in store.state.docs.items() if any(n.startswith("wn30:") for n in r.names)]
    docs = Counter({d: sum(uses.get(tid, 0) for tid in r.edges) for d, r in glosses if d != inferred_id})
    if not docs:
        return {}
    doc_id = docs.most_common(1)[0][0]
    store.commit([RemoveName(doc_id, n) for n in sorted(store.state.docs[doc_id].names)])
    began = time.perf_counter()
    changes = retract_stale_inferences(store)
    return {"remove_one_document_retraction_s": round(time.perf_counter() - began, 2),
            "remove_one_document_inferred_retracted": len(changes.removed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glosses", type=int, default=3000, help="Noun synsets whose glosses are parsed.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--questions", type=int, default=None, help="CSQA validation questions (default: all 1221).")
    parser.add_argument("--full-graph", type=Path, default=None, help="Also measure coverage on a copy of this graph.")
    parser.add_argument("--threshold", type=float, default=0.9, help="Embedding threshold of entity resolution.")
    args = parser.parse_args()

    from kqa.data import load_questions
    from kqa.models import load_spacy

    result: dict = {"glosses": args.glosses, "seed": args.seed}
    synsets = list(read_synsets(wordnet_dir()))
    labels = WordNetLabels(synsets)
    nlp = load_spacy("en-core-web-sm")
    config = GraphConfig()
    resolution = ResolutionConfig(threshold=args.threshold)
    coverage = Coverage(load_questions("csqa:validation", limit=args.questions).questions, nlp)
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "g"
        log("import WordNet, parse glosses")
        began = time.perf_counter()
        import_documents(graph, [WordNetImporter().run()])
        built = GraphBuilder(config, parser=LocalParser(config, nlp), progress=False).run(
            list(gloss_docs(synsets, args.glosses, args.seed)), graph)
        result["build_s"] = round(time.perf_counter() - began, 1)
        result["triples_extracted"] = built.triples
        with GraphStore.open(graph, writable=True) as store:  # read once; every step below works on it
            result["precision_before"] = precision(store, labels, active_only=False)
            log("validate")
            report = validate_graph(store, quarantine=True)
            result["validation"] = {"flagged": report.flagged, "seconds": round(report.seconds, 1),
                                    "isolated_concepts": report.isolated_concepts}
            result["precision_after_validation"] = precision(store, labels, active_only=True)
            if args.full_graph is None:
                result["coverage_small_graph"] = coverage_stages(store, coverage, resolution)
    if args.full_graph is not None and (args.full_graph / "manifest.json").is_file():
        with tempfile.TemporaryDirectory(dir=args.full_graph.parent) as tmp:
            log(f"copy {args.full_graph}")
            with GraphStore.open(copy_graph(args.full_graph, Path(tmp) / "g"), writable=True) as store:
                result["coverage_full_graph"] = coverage_stages(store, coverage, resolution)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_result("graph_quality", result)


if __name__ == "__main__":
    main()
