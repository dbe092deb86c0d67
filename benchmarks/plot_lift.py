"""The table that decides, as a picture: for each measured configuration (benchmarks/results/lift_<tag>.json), the
test accuracy of its three readers — without facts, with the retrieved facts, with control facts — with 95% CIs.

    python -m benchmarks.plot_lift [--out docs/lift.png] [tag ...]

Without tags: every lift_*.json except re-checks of a row already shown. The figure is written with matplotlib's Agg
backend (no display needed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
READERS = (("without", "without facts", "#9e9e9e"), ("facts", "with facts", "#1f77b4"),
           ("control", "control facts", "#ff7f0e"))
REPEATS = ("-recheck", "-session24", "minilm-base")  # reruns that reproduce a shown row exactly (minilm-base: the
# default's reader without facts again, the start of the staged run)


def load(tags: list[str]) -> list[tuple[str, dict]]:
    """(tag, {reader: (accuracy, low, high)}) per configuration: the tags given, or every file sorted by name."""
    paths = [RESULTS / f"lift_{t}.json" for t in tags] if tags else sorted(RESULTS.glob("lift_*.json"))
    rows = []
    for path in paths:
        tag = path.stem.removeprefix("lift_")
        if not tags and tag.endswith(REPEATS):
            continue
        readers = json.loads(path.read_text(encoding="utf-8"))["result"]["readers"]
        label = f"{tag} (n={readers[0]['n']})" if "n" in readers[0] else tag  # test questions
        rows.append((label, {r["name"]: (r["accuracy"], *r["ci95"]) for r in readers}))
    return rows


def plot(rows: list[tuple[str, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) * len(READERS) + 1.2))
    height = 0.26
    for k, (name, label, colour) in enumerate(READERS):
        ys, xs, errors = [], [], [[], []]
        for i, (_, readers) in enumerate(rows):
            if name in readers:
                accuracy, low, high = readers[name]
                ys.append(i + (k - 1) * height)
                xs.append(accuracy)
                errors[0].append(accuracy - low)
                errors[1].append(high - accuracy)
        ax.barh(ys, xs, height, xerr=errors, color=colour, label=label, capsize=2)
    ax.set_yticks(range(len(rows)), [tag for tag, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.2, color="black", linewidth=0.8, linestyle=":", label="chance (5 choices)")
    ax.set_xlabel("test accuracy (95% bootstrap CI)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tags", nargs="*", help="lift_<tag>.json files to show (default: all)")
    parser.add_argument("--out", type=Path, default=Path("docs/lift.png"))
    args = parser.parse_args()
    rows = load(args.tags)
    if not rows:
        raise SystemExit(f"no lift results in {RESULTS} for {args.tags or 'lift_*.json'}")
    plot(rows, args.out)
    print(f"{len(rows)} configurations -> {args.out}")


if __name__ == "__main__":
    main()
