"""What a Streamlit page costs in this CPU's browser before mbp adds anything, and what each
chart library adds: the profile behind figure 9's misses.

    python -m bench.browser_floor --reps 3

Serves bench/browser_floor_app.py (no store, no mbp code) and times, in a new Chromium context
per visit as bench/browser_timing.py does, navigation start to the last change drawn in the
main area for: a text-only page, one table, one and three Plotly charts, one and three Altair
(Vega-Lite) charts, all over the same 33 points. "added" is the median minus the text-only
page's: the one-time price of the library's first chart, then the price of more charts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.browser_timing import FIRST_TARGET_S, PROBE_JS, READ_JS, VIEWPORT
from bench.common import ROOT, load_average
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, StreamlitApp

APP = ROOT / "bench" / "browser_floor_app.py"
# variant -> (query, CSS selector of one drawn element, how many must be drawn)
VARIANTS: dict[str, tuple[str, str, int]] = {
    "text only": ("k=bare", '[data-testid="stMarkdown"]', 1),
    "1 table": ("k=table", '[data-testid="stDataFrame"] canvas', 1),
    "1 Plotly chart": ("k=plotly&n=1", ".js-plotly-plot .main-svg", 1),
    "3 Plotly charts": ("k=plotly&n=3", ".js-plotly-plot .main-svg", 3),
    "1 Altair chart": ("k=altair&n=1", ".vega-embed svg", 1),
    "3 Altair charts": ("k=altair&n=3", ".vega-embed svg", 3),
}
QUIET_S = 1.5  # no DOM change for this long = drawn


def _visit(browser, url: str, selector: str, count: int) -> float:
    """Seconds from navigation start to the last change in the main area, in a new context."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PROBE_JS)
    tab = context.new_page()
    try:
        tab.goto(url)
        tab.wait_for_function(
            "([s, n]) => document.querySelectorAll(s).length >= n",
            arg=[selector, count],
            timeout=120_000,
        )
        last = None
        while True:  # wait for QUIET_S without a change, on the page's clock
            time.sleep(0.1)
            probe = tab.evaluate(READ_JS, 0)
            if probe["mut"] == last and probe["now"] - probe["mut"] >= QUIET_S * 1000:
                return probe["mut"] / 1000
            last = probe["mut"]
    finally:
        context.close()


def run(reps: int = 3) -> list[dict]:
    """Median seconds to drawn per variant, and what each adds over the text-only page."""
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="mbp-browser-floor-"))
    env = dict(os.environ) | {"PYTHONUNBUFFERED": "1"}
    rows = []
    with StreamlitApp(env, folder / "streamlit.log", script=APP) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for query, selector, count in VARIANTS.values():  # warm the server once per variant
            _visit(browser, f"{base}/?{query}", selector, count)
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(reps):  # interleaved: each rep visits every variant once
            for name, (query, selector, count) in VARIANTS.items():
                times[name].append(_visit(browser, f"{base}/?{query}", selector, count))
        browser.close()
    bare = statistics.median(times["text only"])
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            {
                "variant": name,
                "median_s": round(median, 2),
                "added_s": round(median - bare, 2),
                "visits_s": [round(v, 2) for v in values],
            }
        )
    return rows


def markdown(rows: list[dict], load_at_start: str) -> list[str]:
    from bench.report import markdown_table

    table = markdown_table(
        ("page", "drawn s (median)", "added over text only", "visits"),
        [(r["variant"], f"{r['median_s']:.2f}", f"{r['added_s']:+.2f}",
          ", ".join(f"{v:.2f}" for v in r["visits_s"])) for r in rows],
    )  # fmt: skip
    return [
        f"The floor (`python -m bench.browser_floor`, bench/browser_floor_app.py: no store, no mbp "
        f"code). Load average at the start {load_at_start}, at the end {load_average()}.",
        table,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved visits per variant")
    args = parser.parse_args(argv)
    load = load_average()
    print(f"load average at start: {load}")
    rows = run(args.reps)
    for r in rows:
        print(f"{r['variant']:<16} {r['median_s']:>5.2f} s  added {r['added_s']:+.2f} s  "
              f"visits {r['visits_s']}")  # fmt: skip
    bare = rows[0]["median_s"]
    verdict = "below" if bare < FIRST_TARGET_S else "ABOVE"
    print(f"text-only page {bare:.2f} s: {verdict} the {FIRST_TARGET_S:g} s first-charts target")
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
