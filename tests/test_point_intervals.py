"""Intervals on each point of the claims' charts (claims 1-2: relative drop per fraction) and on
each language's reliance on its bottom layers, from the same paired resamples the claims use
(mbp.analysis.claims, mbp.analysis.resampled, tables.group_reliance, export.reliance_frame)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from mbp.analysis import claims
from mbp.analysis.bootstrap import DRAWS
from mbp.analysis.claims import NO_POINT_INTERVALS, drops_table, evaluate_claims, glue_parity
from mbp.analysis.export import download_frame
from mbp.analysis.resampled import (
    curve_draws,
    draw_intervals,
    layer_draws,
    point_draws,
    run_layer_draws,
)
from mbp.analysis.tables import chart_runs, curve_intervals, group_reliance, layer_drops
from mbp.store import ResultsStore
from tests.test_claim_intervals import (
    PAIR,
    _write_layers,
    build_outcome_store,
    claim2_series,
    frames,
    linear,
    outcomes,
    xnli_costs_more,
)


@pytest.fixture(scope="module")
def outcome_store(tmp_path_factory) -> ResultsStore:
    """Sweeps and layer-wise runs with per-example outcomes (test_claim_intervals' store)."""
    return build_outcome_store(tmp_path_factory.mktemp("points") / "store.duckdb")


def _contains(frame: pd.DataFrame, value: str) -> pd.Series:
    return (frame[f"{value}_low"] <= frame[value] + 1e-12) & (
        frame[value] - 1e-12 <= frame[f"{value}_high"]
    )


# ----------------------------------------------------------------------------- claims 1-2


def test_claim_tables_carry_each_points_interval_from_the_claims_own_draws(outcome_store):
    results = evaluate_claims(outcome_store, PAIR)
    draws = curve_draws(outcome_store, protocol="posthoc", max_fraction=claims.MAX_FRACTION)
    for result in results[:2]:
        table = result.table
        assert {"relative_drop_low", "relative_drop_high"} <= set(table.columns)
        assert table["relative_drop_low"].notna().all(), result.number
        assert _contains(table, "relative_drop").all(), result.number
        assert (table["relative_drop_high"] > table["relative_drop_low"]).all()
        assert result.point_uncertainty.startswith("each point with its 95% interval")
    # the same numbers as the percentiles of the claim's own resampled curves, point by point
    rel = claims.relative_drops(draws)
    one = rel[(rel["model"] == "e5-small") & (rel["task"] == "xnli") & (rel["lang"] == "sw")
              & np.isclose(rel["fraction"], 0.3)]["relative_drop"]  # fmt: skip
    row = results[1].table.query("lang == 'sw' and fraction > 0.29 and fraction < 0.31").iloc[0]
    assert [row["relative_drop_low"], row["relative_drop_high"]] == pytest.approx(
        np.percentile(one, [2.5, 97.5])
    )
    shown = drops_table(results[1])
    assert list(shown.columns) == ["relative drop", *[f"{f:g}% pruned" for f in
                                                      (10, 20, 30, 40, 50)]]  # fmt: skip
    assert set(shown["relative drop"]) == {"XNLI en", "XNLI sw", "GLUE sst2"}
    assert shown.iloc[:, 1:].map(lambda c: "[" in c).all().all()


def test_without_outcomes_the_columns_are_nan_and_the_result_says_why():
    curves, draws = frames(claim2_series(400, seed=7), draws=200)
    bare = xnli_costs_more(curves, PAIR)
    assert bare.table["relative_drop_low"].isna().all()
    assert bare.point_uncertainty == NO_POINT_INTERVALS
    assert not drops_table(bare).iloc[:, 1:].map(lambda c: "[" in c).any().any()
    partial = xnli_costs_more(curves, PAIR, draws[draws["lang"] != "sw"])
    missing = partial.table["relative_drop_low"].isna()
    assert missing.tolist() == (partial.table["lang"] == "sw").tolist()
    assert partial.point_uncertainty.startswith(f"{int(missing.sum())} of {len(missing)} points")
    assert partial.interval is None  # the statistic itself still needs every series

    def series(n: int):
        rng = np.random.default_rng(8)
        return {("minilm-l6", "sst2", "en"): outcomes(rng, n, 0.9, linear(0.1)),
                ("e5-small", "sst2", "en"): outcomes(rng, n, 0.9, linear(0.1))}  # fmt: skip

    curves, draws = frames(series(300), draws=200)
    parity = glue_parity(curves, PAIR, draws)
    assert _contains(parity.table, "relative_drop").mean() > 0.9  # percentile intervals
    assert parity.table["relative_drop_low"].notna().all()


def test_curve_intervals_and_the_claims_draws_are_one_computation(outcome_store):
    """tables.curve_intervals (charts, downloads) and resampled.curve_draws (claims) both score
    through resampled.point_draws: on as many draws, a one-seed point's interval is the same."""
    runs = chart_runs(outcome_store, kind="sweep", protocol="posthoc")
    shown = runs[runs["shown"]]
    found = curve_intervals(outcome_store, shown["run_id"].tolist(), metric="accuracy")
    draws = curve_draws(outcome_store, protocol="posthoc", draws=DRAWS)  # curve_intervals' count
    bounds = draw_intervals(draws, claims.CURVE_KEYS, "mean")
    merged = found.merge(shown[["run_id", "model", "task", "lang"]], on="run_id").merge(
        bounds, on=claims.CURVE_KEYS)  # fmt: skip
    assert len(merged) == len(found) == 4 * 6
    assert merged["low"].tolist() == pytest.approx(merged["mean_low"].tolist())
    assert merged["high"].tolist() == pytest.approx(merged["mean_high"].tolist())
    points = outcome_store.curve_points(run_ids=shown["run_id"].tolist())
    scored = point_draws(outcome_store, points, draws=10)
    assert scored.values.shape == (len(points), 10)
    assert scored.estimates == pytest.approx(scored.points["value"].to_numpy())


# ----------------------------------------------------------------------------- reliance


def _unpaired(store: ResultsStore, draws: int = 500) -> pd.DataFrame:
    """layer_draws' rows with every model scored on its own resamples (what comparing separate
    intervals amounts to): drop(bottom) = base on resamples A - bottom on B, drop(top) = base
    on C - top on D."""
    a, b, c, d = (layer_draws(store, model="e5-small", draws=draws, seed=s) for s in range(4))
    parts = []
    for target, base, pruned in (("group:bottom", a, b), ("group:top", c, d)):
        base, pruned = base[base["target"] == target], pruned[pruned["target"] == target]
        value = (pruned["base_value"] - pruned["drop"]).to_numpy()
        parts.append(base.assign(drop=base["base_value"].to_numpy() - value))
    return pd.concat(parts, ignore_index=True)


def test_reliance_gets_a_paired_interval_narrower_than_an_unpaired_one(outcome_store):
    drops = layer_drops(outcome_store, model="e5-small", task="xnli")
    paired = group_reliance(drops, draws=layer_draws(outcome_store, model="e5-small"))
    assert paired["reliance_low"].notna().all() and _contains(paired, "reliance").all()
    assert "reliance_low" not in group_reliance(drops)  # no draws asked for: no columns
    unpaired = group_reliance(drops, draws=_unpaired(outcome_store))
    width = paired.set_index("lang").eval("reliance_high - reliance_low")
    unpaired_width = unpaired.set_index("lang").eval("reliance_high - reliance_low")
    assert (width < 0.8 * unpaired_width).all(), pd.concat([width, unpaired_width], axis=1)
    # claim 3 shows the same intervals per language as the Layer importance page
    claim3 = evaluate_claims(outcome_store, PAIR)[2]
    same = claim3.table.merge(paired, on="lang", suffixes=("", "_page"))
    assert same["reliance_low"].tolist() == pytest.approx(same["reliance_low_page"].tolist())
    assert claim3.point_uncertainty.startswith("each point with its 95% interval")
    table = claims.groups_table(claim3.groups)
    assert list(table.columns[:3]) == ["lang", "reliance (points)", "95% interval"]
    assert table["95% interval"].str.match(r"^\[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]$").all()


def test_a_language_without_outcomes_has_nan_reliance_bounds_in_page_and_download(
    outcome_store, tmp_path
):
    path = tmp_path / "partial.duckdb"
    shutil.copyfile(outcome_store.path, path)
    store = ResultsStore(path)
    _write_layers(store, "ur", np.random.default_rng(6), 400, 0.3, 0.1, with_outcomes=False)
    drops = layer_drops(store, model="e5-small", task="xnli")
    draws = layer_draws(store, model="e5-small", draws=300)
    shown = group_reliance(drops, draws=draws).set_index("lang")
    assert shown.loc["ur", ["reliance_low", "reliance_high"]].isna().all()
    assert shown.drop(index="ur")["reliance_low"].notna().all()
    assert group_reliance(drops, draws=draws.iloc[:0])["reliance_low"].isna().all()

    run_ids = store.runs(kind="layers")["run_id"].tolist()
    frame = download_frame(store, "layer_reliance", run_ids).set_index("lang")
    assert len(frame) == 8 and pd.isna(frame.loc["ur", "reliance_low"])
    assert frame.loc["sw", "reliance"] == pytest.approx(shown.loc["sw", "reliance"])
    assert _contains(frame.drop(index="ur"), "reliance").all()
    per_run = run_layer_draws(store, run_ids, draws=300)
    assert set(per_run["lang"]) == set(frame.index) - {"ur"}
    assert download_frame(store, "layer_reliance", []).empty
    claim3 = evaluate_claims(store, PAIR)[2]
    assert pd.isna(claim3.table.set_index("lang").loc["ur", "reliance_low"])
    assert claim3.point_uncertainty == "1 of 8 points have no interval: their runs predate " \
        "per-example outcomes"  # fmt: skip


def test_the_layers_page_shows_reliance_intervals_when_asked(outcome_store, monkeypatch,
                                                             tmp_path):  # fmt: skip
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MBP_STORE", str(outcome_store.path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    app = Path(__file__).resolve().parents[1] / "app.py"
    at = AppTest.from_file(str(app), default_timeout=240)
    at.query_params.update({"lmodel": "e5-small", "ltask": "xnli", "ci": "1"})
    at.switch_page("views/layers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [d.value for d in at.dataframe if "reliance" in d.value.columns]
    drops = layer_drops(outcome_store, model="e5-small", task="xnli")
    expected = group_reliance(drops, draws=layer_draws(outcome_store, model="e5-small"))
    got = table.set_index("lang")[["reliance_low", "reliance_high"]]
    want = expected.set_index("lang").loc[got.index, ["reliance_low", "reliance_high"]]
    assert got.to_numpy() == pytest.approx(want.to_numpy())
    assert any(c.value.startswith("reliance low/high") for c in at.caption)
    at.toggle(key="ly_ci").set_value(False).run()
    (table,) = [d.value for d in at.dataframe if "reliance" in d.value.columns]
    assert "reliance_low" not in table.columns
