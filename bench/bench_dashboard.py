"""Dashboard speed on a big store: first render and a widget change per page, vs the targets.

    python bench/bench_dashboard.py                 # builds a 1,000,000-curve-row store, times pages
    python bench/bench_dashboard.py --rows 200000 --reps 3 --store /tmp/big.duckdb

Builds the store fast (ResultsStore creates the schema, then one bulk INSERT per table from a
generated DataFrame through DuckDB), then drives every page with Streamlit's AppTest: the first
render with an empty `st.cache_data` (what a new visitor after a store change waits for) and one
widget change after it (the cache warm except for the changed query). Prints the median of
`--reps` runs per page. `run()` returns the rows for a bench runner.

Targets: first render < 2 s, widget change < 0.5 s. Import time is excluded (a server imports
once), as is the store build.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
FIRST_RENDER_TARGET_S = 2.0
WIDGET_CHANGE_TARGET_S = 0.5
XNLI = ("en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur")
GLUE = ("sst2", "mrpc", "qnli", "rte")
GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
SHAPES = {"e5-small": (12, 12), "minilm-l6": (6, 12)}
DETERMINISTIC = ("importance", "reverse", "iterative")


def _combos() -> list[tuple[str, str, str]]:
    combos = [("e5-small", "xnli", lang) for lang in XNLI]
    combos += [(model, task, "en") for model in SHAPES for task in GLUE]
    return combos


def _metrics(task: str) -> tuple[str, ...]:
    return ("f1", "accuracy") if task == "mrpc" else ("accuracy",)


def seeds_for(rows: int) -> int:
    """Random seeds per (model, task, lang) so that the curve_points table has >= `rows` rows."""
    per_seed = sum(len(GRID) * len(_metrics(task)) for _, task, _ in _combos())
    return max(3, int(np.ceil(rows / per_seed)) - len(DETERMINISTIC))


def build_store(path: Path, rows: int = 1_000_000) -> dict[str, int]:
    """A store shaped like a big precompute: 2 models, 5 tasks, 15 XNLI languages, 4 orders,
    a 21-point grid, thousands of random seeds. Values are synthetic (benchmark only)."""
    import duckdb

    from mbp.store import ResultsStore

    store = ResultsStore(path)
    with store.write_transaction("create the benchmark store"):
        pass  # creates the file and the schema
    rng = np.random.default_rng(0)
    n_seeds = seeds_for(rows)
    now = pd.Timestamp("2025-01-01 12:00:00")
    run_rows, curve_parts, cell_parts, head_parts, layer_parts = [], [], [], [], []
    for model, task, lang in _combos():
        layers, heads = SHAPES[model]
        base = 0.55 + 0.35 * rng.random()
        chance = 1 / 3 if task == "xnli" else 0.5
        for order in (*DETERMINISTIC, "random"):
            run_id = f"b-{model}-{task}-{lang}-{order}"
            seeds = np.arange(n_seeds) if order == "random" else np.array([0])
            cells = len(seeds) * len(GRID)
            run_rows.append(_run(run_id, "sweep", model, task, lang, order, cells, now))
            seed_col = np.repeat(seeds, len(GRID))
            frac_col = np.tile(GRID, len(seeds))
            power = {"importance": 3.0, "iterative": 3.3, "reverse": 0.6, "random": 1.6}[order]
            for metric in _metrics(task):
                value = chance + (base - chance) * (1 - frac_col**power)
                value = value + rng.normal(0, 0.01, size=value.shape) * (frac_col > 0)
                part = pd.DataFrame(
                    {
                        "run_id": run_id,
                        "order_name": order,
                        "seed": seed_col.astype("int32"),
                        "fraction": frac_col,
                        "heads_pruned": np.round(frac_col * layers * heads).astype("int32"),
                        "pruned_heads": None,
                        "metric": metric,
                        "value": value,
                        "n_examples": 2000,
                    }
                )
                curve_parts.append(part)
            cell_parts.append(
                pd.DataFrame(
                    {
                        "run_id": run_id,
                        "cell_id": [
                            f"{order}/{s}/{f:g}" for s, f in zip(seed_col, frac_col, strict=True)
                        ],
                        "finished_at": now,
                        "elapsed_s": 0.8,
                    }
                )
            )
        imp_id = f"b-{model}-{task}-{lang}-importance-scores"
        run_rows.append(_run(imp_id, "importance", model, task, lang, "gradient", 1, now))
        grid_l, grid_h = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
        head_parts.append(
            pd.DataFrame(
                {
                    "run_id": imp_id,
                    "layer": grid_l.ravel(),
                    "head": grid_h.ravel(),
                    "score": rng.gamma(2.0, 1.0, size=layers * heads),
                    "estimator": "gradient",
                    "normalization": "none",
                    "n_examples": 256,
                }
            )
        )
        lay_id = f"b-{model}-{task}-{lang}-layers"
        targets = [f"layer:{i}" for i in range(layers)] + [
            "group:bottom",
            "group:middle",
            "group:top",
        ]
        run_rows.append(
            _run(lay_id, "layers", model, task, lang, "remove-layer", len(targets), now)
        )
        drops = np.abs(rng.normal(0.02, 0.015, size=len(targets)))
        layer_parts.append(
            pd.DataFrame(
                {
                    "run_id": lay_id,
                    "target": targets,
                    "layers": "[]",
                    "metric": "accuracy",
                    "base_value": base,
                    "value": base - drops,
                    "drop": drops,
                }
            )
        )
    frames = {
        "runs": pd.DataFrame(run_rows),
        "cells": pd.concat(cell_parts, ignore_index=True),
        "curve_points": pd.concat(curve_parts, ignore_index=True),
        "head_importance": pd.concat(head_parts, ignore_index=True),
        "layer_importance": pd.concat(layer_parts, ignore_index=True),
    }
    con = duckdb.connect(str(path))
    try:
        con.begin()
        for table, frame in frames.items():
            con.register("bulk", frame)
            columns = ", ".join(f'"{c}"' for c in frame.columns)
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM bulk")
            con.unregister("bulk")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'write_count'")
        con.commit()
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return {table: len(frame) for table, frame in frames.items()}


def _run(run_id, kind, model, task, lang, method, cells, now) -> dict:
    return {
        "run_id": run_id, "kind": kind, "spec_json": json.dumps({"bench": True}), "model": model,
        "model_checksum": "bench", "task": task, "lang": lang, "split": "dev", "method": method,
        "seeds": "[0]", "n_examples": 2000, "status": "done", "cells_total": cells,
        "cells_done": cells, "device": "cuda", "versions_json": "{}", "code_commit": "bench",
        "command": f"mbp bench {kind}", "created_at": now, "updated_at": now, "elapsed_s": 1.0,
        "error": None,
    }  # fmt: skip


# ----------------------------------------------------------------------------- timing


def _change_overview(at):
    at.sidebar.multiselect(key="sel_langs").set_value(["en", "de"]).run()


def _change_curves(at):
    at.sidebar.multiselect(key="sel_langs").set_value(["en", "sw", "tr"]).run()


def _change_layers(at):
    at.selectbox(key="ly_sort").set_value("pre-training size").run()


def _change_heads(at):
    at.selectbox(key="hd_lang").set_value("sw").run()


def _change_claims(at):
    at.selectbox(key="cl_mbert").set_value("minilm-l6").run()


def _change_live(at):
    at.number_input(key="lr_examples").set_value(300).run()


def _change_runs(at):
    at.multiselect(key="rd_kind").set_value(["layers"]).run()


PAGES: dict[str, tuple[str, Callable]] = {
    "Overview": ("overview", _change_overview),
    "Pruning curves": ("curves", _change_curves),
    "Layer importance": ("layers", _change_layers),
    "Head importance": ("heads", _change_heads),
    "Paper claims": ("claims", _change_claims),
    "Live run": ("live_run", _change_live),
    "Runs & data": ("runs_data", _change_runs),
}


def _time_page(page: str, change: Callable) -> tuple[float, float, list[str]]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()  # the router's first run (sidebar state); not timed
    st.cache_data.clear()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    change(at)
    changed = time.perf_counter() - start
    problems = [e.value for e in at.exception] + [e.value for e in at.error]
    return first, changed, problems


def run(
    rows: int = 1_000_000, reps: int = 3, store: str | os.PathLike[str] | None = None
) -> list[dict]:
    """Build (or reuse) a `rows`-row store and time every page; one dict per page."""
    folder = Path(tempfile.mkdtemp(prefix="mbp-bench-"))
    path = Path(store) if store else folder / "bench.duckdb"
    built = {}
    if not path.exists():
        start = time.perf_counter()
        built = build_store(path, rows)
        built["build_s"] = round(time.perf_counter() - start, 2)
    os.environ["MBP_STORE"] = str(path)
    os.environ["MBP_JOBS_DIR"] = str(folder / "jobs")
    os.environ.pop("MBP_MODE", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    _time_page("overview", lambda at: None)  # warm imports and the store connection once
    results = []
    for title, (page, change) in PAGES.items():
        firsts, changes, problems = [], [], []
        for _ in range(reps):
            first, changed, issues = _time_page(page, change)
            firsts.append(first)
            changes.append(changed)
            problems += issues
        first_s, change_s = statistics.median(firsts), statistics.median(changes)
        results.append(
            {
                "page": title,
                "first_render_s": round(first_s, 3),
                "first_render_target_s": FIRST_RENDER_TARGET_S,
                "widget_change_s": round(change_s, 3),
                "widget_change_target_s": WIDGET_CHANGE_TARGET_S,
                "ok": first_s < FIRST_RENDER_TARGET_S
                and change_s < WIDGET_CHANGE_TARGET_S
                and not problems,
                "problems": sorted(set(problems)),
                "curve_rows": built.get("curve_points"),
                "store": str(path),
            }
        )
    if built:
        results[0]["build"] = built
    return results


def print_table(results: list[dict]) -> None:
    print(
        f"{'page':<18} {'first render':>13} {'target':>7} {'widget change':>14} {'target':>7}  ok"
    )
    for r in results:
        print(
            f"{r['page']:<18} {r['first_render_s']:>12.3f}s {r['first_render_target_s']:>6.1f}s "
            f"{r['widget_change_s']:>13.3f}s {r['widget_change_target_s']:>6.1f}s  "
            f"{'yes' if r['ok'] else 'NO'}{'  ' + '; '.join(r['problems']) if r['problems'] else ''}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="curve_points rows")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per page (median)")
    parser.add_argument("--store", help="reuse (or build at) this store path")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    results = run(args.rows, args.reps, args.store)
    if results and "build" in results[0]:
        print(f"store: {results[0]['store']} {results[0]['build']}")
    print(json.dumps(results, indent=2) if args.json else "", end="")
    print_table(results)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
