"""The real dashboard in a real browser: `streamlit run app.py` driven by Playwright + chromium.

    pytest -m browser tests/test_browser.py        # needs Debian's chromium (make system-deps)

Opens every page against a copy of the fixture store, checks that its charts render and that no
error or traceback shows, saves screenshots under test-artifacts/screenshots/, then launches a
small live run (the tiny random BERT on a tiny SST-2, MBP_ALLOW_TINY=1) from the Live-run page,
waits for it to finish and finds its curve on the Pruning-curves page.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ServerDidNotStart,
    StreamlitApp,
    settle,
)
from tests.browser_support import select_option as _select
from tests.fixtures.store_fixture import fixture_store_copy

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
# url path -> Plotly charts the page draws from the fixture store
PAGES = {"": 2, "curves": 1, "layers": 2, "heads": 3, "claims": 3, "live": 0, "runs": 0}
WORDS = ["the", "cat", "dog", "man", "woman", "child", "house", "car", "street", "city", "tree", "bird", "book", "table", "water", "food", "big", "small", "old", "new", "happy", "sad", "red", "blue", "green", "sits", "runs", "walks", "eats", "sleeps"]  # fmt: skip


def _tiny_sst2(root: Path, n_train: int = 64, n_dev: int = 48) -> Path:
    """An SST-2-shaped data root whose label follows a word (good/bad)."""
    import random

    rng = random.Random(0)
    folder = root / "glue" / "SST-2"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = ["sentence\tlabel"]
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
            rows.append(f"{words} {'good' if i % 2 else 'bad'}\t{i % 2}")
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (make system-deps)")
    pytest.importorskip("playwright.sync_api")
    tmp = tmp_path_factory.mktemp("browser")
    env = {
        **os.environ,
        "MBP_STORE": str(fixture_store_copy(tmp / "store.duckdb")),
        "MBP_ALLOW_TINY": "1",
        "MBP_DATA_DIR": str(_tiny_sst2(tmp / "data")),
        "MBP_CACHE": str(tmp / "cache"),
        "MBP_JOBS_DIR": str(tmp / "jobs"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("MBP_MODE", None)
    app = StreamlitApp(env, tmp / "streamlit.log")
    try:
        base = app.start()
    except ServerDidNotStart as err:
        pytest.fail(str(err))
    yield base
    app.stop()
    shutil.copyfile(tmp / "streamlit.log", SHOTS.parent / "streamlit.log")


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1440, "height": 1800})
        yield tab
        browser.close()


def assert_clean(tab) -> None:
    text = tab.inner_text("body")
    assert "Traceback" not in text
    assert tab.locator('[data-testid="stException"]').count() == 0
    assert tab.locator('[data-testid="stAlertContentError"]').count() == 0, text[:2000]


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_its_charts(server, page, path):
    page.goto(f"{server}/{path}")
    settle(page, PAGES[path])
    assert_clean(page)
    assert page.locator(".stPlotlyChart").count() == PAGES[path]
    assert page.locator(".js-plotly-plot .main-svg").count() >= PAGES[path]
    assert page.locator('[data-testid="stSidebar"]').count() == 1  # the router ran (deep link)
    page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)


def test_a_shared_link_reproduces_the_view(server, page):
    page.goto(f"{server}/curves?task=xnli&model=e5-small&lang=de,sw&y=relative")
    settle(page, 1)
    assert_clean(page)
    body = page.inner_text("body")
    assert "de · German" in body and "sw · Swahili" in body
    assert "% of unpruned accuracy" in page.inner_text(".stPlotlyChart")
    page.screenshot(path=str(SHOTS / "curves-shared-link.png"), full_page=True)


def test_curves_against_flops_saved_with_their_pareto_front(server, page):
    page.goto(f"{server}/curves?task=xnli&model=e5-small&lang=en")
    settle(page, 1)
    page.get_by_text("FLOPs saved", exact=True).first.click()
    settle(page, 1)
    page.get_by_text("Pareto front", exact=True).first.click()
    settle(page, 1)
    assert_clean(page)
    chart = page.inner_text(".stPlotlyChart")
    assert "% of encoder FLOPs per example saved" in chart and "Pareto front" in chart
    assert "x=flops" in page.url and "pareto=1" in page.url
    page.screenshot(path=str(SHOTS / "curves-flops-pareto.png"), full_page=True)


def _fill(tab, testid: str, label: str, value: str) -> None:
    field = tab.locator(f'[data-testid="{testid}"]').filter(has_text=label).first.locator("input")
    field.fill(value)
    field.press("Enter")
    time.sleep(0.6)


def wait_for_job(tab, timeout: float = 600) -> str:
    """The live run's final status as its panel shows it (polled; "" if it never showed)."""
    deadline = time.time() + timeout
    status = ""
    while time.time() < deadline:
        time.sleep(2)
        match = re.search(
            r"Live run `?[\w-]+`? · \S+ (running|done|failed|cancelled|timed out|lost)",
            tab.inner_text("body"),
        )
        status = match.group(1) if match else status
        if status and status != "running":
            break
    return status


def test_live_run_completes_and_its_curve_appears(server, page):
    page.goto(f"{server}/live")
    settle(page)
    _select(page, "Model", "tiny-bert")
    settle(page)
    _fill(page, "stTextInput", "Grid", "0,0.5,1")
    _fill(page, "stTextInput", "Random seeds", "0 1")
    _fill(page, "stNumberInput", "Examples per language", "40")
    _fill(page, "stNumberInput", "Fine-tuning examples", "64")
    settle(page)
    assert_clean(page)
    page.screenshot(path=str(SHOTS / "live-form.png"), full_page=True)
    page.get_by_role("button", name="Launch").click()
    status = wait_for_job(page)
    page.screenshot(path=str(SHOTS / "live-finished.png"), full_page=True)
    assert "job=" in page.url
    assert status == "done", page.inner_text("body")[-3000:]
    assert "9 / 9 cells" in page.inner_text("body")  # importance 3 + random 2 seeds x 3
    settle(page)  # the page re-runs once the job ends: click what it shows after that
    page.get_by_text("See its curves").first.click()
    settle(page, 1)
    assert_clean(page)
    chart = page.inner_text(".stPlotlyChart")
    assert "tiny-bert" in chart and "sst2" in chart
    # its provenance: the job's own two sweep runs, picked by the link, with their settings
    body = page.inner_text("body")
    assert "From 2 stored run(s), 2 picked: 40 examples · seeds 0 1 · posthoc" in body, body
    assert "runs=" in page.url
    page.screenshot(path=str(SHOTS / "live-curves.png"), full_page=True)


def test_runs_page_downloads_csv_and_parquet(server, page, tmp_path):
    page.goto(f"{server}/runs")
    settle(page)
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="CSV", exact=True).click()
    csv_path = tmp_path / "runs.csv"
    csv_download.value.save_as(csv_path)
    settle(page)  # whatever the click set off has finished before the next click
    header = csv_path.read_text().splitlines()[0]
    assert header.startswith("run_id,model,task,lang,method,order_name")
    assert len(csv_path.read_text().splitlines()) > 300  # every fixture curve point
    with page.expect_download() as parquet_download:
        page.get_by_role("button", name="Parquet", exact=True).click()
    parquet_path = tmp_path / "runs.parquet"
    parquet_download.value.save_as(parquet_path)
    import pandas as pd

    assert len(pd.read_parquet(parquet_path)) == len(csv_path.read_text().splitlines()) - 1
    assert_clean(page)


def test_a_retrain_live_run_lands_on_the_curves_page(server, page):
    """The paper's protocol from the form: every cell a fine-tune of the pre-trained model with
    its heads removed; the run's curve shows under the retrain protocol. Run after the posthoc
    live run (40 examples) on the same server: its link selects its own example count (32), not
    the largest stored one (the defect this test once caught)."""
    page.goto(f"{server}/live")
    settle(page)
    _select(page, "Model", "tiny-bert")
    settle(page)
    _fill(page, "stTextInput", "Grid", "0,0.5")
    _fill(page, "stTextInput", "Random seeds", "0")
    _fill(page, "stNumberInput", "Examples per language", "32")
    _fill(page, "stNumberInput", "Fine-tuning examples", "48")
    page.screenshot(path=str(SHOTS / "live-retrain-form.png"), full_page=True)
    page.get_by_text("retrain (the paper", exact=False).first.click()
    settle(page)
    assert_clean(page)
    page.get_by_role("button", name="Launch").click()
    status = wait_for_job(page)
    page.screenshot(path=str(SHOTS / "live-retrain-finished.png"), full_page=True)
    assert status == "done", page.inner_text("body")[-3000:]
    assert "4 / 4 cells" in page.inner_text("body")  # importance 2 + random 1 seed x 2
    settle(page)  # the page re-runs once the job ends: follow the link it shows after that
    href = (
        page.get_by_text("See its curves").first.locator("xpath=ancestor::a").get_attribute("href")
    )
    assert href and "protocol=retrain" in href
    page.goto(href if href.startswith("http") else f"{server}/{href.lstrip('/')}")
    settle(page, 1, timeout=180)
    page.screenshot(path=str(SHOTS / "live-retrain-curves.png"), full_page=True)
    assert_clean(page)
    assert "protocol=retrain" in page.url
    chart = page.inner_text(".stPlotlyChart")
    assert "tiny-bert" in chart and "retrain" in chart
    body = page.inner_text("body")
    assert "From 2 stored run(s), 2 picked: 32 examples · seeds 0 · retrain" in body, body
    page.screenshot(path=str(SHOTS / "live-retrain-curves.png"), full_page=True)
