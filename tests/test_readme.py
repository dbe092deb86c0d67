"""Every command in README.md runs: each line of a ```bash block and each ```python block, in README order.

They run in a scratch folder that holds links to data/, pipelines/ and .venv/, so relative paths work as in a
checkout and nothing is written to the repository. A reader's command and the command run here differ only by
the SUBSTITUTIONS below (sizes, and dry runs of the two make targets); the fast test checks that every rule still
matches a README command and that every `kqa` command parses against the real CLI.

How a command runs:
  `.venv/bin/kqa ARGS`  -> `kqa.cli.main` with ARGS in this process (the console script is that function), except
                          with `--engine ray` or `--workers`: those start a real `.venv/bin/kqa` process, as a user would
  `.venv/bin/kqa serve` -> a real server process on a free port, until /api/info answers, then stopped
  `make TARGET`         -> `make -n TARGET` in the repository (see the rule)
  anything else         -> `bash -c LINE` in the scratch folder
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINKED = ("data", "pipelines", ".venv")  # what README commands read, linked into the scratch folder
VOCABULARY = "fish\naquarium\n"  # words for the WordNet substitution


@dataclass(frozen=True)
class Rule:
    pattern: str  # re.sub pattern, applied to each command (and Python block) it matches
    replacement: str
    why: str


SUBSTITUTIONS = (
    Rule(r" {2,}# .*$", "", "trailing comments go first, so that the rules below append to the command itself"),
    Rule(r"--limit \d+", "--limit 2",
         "2 questions (the fewest --compare accepts) instead of 100-200: the same code path; with facts in the "
         "prompt a question takes seconds on 2 cores"),
    Rule(r"limit=\d+", "limit=2", "the same for the Python API"),
    Rule(r"(kqa graph import wordnet .*--glosses)", r"\1 --vocabulary vocabulary.txt",
         "only the synsets (and glosses) of two words instead of all 117,659: about 15 minutes -> seconds"),
    Rule(r"(kqa graph import (?:conceptnet4|definitions) .*)--vocabulary csqa:validation",
         r"\1--vocabulary vocabulary.txt",
         "the ConceptNet 4 edges and definitions of two words instead of the CSQA vocabulary's: 30 s -> seconds"),
    Rule(r"kqa graph import conceptnet my-conceptnet5-assertions\.csv\.gz --graph graphs/cn5",
         "kqa graph import conceptnet data/conceptnet_sample.csv --graph graphs/cn5",
         "the packaged ConceptNet 5 sample stands in for the user's own file"),
    Rule(r"(kqa train .*)pipelines/encoder-kpe\.yaml", r"\1encoder-kpe-ckpt.yaml",
         "the same pipeline with `train.checkpoint_every: 1`, so that the `--resume` line finds a checkpoint to "
         "resume from, as after a kill (at 16 questions no run reaches the default 50 steps)"),
    Rule(r"(-m kqa train|kqa train) (.*)$", r"\1 \2 --limit 16 --epochs 1",
         "16 questions (9 train, 2 dev after the split) and one epoch instead of 1221 x 5 epochs"),
    Rule(r"(kqa serve .*)$", r"\1 --port 0",
         "any free port, so that a busy 7860 does not fail the run; the test waits for /api/info, then stops it"),
    Rule(r"^make (\w+)", r"make -n \1",
         "dry run: `make test` would run this very suite, and `make demo` is the full pipeline, which its own "
         "test runs at a small size; here the targets must exist and their recipes expand"),
)


@dataclass(frozen=True)
class Snippet:
    kind: str  # "bash" (one command) or "python" (one block)
    text: str  # as written in the README
    line: int  # where it starts in README.md

    @property
    def run_text(self) -> str:
        text = self.text
        for rule in SUBSTITUTIONS:
            text = re.sub(rule.pattern, rule.replacement, text, flags=re.MULTILINE)
        return text


def snippets(markdown: str) -> list[Snippet]:
    """The README's ```bash lines (backslash continuations joined) and ```python blocks, in order."""
    found, block, kind, start = [], [], None, 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if kind is None and line.strip() in ("```bash", "```python"):
            kind, block, start = line.strip()[3:], [], number + 1
        elif kind is not None and line.strip() == "```":
            found += _split(kind, block, start)
            kind = None
        elif kind is not None:
            block.append(line)
    return found


def _split(kind: str, lines: list[str], start: int) -> list[Snippet]:
    if kind == "python":
        return [Snippet("python", "\n".join(lines), start)]
    commands, pending, first = [], "", start
    for offset, line in enumerate(lines):
        part = line.strip()
        continued = part.endswith("\\")
        part = part.removesuffix("\\").rstrip()
        if not pending:
            first = start + offset
        pending = f"{pending} {part}" if pending else part
        if not continued:
            if pending:
                commands.append(Snippet("bash", pending, first))
            pending = ""
    return commands


def kqa_args(command: str) -> list[str] | None:
    """The arguments of a `.venv/bin/kqa` command (comments dropped), or None for other commands."""
    words = shlex.split(command, comments=True)
    return words[1:] if words and words[0] == ".venv/bin/kqa" else None


README_SNIPPETS = snippets(README.read_text(encoding="utf-8"))


# ---- fast checks: the README and this file agree with the CLI --------------------------------------------------
def test_readme_has_commands_for_the_four_uses():
    commands = " ".join(s.text for s in README_SNIPPETS)
    for needed in ("kqa ask", "KQAPipeline", "kqa graph build", "kqa graph update", "kqa train", "kqa eval csqa:validation",
                   "--engine ray", "accelerate launch"):
        assert needed in commands, needed


def test_every_substitution_rule_still_matches_a_readme_command():
    for rule in SUBSTITUTIONS:
        assert any(re.search(rule.pattern, s.text, flags=re.MULTILINE) for s in README_SNIPPETS), rule


@pytest.mark.parametrize("snippet", [s for s in README_SNIPPETS if s.kind == "bash" and kqa_args(s.text)],
                         ids=lambda s: f"README:{s.line}")
def test_every_kqa_command_parses(snippet):
    """Parse (never run) each `kqa` command with the real CLI: a renamed command or option fails here, in seconds."""
    import typer.main

    from kqa.cli import app

    command = typer.main.get_command(app)
    ctx = command.make_context("kqa", kqa_args(snippet.run_text))
    while hasattr(command, "resolve_command"):  # descend through the groups: kqa graph import wordnet ...
        name, command, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        ctx = command.make_context(name, rest, parent=ctx)


def test_python_blocks_compile():
    for snippet in (s for s in README_SNIPPETS if s.kind == "python"):
        compile(snippet.run_text, f"README.md:{snippet.line}", "exec")


# ---- the real runs -------------------------------------------------------------------------------------------------
@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    (tmp_path / "vocabulary.txt").write_text(VOCABULARY, encoding="utf-8")
    kpe = (ROOT / "pipelines" / "encoder-kpe.yaml").read_text(encoding="utf-8")
    assert "checkpoint_every: 50" in kpe
    (tmp_path / "encoder-kpe-ckpt.yaml").write_text(kpe.replace("checkpoint_every: 50", "checkpoint_every: 1"))
    monkeypatch.chdir(tmp_path)
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    return tmp_path


def run_snippet(snippet: Snippet, scratch: Path, capsys, monkeypatch) -> None:
    start = time.perf_counter()
    _run(snippet, scratch, capsys, monkeypatch)
    with capsys.disabled():  # seconds per command, to keep this test's cost in view (pytest -s shows them)
        print(f"\n{time.perf_counter() - start:6.1f} s  README.md:{snippet.line}", end="")


def _run(snippet: Snippet, scratch: Path, capsys, monkeypatch) -> None:
    text, where = snippet.run_text, f"README.md:{snippet.line}: {snippet.run_text}"
    if snippet.kind == "python":
        exec(compile(text, f"README.md:{snippet.line}", "exec"), {"__name__": "__readme__"})  # noqa: S102 (the README's own code)
        return
    args = kqa_args(text)
    if args is not None and args[0] == "serve":
        _serve(text, scratch, where)
        return
    if args is not None and not ({"--engine", "--workers"} & set(args)):
        _in_process(args, where, capsys, monkeypatch)
        return
    cwd = ROOT if text.startswith("make ") else scratch
    proc = subprocess.run(["bash", "-c", text], cwd=cwd, capture_output=True, text=True, env=dict(os.environ),
                          check=False)
    assert proc.returncode == 0, f"{where}\nexit {proc.returncode}\n{proc.stderr[-3000:]}"


def _serve(text: str, scratch: Path, where: str, timeout: float = 240.0) -> None:
    """Start the server as a user would, wait until its page answers, stop it; it must not have died on the way."""
    import urllib.request

    proc = subprocess.Popen(["bash", "-c", f"exec {text}"], cwd=scratch, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        url, began = None, time.monotonic()
        while url is None and time.monotonic() - began < timeout:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"{where}\nthe server exited with {proc.poll()}"
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found and not found.group(1).endswith(":0") else None
        assert url, f"{where}\nno address printed in {timeout:.0f} s"
        with urllib.request.urlopen(f"{url}/api/info", timeout=60) as response:
            assert response.status == 200, f"{where}\n/api/info answered {response.status}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _in_process(args: list[str], where: str, capsys, monkeypatch) -> None:
    from kqa.cli import main

    monkeypatch.setattr(sys, "argv", ["kqa", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    _, err = capsys.readouterr()
    assert code == 0, f"{where}\nexit {code}\n{err[-3000:]}"


def _section(first: str, last: str | None) -> list[Snippet]:
    """README snippets from the heading `first` up to the heading `last` (by line number)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines, 1) if line.startswith(first))
    end = next((i for i, line in enumerate(lines, 1) if last and line.startswith(last)), len(lines) + 1)
    return [s for s in README_SNIPPETS if start < s.line < end]


@pytest.mark.slow
def test_readme_commands_run_in_order(scratch, capsys, monkeypatch):
    """Sections 'Two commands' to 'Results': each use builds on the previous (graph -> index -> adapter -> eval)."""
    ran = _section("## Two commands", "## Results")
    assert len(ran) >= 25
    for snippet in ran:
        run_snippet(snippet, scratch, capsys, monkeypatch)
    assert (scratch / "graphs" / "mine" / "index" / "manifest.json").is_file()
    assert (scratch / "runs" / "kpe" / "adapter" / "adapter_config.json").is_file()
    assert (scratch / "runs" / "ablation" / "compare.json").is_file()


@pytest.mark.slow
@pytest.mark.ray
def test_readme_scale_out_commands_run(scratch, capsys, monkeypatch):
    """'Scale out': Ray extraction and evaluation, local worker processes, and `accelerate launch` of training."""
    pytest.importorskip("ray")
    pytest.importorskip("accelerate")
    ran = _section("## Scale out", "## On-disk formats")
    assert len(ran) == 4
    for snippet in ran:
        run_snippet(snippet, scratch, capsys, monkeypatch)
    assert (scratch / "runs" / "kpe-ddp" / "adapter" / "adapter.safetensors").is_file()


def test_no_readme_command_is_left_unrun():
    """Every snippet lies in a section that one of the two runs above covers."""
    covered = {id(s) for s in _section("## Two commands", "## Results") + _section("## Scale out", "## On-disk formats")}
    missed = [f"README.md:{s.line}" for s in README_SNIPPETS if id(s) not in covered]
    assert not missed, f"README commands outside the run sections: {missed}"
