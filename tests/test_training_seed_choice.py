"""Training seeds in the charts, the report and the plan table (issue 21, item 3): the charts'
choice rule keeps the default seed's run when runs of other seeds land (a picked run still
wins), Pruning curves say how many seeds a line has and overlay them on request, the report's
"Training seeds" section, and the plan table's outcomes column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mbp.analysis import tables
from mbp.analysis.training_seeds import seed_captions
from mbp.spec import DataSpec, FinetuneSpec, RunSpec
from mbp.store import ResultsStore
from tests.seed_lines import write_sweep_line


def add_seed_line(store: ResultsStore, model: str, accuracies: list[float], *, n: int = 300,
                  grid=(0.0, 0.5, 1.0), lang: str = "en") -> list[str]:  # fmt: skip
    """One SST-2 importance-order line of `model` fine-tuned with seeds 0..len(accuracies)-1,
    written in seed order (seed 0 oldest): seed s's unpruned model right with probability
    accuracies[s], each pruned fraction f breaking a further f/10 of the examples. One cell per
    fraction, with per-example outcomes. Returns the run ids by seed."""
    rng = np.random.default_rng(len(accuracies))
    labels = rng.integers(0, 2, n)
    run_ids = []
    for seed, accuracy in enumerate(accuracies):
        ckpt = FinetuneSpec(model, f"sha-{model}", "sst2", 100, seed=seed)
        store.record_checkpoint(ckpt.key, model=model, task="sst2", spec_json=ckpt.to_json(),
                                path="/nowhere", metric="accuracy", dev_value=accuracy,
                                n_train=100)  # fmt: skip
        spec = RunSpec("sweep", model, f"sha-{model}", ckpt.key, DataSpec("sst2", lang, "dev", n),
                       "importance", grid=tuple(grid), importance=f"imp{seed}")  # fmt: skip
        unpruned = np.where(rng.random(n) < accuracy, labels, 1 - labels)
        cells = []
        for fraction in grid:
            preds = unpruned.copy()
            broken = rng.choice(np.flatnonzero(preds == labels), size=int(n * fraction / 10),
                                replace=False)  # fmt: skip
            preds[broken] = 1 - preds[broken]
            cells.append((fraction, preds))
        write_sweep_line(store, spec, model=model, checksum=f"sha-{model}", lang=lang, n=n,
                         cells=cells, labels=labels)  # fmt: skip
        store.finish_run(spec.key, "done", elapsed_s=1.0)
        run_ids.append(spec.key)
    return run_ids


@pytest.fixture(scope="module")
def seeds_store(tmp_path_factory) -> tuple[ResultsStore, list[str]]:
    store = ResultsStore(tmp_path_factory.mktemp("seeds") / "store.duckdb")
    return store, add_seed_line(store, "m", [0.70, 0.80, 0.90])


def test_a_newer_run_of_another_training_seed_does_not_replace_the_default_seeds(seeds_store):
    store, (seed0, seed1, seed2) = seeds_store
    runs = tables.chart_runs(store, kind="sweep", task="sst2").set_index("run_id")
    assert runs.loc[[seed0, seed1, seed2], "train_seed"].tolist() == [0, 1, 2]
    assert runs["shown"].sum() == 1 and runs.loc[seed0, "shown"]  # seeds 1-2 are newer
    values = store.curve_points(run_ids=[seed0, seed1], metric="accuracy")
    value = values.set_index(["run_id", "fraction"])["value"]
    curve = tables.curve_summary(store, task="sst2").set_index("fraction")
    assert curve.loc[0.5, "mean"] == value[seed0, 0.5] != value[seed1, 0.5]
    # pinning the seed-1 run shows it, in the table and in the curve
    pinned = tables.chart_runs(store, kind="sweep", task="sst2", pinned=[seed1])
    assert pinned.loc[pinned["shown"], "run_id"].tolist() == [seed1]
    curve = tables.curve_summary(store, task="sst2", pinned=[seed1]).set_index("fraction")
    assert curve.loc[0.5, "mean"] == value[seed1, 0.5]


def test_a_shown_line_lists_its_training_seeds_with_their_dev_scores(seeds_store):
    store, run_ids = seeds_store
    lines = tables.training_seed_lines(store, [run_ids[0]])
    assert lines["seed_run_id"].tolist() == run_ids and lines["training_seed"].tolist() == [0, 1, 2]
    assert seed_captions(lines) == [
        "m · en · importance: 3 training seeds: dev 0.80 ± 0.1 (chart: seed 0)"
    ]
    picked = seed_captions(tables.training_seed_lines(store, [run_ids[1]]))
    assert len(picked) == 1 and picked[0].endswith("(chart: seed 1)")
    assert tables.training_seed_lines(store, []).empty
    curves = tables.training_seed_curves(store, run_ids, metric="accuracy")
    assert len(curves) == 9 and sorted(curves["training_seed"].unique()) == [0, 1, 2]


def test_a_line_of_one_training_seed_has_no_seed_rows(tmp_path):
    store = ResultsStore(tmp_path / "one.duckdb")
    (only,) = add_seed_line(store, "m", [0.8])
    assert tables.training_seed_lines(store, [only]).empty
    assert tables.training_seed_intervals(store, [only], metric="accuracy").empty


def _seed_overlay(seeds_store, relative: bool = False):
    """(the curves summary, the overlay chart's spec, the plain chart's spec) of the line."""
    from mbp.analysis.training_seeds import relative_seed_intervals
    from mbp.figures import pruning_curves
    from mbp.figures.seeds import curves_with_training_seeds

    store, run_ids = seeds_store
    summary = tables.curve_summary(store, task="sst2")
    curves = tables.training_seed_curves(store, run_ids, metric="accuracy")
    intervals = tables.training_seed_intervals(store, run_ids, metric="accuracy")
    if relative:  # the analysis hands the relative chart its band in % already
        intervals = relative_seed_intervals(intervals)
    kwargs = dict(metric="accuracy", relative=relative, chance=0.5, title="t")
    overlay = curves_with_training_seeds(summary, curves, intervals, **kwargs).to_dict()
    return summary, overlay, pruning_curves(summary, **kwargs).to_dict()


def test_training_seeds_are_drawn_on_the_curves_chart_and_off_leaves_it_as_it_was(seeds_store):
    from mbp.figures import curves_with_training_seeds, pruning_curves
    from mbp.figures.palette import order_color
    from mbp.figures.seeds import CURVE_COLUMNS
    from tests.chart_spec import layers, rows

    summary, spec, plain = _seed_overlay(seeds_store)
    # one layer chart: the seed layers are siblings of the curve, so they share its x and y
    # scales (no resolve), and carry its x encoding and y title
    names = [u.get("name") for u in spec["layer"]]
    assert "resolve" not in spec
    assert names.index("seed-curve") < names.index("curve")  # drawn under the curves
    (curve,) = layers(spec, "curve")
    for name in ("seed-interval", "seed-curve", "seed-mean", "seed-points", "seed-mean-points"):
        for unit in layers(spec, name):
            assert unit["encoding"]["x"] == curve["encoding"]["x"], name
            assert unit["encoding"]["y"]["title"] == curve["encoding"]["y"]["title"], name
            assert unit["encoding"]["y"]["scale"] == curve["encoding"]["y"]["scale"], name
    # each seed's values in the order's colour, with a key saying what the lines are
    (seed_curve,) = layers(spec, "seed-curve")
    drawn = rows(spec, seed_curve)
    assert {r["color"] for r in drawn} == {order_color("importance")}
    assert sorted({r["training_seed"] for r in drawn}) == [0, 1, 2] and len(drawn) == 9
    values = seeds_store[0].curve_points(run_ids=[seeds_store[1][1]], metric="accuracy")
    seed1 = {r["x"]: r["y"] for r in drawn if r["training_seed"] == 1}
    assert seed1 == {100 * f: v for f, v in zip(values["fraction"], values["value"], strict=True)}
    key = seed_curve["encoding"]["opacity"]
    assert key["legend"]["title"] == "training seeds"
    assert key["scale"]["domain"] == ["training seed 0", "training seed 1", "training seed 2",
                                      "mean of training seeds",
                                      "95 % interval (training seeds, then examples)"]  # fmt: skip
    assert seed_curve["encoding"]["stroke"]["scale"] is None  # never on the colour key
    (points,) = layers(spec, "seed-points")
    titles = [t.get("title") for t in points["encoding"]["tooltip"]]
    assert titles == ["series", "training seed", "% of heads pruned", "accuracy"]
    # the band is the hierarchical interval, around the mean of the seeds
    (band,) = layers(spec, "seed-interval")
    (mean,) = layers(spec, "seed-mean")
    means = {r["x"]: r["y"] for r in rows(spec, mean)}
    for row in rows(spec, band):
        assert row["low"] < means[row["x"]] < row["high"]
    # toggled off: no seed frames, or empty ones, give today's chart byte for byte
    empty = curves_with_training_seeds(summary, pd.DataFrame(columns=list(CURVE_COLUMNS)),
                                       pd.DataFrame(), metric="accuracy", chance=0.5, title="t")  # fmt: skip
    assert json.dumps(empty.to_dict()) == json.dumps(plain)
    kept = [u for u in spec["layer"] if not u.get("name", "").startswith("seed-")]
    assert [u.get("name") for u in kept] == [u.get("name") for u in plain["layer"]]
    assert json.dumps(kept) == json.dumps(plain["layer"])
    assert pruning_curves(summary, metric="accuracy").to_dict() != spec
    flops = summary.assign(flops_saved=summary["fraction"] / 2)  # points with FLOPs figures
    with pytest.raises(ValueError, match="x='heads'"):
        curves_with_training_seeds(flops, pd.DataFrame(columns=list(CURVE_COLUMNS)),
                                   pd.DataFrame(), metric="accuracy", x="flops")  # fmt: skip


def test_the_seed_layers_need_their_frames_and_draw_no_band_without_intervals(seeds_store):
    from mbp.analysis.training_seeds import relative_seed_intervals
    from mbp.figures.seeds import curves_with_training_seeds
    from tests.chart_spec import units

    store, run_ids = seeds_store
    summary = tables.curve_summary(store, task="sst2")
    curves = tables.training_seed_curves(store, run_ids, metric="accuracy")
    intervals = tables.training_seed_intervals(store, run_ids, metric="accuracy")
    without = curves_with_training_seeds(summary, curves, intervals.iloc[0:0], metric="accuracy")
    names = {u.get("name") for u in units(without.to_dict())}
    assert {"seed-curve", "seed-mean"} <= names and "seed-interval" not in names
    with pytest.raises(ValueError, match="training_seed"):
        curves_with_training_seeds(summary, curves.drop(columns="training_seed"), intervals,
                                   metric="accuracy")  # fmt: skip
    # a band in metric units on a relative chart (or in % on an absolute one) is refused
    with pytest.raises(ValueError, match="relative_seed_intervals"):
        curves_with_training_seeds(summary, curves, intervals, metric="accuracy", relative=True)
    with pytest.raises(ValueError, match="not in %"):
        curves_with_training_seeds(summary, curves, relative_seed_intervals(intervals),
                                   metric="accuracy")  # fmt: skip


def test_the_training_seed_key_draws_seeds_mean_and_band_unlike_each_other(seeds_store):
    """Rendered (vl-convert): each entry's symbol differs in shape, fill or width, not only in
    opacity; the seeds' entries alike; the mean's line and entry opaquer than the seeds'."""
    import re

    import vl_convert as vlc

    _, spec, _ = _seed_overlay(seeds_store)
    svg = vlc.vegalite_to_svg(spec)
    start = svg.index("Symbol legend titled 'training seeds'")
    legend = svg[start : svg.index('aria-roledescription="legend"', start)]
    symbols = re.findall(r'role-legend-symbol"[^>]*><path ([^>]*)/>', legend)
    labels = re.findall(r'role-legend-label"[^>]*><text[^>]*>([^<]*)<', legend)
    assert labels == ["training seed 0", "training seed 1", "training seed 2",
                      "mean of training seeds",
                      "95 % interval (training seeds, then examples)"]  # fmt: skip

    def look(path: str) -> tuple:
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', path))
        return tuple(attrs.get(a) for a in ("d", "fill", "stroke-width"))

    seed, *others, mean, band = [look(p) for p in symbols]
    assert all(o == seed for o in others)
    assert len({seed, mean, band}) == 3
    assert mean[1] in (None, "transparent") and band[1] not in (None, "transparent")  # ring, fill
    # and the opacity scale gives each entry its own (the lines share it): the mean the opaquest
    opacity = [float(re.search(r'opacity="([\d.]+)"', p).group(1)) for p in symbols]
    assert opacity[3] > opacity[0] == opacity[1] == opacity[2] and opacity[3] > opacity[4]


def test_relative_training_seed_lines_start_at_their_own_unpruned_score(seeds_store):
    from tests.chart_spec import layers, rows

    _, spec, _ = _seed_overlay(seeds_store, relative=True)
    seeds = rows(spec, layers(spec, "seed-curve")[0])
    assert {r["y"] for r in seeds if r["x"] == 0} == {100.0}
    band = [r for r in rows(spec, layers(spec, "seed-interval")[0]) if r["x"] > 0]
    mean = {r["x"]: r["y"] for r in rows(spec, layers(spec, "seed-mean")[0])}
    assert band and all(r["low"] < mean[r["x"]] < r["high"] < 100 for r in band)


def test_the_report_section_gives_each_fraction_a_relative_drop_over_seeds(tmp_path):
    from mbp.analysis.report import training_seed_section

    store = ResultsStore(tmp_path / "two.duckdb")
    add_seed_line(store, "m", [0.75, 0.85], n=400)
    text = "\n".join(training_seed_section(store))
    assert text.startswith("## Training seeds") and "One training seed so far" not in text
    assert "| m | sst2 | 100 x 3 epochs, lr 2e-05, batch 32 | 2 | 0.8000 | 0.0707 |" in text
    rows = [line for line in text.splitlines() if line.startswith("| m | sst2 | en |")]
    assert len(rows) == 2  # the two pruned fractions of the one line
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    drop, low, high = (float(c) for c in cells[-3:])
    assert cells[-5:-3] == ["0.5", "2"] and low < drop < high  # 2 training seeds
    assert drop == pytest.approx(5.0 / 0.8, abs=1.5)  # 5 % of examples broken, of ~0.8

    one = ResultsStore(tmp_path / "one.duckdb")
    add_seed_line(one, "m", [0.8])
    assert "One training seed so far" in "\n".join(training_seed_section(one))


def test_plan_progress_counts_the_runs_with_outcomes(tmp_path):
    store = ResultsStore(tmp_path / "plan.duckdb")
    progress = tables.plan_progress(store)
    assert "outcomes" in progress.columns
    assert set(progress["outcomes"]) <= {"-"} | {f"0/{n}" for n in range(1, 40)}


def test_curves_page_names_the_seeds_and_overlays_them_on_request(monkeypatch, tmp_path):
    from tests.fixtures.store_fixture import fixture_store_copy
    from tests.test_app import open_page, vega_spec

    path = fixture_store_copy(tmp_path / "store.duckdb")
    add_seed_line(ResultsStore(path), "minilm-l6", [0.86, 0.88, 0.90], n=500)
    monkeypatch.setenv("MBP_STORE", str(path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    query = {"task": "sst2", "model": "minilm-l6", "lang": "en"}
    at = open_page("curves", query)
    captions = [c.value for c in at.caption]
    assert any("3 training seeds: dev 0.88 ± 0.02" in c for c in captions), captions
    assert [t.value for t in at.toggle if t.key == "cv_train_seeds"] == [False]
    charts = len(at.get("vega_lite_chart"))
    at.toggle(key="cv_train_seeds").set_value(True).run()
    assert at.query_params["train_seeds"] == "1"
    from tests.chart_spec import units

    # drawn on the curves chart itself, not as a chart of their own
    drawn = [vega_spec(c) for c in at.get("vega_lite_chart")]
    assert len(drawn) == charts
    overlaid = [d for d in drawn if "seed-curve" in {u.get("name") for u in units(d)}]
    assert len(overlaid) == 1
    names = {u.get("name") for u in units(overlaid[0])}
    assert {"curve", "points", "seed-curve", "seed-mean", "seed-interval"} <= names
    # from a link; on another x-axis the page says why it draws no seeds
    linked = open_page("curves", {**query, "train_seeds": "1"})
    again = [vega_spec(c) for c in linked.get("vega_lite_chart")]
    assert [[u.get("name") for u in units(d)] for d in again] == [
        [u.get("name") for u in units(d)] for d in drawn
    ]
    # relative: the page hands the chart the band in % of the seed-mean unpruned score
    relative = open_page("curves", {**query, "train_seeds": "1", "y": "relative"})
    assert not relative.exception
    assert any("seed-interval" in {u.get("name") for u in units(vega_spec(c))}
               for c in relative.get("vega_lite_chart"))  # fmt: skip
    flops = open_page("curves", {**query, "train_seeds": "1", "x": "flops"})
    assert any("drawn against % of heads pruned only" in c.value for c in flops.caption)
    assert not any("seed-curve" in {u.get("name") for u in units(vega_spec(c))}
                   for c in flops.get("vega_lite_chart"))  # fmt: skip
    # without other seeds the page has neither caption nor toggle
    plain = open_page("curves", {**query, "model": "e5-small", "train_seeds": "1"})
    assert not [t for t in plain.toggle if t.key == "cv_train_seeds"]
    assert not any("training seeds" in c.value for c in plain.caption)


def test_relative_seed_drops_divide_by_the_seed_mean_unpruned_score():
    from mbp.analysis.training_seeds import (
        LINE_INTERVAL_COLUMNS,
        relative_seed_drops,
        relative_seed_intervals,
    )

    rows = [["m", "sst2", "en", "posthoc", "importance", 0, f, 3, v, v, v, d, d - 0.01, d + 0.01]
            for f, v, d in ((0.0, 0.8, 0.0), (0.5, 0.7, 0.1))]  # fmt: skip
    out = relative_seed_drops(pd.DataFrame(rows, columns=LINE_INTERVAL_COLUMNS))
    assert len(out) == 1 and out.loc[0, "drop %"] == pytest.approx(12.5)
    assert (out.loc[0, "low %"], out.loc[0, "high %"]) == pytest.approx((11.25, 13.75))
    # the chart's band: the score kept, 100 - the paired drop's interval (fraction 0 kept)
    kept = relative_seed_intervals(pd.DataFrame(rows, columns=LINE_INTERVAL_COLUMNS))
    kept = kept.set_index("fraction")
    assert kept.loc[0.0, ["value", "low", "high"]].tolist() == pytest.approx([100, 98.75, 101.25])
    assert kept.loc[0.5, ["value", "low", "high"]].tolist() == pytest.approx([87.5, 86.25, 88.75])
    assert kept.loc[0.5, "unpruned"] == 0.8
