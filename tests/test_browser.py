"""The real dashboard in a real browser: `streamlit run app.py` driven by Playwright + chromium.

    pytest -m browser tests/test_browser.py        # needs Debian's chromium (make system-deps)

Opens every page against a copy of the fixture store, checks that its charts render and that no
error or traceback shows, saves screenshots under test-artifacts/screenshots/, then launches a
small live run (the tiny random BERT on a tiny SST-2, MBP_ALLOW_TINY=1) from the Live-run page,
waits for it to finish and finds its curve on the Pruning-curves page.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbp.store import ResultsStore
from tests.browser_support import (
    CHART,
    CHART_DRAWN,
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
# url path -> charts the page draws from the fixture store
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


STORES: dict[str, Path] = {}  # server base url -> the store its live runs write


def _serve(tmp: Path, extra_env: dict[str, str]) -> Iterator[str]:
    """`streamlit run app.py` on a free port with the fixture store (or `extra_env`'s),
    the tiny model allowed and a tiny SST-2; stopped (process group) at teardown."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (make system-deps)")
    pytest.importorskip("playwright.sync_api")
    env = {
        **os.environ,
        "MBP_STORE": str(fixture_store_copy(tmp / "store.duckdb")),
        "MBP_ALLOW_TINY": "1",
        "MBP_DATA_DIR": str(_tiny_sst2(tmp / "data")),
        "MBP_CACHE": str(tmp / "cache"),
        "MBP_JOBS_DIR": str(tmp / "jobs"),
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    if "MBP_MODE" not in extra_env:
        env.pop("MBP_MODE", None)
    app = StreamlitApp(env, tmp / "streamlit.log")
    try:
        base = app.start()
    except ServerDidNotStart as err:
        pytest.fail(str(err))
    STORES[base] = Path(env["MBP_STORE"])
    yield base
    app.stop()
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp / "streamlit.log", SHOTS.parent / f"streamlit-{tmp.name}.log")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    yield from _serve(tmp_path_factory.mktemp("browser"), {})


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1440, "height": 1800})
        # a rerun on a loaded machine (CI beside other jobs) can take longer than Playwright's
        # 30 s default before the element it draws appears: wait for it rather than fail
        tab.set_default_timeout(120_000)
        yield tab
        browser.close()


def chart_text(tab) -> str:
    """The text the page's first chart draws (axis titles, legend; SVG text, so textContent)."""
    return tab.locator(CHART).first.text_content() or ""


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
    assert page.locator(CHART).count() == PAGES[path]
    assert page.locator(CHART_DRAWN).count() == PAGES[path]
    assert page.locator('[data-testid="stSidebar"]').count() == 1  # the router ran (deep link)
    page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)


def test_a_shared_link_reproduces_the_view(server, page):
    page.goto(f"{server}/curves?task=xnli&model=e5-small&lang=de,sw&y=relative")
    settle(page, 1)
    assert_clean(page)
    body = page.inner_text("body")
    assert "de · German" in body and "sw · Swahili" in body
    assert "% of unpruned accuracy" in chart_text(page)
    page.screenshot(path=str(SHOTS / "curves-shared-link.png"), full_page=True)


def test_the_overview_answers_at_its_own_path_too(server, page):
    """`/overview` (the page's name) leads to the Overview at `/`, not "Page not found", and
    keeps the link's selection."""
    page.goto(f"{server}/overview?task=sst2&model=minilm-l6")
    settle(page, PAGES[""])
    assert_clean(page)
    assert page.locator("h1").first.inner_text() == "How prunable are BERT's attention heads?"
    assert "Page not found" not in page.inner_text("body")
    path, _, query = page.url.removeprefix(server).partition("?")
    assert path in ("", "/") and "task=sst2" in query and "model=minilm-l6" in query


def test_curves_against_flops_saved_with_their_pareto_front(server, page):
    page.goto(f"{server}/curves?task=xnli&model=e5-small&lang=en")
    settle(page, 1)
    main = page.locator('[data-testid="stMain"]')  # the sidebar's glossary names them too
    main.get_by_text("FLOPs saved", exact=True).first.click()
    settle(page, 1)
    main.get_by_text("Pareto front", exact=True).first.click()
    settle(page, 1)
    assert_clean(page)
    chart = chart_text(page)
    assert "% of encoder FLOPs per example saved" in chart and "Pareto front" in chart
    assert "x=flops" in page.url and "pareto=1" in page.url
    page.screenshot(path=str(SHOTS / "curves-flops-pareto.png"), full_page=True)


@pytest.fixture(scope="module")
def seeds_server(tmp_path_factory) -> Iterator[str]:
    """The fixture store plus a minilm-l6 SST-2 line fine-tuned with three training seeds."""
    from tests.test_training_seed_choice import add_seed_line

    tmp = tmp_path_factory.mktemp("seeds")
    store = fixture_store_copy(tmp / "seeds.duckdb")
    add_seed_line(ResultsStore(store), "minilm-l6", [0.86, 0.88, 0.90], n=500)
    yield from _serve(tmp, {"MBP_STORE": str(store)})


def test_training_seeds_are_drawn_on_the_curves_chart(seeds_server, page):
    page.goto(f"{seeds_server}/curves?task=sst2&model=minilm-l6&lang=en&train_seeds=1")
    settle(page, 1)
    assert_clean(page)
    assert page.locator(CHART).count() == 1  # on the curves chart, not a second one
    text = chart_text(page)
    assert "training seed 1" in text and "mean of training seeds" in text
    # Streamlit's Vega-Lite (6.5) keeps one key per meaning: the orders' (colour and dash
    # merged) and the seeds'
    titles = page.locator(f"{CHART} .role-legend-title").all_text_contents()
    assert sorted(titles) == ["order", "training seeds"], titles
    page.screenshot(path=str(SHOTS / "curves-training-seeds.png"), full_page=True)


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
    _select(page, "Task", "sst2", main=True)  # the page starts from the sidebar's task
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
    assert status == "done", page.inner_text("body")[-3000:]
    settle(page)  # the page re-runs once the job ends: read and click what it shows after that
    page.get_by_text("9 / 9 cells").first.wait_for()  # importance 3 + random 2 seeds x 3
    page.screenshot(path=str(SHOTS / "live-finished.png"), full_page=True)
    assert "job=" in page.url
    page.get_by_text("See its curves").first.click()
    settle(page, 1)
    assert_clean(page)
    chart = chart_text(page)
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
    _select(page, "Task", "sst2", main=True)  # the page starts from the sidebar's task
    settle(page)
    _fill(page, "stTextInput", "Grid", "0,0.5")
    _fill(page, "stTextInput", "Random seeds", "0")
    _fill(page, "stNumberInput", "Examples per language", "32")
    _fill(page, "stNumberInput", "Fine-tuning examples", "48")
    page.screenshot(path=str(SHOTS / "live-retrain-form.png"), full_page=True)
    protocol = page.locator('[data-testid="stButtonGroup"]').filter(has_text="Protocol")
    protocol.locator("button").filter(has_text="retrain").first.click()
    settle(page)
    assert_clean(page)
    page.get_by_role("button", name="Launch").click()
    status = wait_for_job(page)
    assert status == "done", page.inner_text("body")[-3000:]
    settle(page)  # the page re-runs once the job ends: read and follow what it shows after that
    page.get_by_text("4 / 4 cells").first.wait_for()  # importance 2 + random 1 seed x 2
    page.screenshot(path=str(SHOTS / "live-retrain-finished.png"), full_page=True)
    href = (
        page.get_by_text("See its curves").first.locator("xpath=ancestor::a").get_attribute("href")
    )
    assert href and "protocol=retrain" in href
    page.goto(href if href.startswith("http") else f"{server}/{href.lstrip('/')}")
    settle(page, 1, timeout=180)
    page.screenshot(path=str(SHOTS / "live-retrain-curves.png"), full_page=True)
    assert_clean(page)
    assert "protocol=retrain" in page.url
    chart = chart_text(page)
    assert "tiny-bert" in chart and "retrain" in chart
    body = page.inner_text("body")
    assert "From 2 stored run(s), 2 picked: 32 examples · seeds 0 · retrain" in body, body
    page.screenshot(path=str(SHOTS / "live-retrain-curves.png"), full_page=True)


def _launch_tiny(tab, base: str, grid: str, seeds: str, examples: str, train: str) -> str:
    """Fill the Live-run form for the tiny model, launch, and return the job id."""
    tab.goto(f"{base}/live")
    settle(tab)
    _select(tab, "Model", "tiny-bert")
    _select(tab, "Task", "sst2", main=True)  # the page starts from the sidebar's task
    settle(tab)
    _fill(tab, "stTextInput", "Grid", grid)
    _fill(tab, "stTextInput", "Random seeds", seeds)
    _fill(tab, "stNumberInput", "Examples per language", examples)
    _fill(tab, "stNumberInput", "Fine-tuning examples", train)
    settle(tab)
    assert_clean(tab)
    tab.get_by_role("button", name="Launch").click()
    tab.wait_for_url(re.compile(r"job="), timeout=60_000)
    return re.search(r"job=([\w-]+)", tab.url).group(1)


def test_a_cancelled_live_run_is_cancelled_in_mbp_runs(server, page):
    job_id = _launch_tiny(page, server, "0:1:0.02", "0 1 2 3 4 5 6 7", "48", "64")
    store = STORES[server]
    deadline = time.time() + 300
    running = None
    while time.time() < deadline and running is None:  # cancel once its sweep stores cells
        time.sleep(0.5)
        with contextlib.suppress(Exception):  # the run's process holds the file a moment
            runs = ResultsStore(store, read_only=True).job_runs(job_id)
            live = runs[(runs["kind"] == "sweep") & (runs["status"] == "running")
                        & (runs["cells_done"] > 0)]  # fmt: skip
            running = live["run_id"].iloc[0] if len(live) else None
    assert running, "the live run never stored a cell"
    page.get_by_role("button", name="Cancel").first.click()
    status = wait_for_job(page)
    assert status == "cancelled", page.inner_text("body")[-2000:]
    settle(page)
    listing = subprocess.run(
        [sys.executable, "-m", "mbp", "runs", "--store", str(STORES[server])],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    # the run that was computing when Cancel was clicked: cancelled; none left "running"
    rows = {line.split()[0]: line.split() for line in listing.splitlines() if line.strip()}
    assert rows[running][8] == "cancelled", listing
    assert not any(row[8] == "running" for row in rows.values()), listing
    page.screenshot(path=str(SHOTS / "live-cancelled.png"), full_page=True)
    assert job_id in page.url


def test_hostile_links_show_a_notice_not_a_traceback(server, page):
    junk = ",".join(["en"] * 3000)
    page.goto(f"{server}/curves?task=%3Cscript%3E&model=/etc/passwd&lang={junk},xx&y=foo")
    settle(page, 1)
    assert_clean(page)
    body = page.inner_text("body")
    assert "task='<script>' not available here" in body
    assert "repeated lang= value(s) dropped" in body and "y='foo' not available here" in body
    page.screenshot(path=str(SHOTS / "curves-hostile-link.png"), full_page=True)


def test_head_importance_says_which_runs_it_shows(server, page):
    page.goto(f"{server}/heads?task=xnli&model=e5-small")
    settle(page, 3)
    assert_clean(page)
    body = page.inner_text("body")
    assert re.search(r"From 2 stored run\(s\): \d+ examples · seeds 0 · posthoc", body), body
    assert "Runs shown (2 of 2 matching)" in body


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[str]:
    """Demo mode with capped live runs: a read-only copy of precomputed/, the tiny model."""
    yield from _serve(
        tmp_path_factory.mktemp("demo"), {"MBP_MODE": "demo", "MBP_DEMO_LIVE_RUNS": "capped"}
    )


def test_a_demo_visitor_cannot_see_or_cancel_another_visitors_run(demo_server, page):
    browser = page.context.browser  # two new contexts: two visitors, two Streamlit sessions
    contexts = [browser.new_context(viewport={"width": 1440, "height": 1800}) for _ in range(2)]
    first, second = (context.new_page() for context in contexts)
    try:
        job_id = _launch_tiny(first, demo_server, "0:1:0.2", "0 1 2", "48", "64")
        settle(first)
        assert job_id in first.inner_text("body")
        assert first.get_by_role("button", name="Cancel").count() or wait_for_job(first)

        second.goto(f"{demo_server}/live")  # another visitor: no job list, no commands, paths
        settle(second)
        text = second.inner_text("body")
        assert (
            "Traceback" not in text and second.locator('[data-testid="stException"]').count() == 0
        )
        # the demo's one-at-a-time cap holds across visitors, without naming the other's run
        assert "already running; the demo allows 1 at a time: wait for it to finish" in text
        assert job_id not in text and "Recent" not in text and "--store" not in text
        second.goto(f"{demo_server}/live?job={job_id}")  # even with the first one's link
        second.get_by_text("is not available in the demo").first.wait_for(timeout=120_000)
        settle(second)
        assert second.get_by_role("button", name="Cancel").count() == 0
        second.screenshot(path=str(SHOTS / "demo-second-visitor.png"), full_page=True)

        assert wait_for_job(first) in ("done", "running", "cancelled", "timed out")
        assert job_id in first.inner_text("body")  # the owner still sees it
        assert "--store" not in first.inner_text("body")  # and no command or server path
    finally:
        for context in contexts:
            context.close()
