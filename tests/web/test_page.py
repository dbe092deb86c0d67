"""End to end: the page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) over SmolLM2.

`make test` installs chromium first (`make browser`). Locally a missing browser skips with the reason; under CI=true
it fails, so CI cannot pass without running the page. KQA_UPDATE_SCREENSHOTS=1 also copies the screenshot to
docs/screenshots/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kqa.config import PipelineConfig
from kqa.pipeline import KQAPipeline
from kqa.scoring import CausalLMScorer
from kqa.web.app import create_app
from tests.web.conftest import retriever_over, running

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # this machine has no outside network
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def browser():
    problem = "" if CHROMIUM.exists() else f"{CHROMIUM} is missing (run `make browser`)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is missing (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run: {problem}")
        pytest.skip(problem)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def smollm_pipeline(graph_dir, nlp) -> KQAPipeline:
    config = PipelineConfig(graph={"path": str(graph_dir)}, scorer={"use_facts": True}, retrieval={"dense_k": 0})
    return KQAPipeline(config, CausalLMScorer(config.model, config.scorer), retriever_over(graph_dir, nlp))


def test_page_answers_explains_and_browses_the_graph(browser, smollm_pipeline, tmp_path):
    with running(create_app(smollm_pipeline)) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url)
        page.wait_for_function("document.getElementById('setup').textContent.includes('smollm2')")

        page.click("#ask")  # nothing typed yet: the server's message shows on the page
        page.wait_for_selector("#ask-status.error")
        assert "`question` is empty" in page.text_content("#ask-status")

        page.click("#example")
        page.click("#ask")
        page.wait_for_selector("#answer-card:not(.hidden)", timeout=120_000)  # a loaded CI machine
        assert page.text_content("#answer").startswith("Answer: ")
        rows = page.locator("#choices-out .choice")
        assert rows.count() == 3 and "%" in rows.first.text_content()
        evidence = page.locator(".choice[data-label='A'] table.facts").first
        evidence.wait_for(state="attached")
        assert "aquarium" in evidence.text_content() and "“A fish lives in an aquarium.”" in evidence.text_content()
        page.wait_for_function("document.getElementById('evidence-png').naturalWidth > 0")

        page.fill("#concept", "fish")
        page.click("#show")
        page.wait_for_function("document.getElementById('concept-png').naturalWidth > 0")
        assert "CapableOf" in page.text_content("#edges")
        assert "17 facts" in page.text_content("#stats")

        for details in page.locator("details").all():  # show every choice's facts in the screenshot
            details.evaluate("d => d.open = true")
        shot = tmp_path / "kqa-serve.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("KQA_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        from PIL import Image  # matplotlib's dependency: a 256-colour copy keeps the committed file small

        Image.open(shot).convert("RGB").quantize(256).save(DOCS / shot.name, optimize=True)
