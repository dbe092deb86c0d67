"""report.md with PNG plots (matplotlib, Agg backend) for one run, and for a --compare ablation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from kqa.evaluation.results import (
    Calibration,
    CompareReport,
    ConceptAccuracy,
    EvalReport,
    LinkedAccuracy,
    PairedStats,
    PositionConfusion,
    RunMetrics,
)

DPI = 110


class ReportWriter:
    """Write OUT/report.md and OUT/plots/*.png from an EvalReport (or a CompareReport)."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.plots = self.out_dir / "plots"

    def run(self, report: EvalReport | CompareReport) -> Path:
        self.plots.mkdir(parents=True, exist_ok=True)
        compare = isinstance(report, CompareReport)
        lines = _compare_md(report, self.plots) if compare else _eval_md(report, self.plots)
        path = self.out_dir / "report.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


# ---- one run -------------------------------------------------------------------------------------------------
def _eval_md(report: EvalReport, plots: Path) -> list[str]:
    m, o = report.metrics, report.metrics.overall
    lines = [f"# kqa eval: {', '.join(report.sources)}", "", f"- model: `{report.model}` ({m.variant})",
             f"- questions: {o.n} ({o.labelled} with answer keys, {m.skipped} invalid skipped)",
             f"- facts per question: {o.facts_per_question:.2f}",
             (f"- throughput: {m.timing.questions_per_s:.2f} questions/s over {m.timing.answered} "
              f"answered this run ({m.timing.workers} worker(s), engine {m.timing.engine})"), ""]
    for problem in m.skipped_examples:
        lines.append(f"- skipped: {problem}")
    if o.accuracy is None:
        lines += ["**No answer keys: predictions only, no accuracy.**", ""]
        lines += _position_md(m, plots)
        return lines
    low, high = o.accuracy_ci95
    lines += [f"## Accuracy: {o.accuracy:.4f} (95% bootstrap CI {low:.4f} to {high:.4f}; {o.correct}/{o.labelled})",
              ""]
    if o.coverage is not None:
        lines += [f"Retrieval coverage (gold choice has >= 1 fact on a graph path from the question): {o.coverage:.3f}",
                  ""]
    for name, sub in (m.by_source or {}).items():
        acc = "n/a"
        if sub.accuracy is not None:
            acc = f"{sub.accuracy:.4f} [{sub.accuracy_ci95[0]:.4f}, {sub.accuracy_ci95[1]:.4f}]"
        lines.append(f"- {name}: {acc} (n={sub.n})")
    _reliability_png(o.calibration, plots / "reliability.png")
    lines += ["", "## Calibration", "", f"Expected calibration error: {o.calibration.ece:.4f}", "",
              "![reliability](plots/reliability.png)", ""]
    lines += _position_md(m, plots)
    if o.by_concept:
        _bars_png(plots / "concepts.png", [r.concept for r in o.by_concept], o.by_concept,
                  f"Accuracy by question concept (top {len(o.by_concept)})", horizontal=True)
        lines += ["## By question concept", "", "![concepts](plots/concepts.png)", "",
                  "| concept | n | accuracy |", "|---|---:|---:|"]
        lines += [f"| {r.concept} | {r.n} | {r.accuracy:.3f} |" for r in o.by_concept] + [""]
    if o.by_linked_concepts:
        _bars_png(plots / "linked.png", [r.linked for r in o.by_linked_concepts], o.by_linked_concepts,
                  "Accuracy by number of linked question concepts")
        lines += ["## By number of linked concepts", "", "![linked](plots/linked.png)", "",
                  "| linked | n | accuracy |", "|---|---:|---:|"]
        lines += [f"| {r.linked} | {r.n} | {r.accuracy:.3f} |" for r in o.by_linked_concepts] + [""]
    return lines


def _position_md(m: RunMetrics, plots: Path) -> list[str]:
    pos = m.overall.position
    share = ", ".join(f"{chr(65 + i)} {s:.2f}" for i, s in enumerate(pos.predicted_share))
    lines = ["## Answer positions", "", f"- share of predictions per position: {share}"]
    if m.overall.labelled:
        gold = ", ".join(f"{chr(65 + i)} {s:.2f}" for i, s in enumerate(pos.gold_share))
        _confusion_png(pos, plots / "positions.png")
        lines += [f"- share of gold answers per position: {gold}", "", "![positions](plots/positions.png)"]
    return lines + [""]


def _reliability_png(calibration: Calibration, path: Path) -> None:
    bins = calibration.bins
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 5.5), dpi=DPI, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    centers = [(b.low + b.high) / 2 for b in bins]
    width = bins[0].high - bins[0].low
    top.bar(centers, [b.accuracy or 0 for b in bins], width=width * 0.9, color="#4c72b0", label="accuracy")
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.plot([b.confidence for b in bins if b.n], [b.accuracy for b in bins if b.n], "o", color="#dd8452",
             label="bin accuracy at its mean confidence")
    top.set(ylim=(0, 1), ylabel="accuracy", title=f"Reliability diagram (ECE {calibration.ece:.3f})")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centers, [b.n for b in bins], width=width * 0.9, color="#8c8c8c")
    bottom.set(xlim=(0, 1), xlabel="confidence (max choice probability)", ylabel="questions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _confusion_png(pos: PositionConfusion, path: Path) -> None:
    matrix = pos.matrix
    labels = [chr(65 + i) for i in pos.positions]
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(labels), 1 + 0.7 * len(labels)), dpi=DPI)
    image = ax.imshow(matrix, cmap="Blues")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels, yticklabels=labels,
           xlabel="predicted position", ylabel="gold position", title="Answer positions (counts)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _bars_png(path: Path, names: list[str], rows: Sequence[ConceptAccuracy | LinkedAccuracy], title: str,
              horizontal: bool = False) -> None:
    values = [r.accuracy for r in rows]
    notes = [f"n={r.n}" for r in rows]
    if horizontal:
        fig, ax = plt.subplots(figsize=(6, 1 + 0.28 * len(rows)), dpi=DPI)
        ax.barh(range(len(rows)), values, color="#4c72b0")
        ax.set(yticks=range(len(rows)), yticklabels=names, xlim=(0, 1.15), xlabel="accuracy", title=title)
        ax.invert_yaxis()
        for i, (v, note) in enumerate(zip(values, notes)):
            ax.text(v + 0.01, i, note, va="center", fontsize=7)
    else:
        fig, ax = plt.subplots(figsize=(5, 3.5), dpi=DPI)
        ax.bar(range(len(rows)), values, color="#4c72b0")
        ax.set(xticks=range(len(rows)), xticklabels=names, ylim=(0, 1.1), ylabel="accuracy", title=title)
        for i, (v, note) in enumerate(zip(values, notes)):
            ax.text(i, v + 0.02, note, ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---- --compare ---------------------------------------------------------------------------------------------------
def _compare_md(report: CompareReport, plots: Path) -> list[str]:
    lines = [f"# kqa eval --compare: {', '.join(report.sources)}", "",
             ("Only **with - control** measures knowledge use: the control reads as many facts, from another "
              "question, so a longer prompt alone cannot explain the difference."), "",
             "| variant | n | accuracy | 95% CI | facts/question | report |", "|---|---:|---:|---|---:|---|"]
    for name, run in report.variants.items():
        m = run.overall
        acc = "n/a" if m.accuracy is None else f"{m.accuracy:.4f}"
        ci = "" if m.accuracy_ci95 is None else f"{m.accuracy_ci95[0]:.4f} to {m.accuracy_ci95[1]:.4f}"
        lines.append(f"| {name} | {m.n} | {acc} | {ci} | {m.facts_per_question:.2f} "
                     f"| [report](variants/{name}/report.md) |")
    if not report.pairs:
        return lines + ["", "No answer keys: no paired tests."]
    _pairs_png(report.pairs, plots / "compare.png")
    lines += ["", "## Paired differences", "", "![compare](plots/compare.png)", "",
              "| A - B | difference | 95% paired bootstrap CI | A only right | B only right | McNemar exact p |",
              "|---|---:|---|---:|---:|---:|"]
    for p in report.pairs:
        lines.append(f"| {p.a} - {p.b} | {p.difference:+.4f} | {p.ci95[0]:+.4f} to {p.ci95[1]:+.4f} "
                     f"| {p.a_only} | {p.b_only} | {p.mcnemar_p:.4g} |")
    title = f"## Flipped questions ({len(report.flips)} between with and control; facts shown: those of 'with')"
    lines += ["", title, ""]
    for f in report.flips[:30]:
        lines.append(f"- `{f.id}` gold {f.gold}: {f.a} -> {f.a_predicted}, {f.b} -> {f.b_predicted} "
                     f"({'helped' if f.a_correct else 'hurt'})")
        lines += [f"    - {t}" for t in f.facts[:5]]
    return lines


def _pairs_png(pairs: Sequence[PairedStats], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 1.4 + 0.6 * len(pairs)), dpi=DPI)
    for i, p in enumerate(pairs):
        low, high = p.ci95
        ax.errorbar(p.difference, i, xerr=[[p.difference - low], [high - p.difference]], fmt="o",
                    color="#4c72b0", capsize=4)
    ax.axvline(0, color="gray", linestyle="--")
    reach = max(0.05, *(abs(x) for p in pairs for x in p.ci95)) * 1.15
    ax.set_xlim(-reach, reach)
    ax.set(yticks=range(len(pairs)), yticklabels=[f"{p.a} - {p.b}\nMcNemar p={p.mcnemar_p:.3g}" for p in pairs],
           xlabel="accuracy difference (95% paired bootstrap CI)", title="Paired differences")
    ax.set_ylim(-0.7, len(pairs) - 0.3)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
