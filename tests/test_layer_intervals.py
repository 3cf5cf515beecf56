"""Layer drops' paired bootstrap intervals from stored outcomes: tables, Layer importance page,
downloads. Synthetic outcomes with known drops: one far beyond noise, one within it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbp.analysis.export import download_frame, with_intervals
from mbp.analysis.tables import attach_layer_intervals, layer_drops, layer_intervals, seed_spread
from mbp.store import ResultsStore
from mbp.store.outcomes import UNPRUNED, outcome_row

N = 400
MODEL = "syn-model"


def _run(store: ResultsStore, run_id: str, kind: str, lang: str, method: str) -> None:
    store.ensure_run(run_id, kind, json.dumps({"kind": kind, "lang": lang, "method": method}),
                     model=MODEL, model_checksum="sha", task="xnli", lang=lang, split="test",
                     method=method, seeds=[0], n_examples=N, cells_total=1, device="cpu",
                     versions_json={}, code_commit="test", command="test")  # fmt: skip


def _flip(preds: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """`count` of the correct predictions made wrong (the first ones)."""
    out = preds.copy()
    right = np.flatnonzero(out == labels)[:count]
    out[right] = (labels[right] + 1) % 3
    return out


def _layer_run(store: ResultsStore, run_id: str, lang: str, with_outcomes: bool) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, N)
    base = np.where(rng.random(N) < 0.75, labels, (labels + 1) % 3)
    models = {"layer:0": _flip(base, labels, 40),  # 10 points: far beyond noise
              "layer:1": _flip(base, labels, 1),  # 0.25 points: within it
              "group:bottom": base.copy()}  # fmt: skip
    _run(store, run_id, "layers", lang, "remove-layer")
    base_value = float((base == labels).mean())
    rows, outcomes = [], [outcome_row(UNPRUNED, base, labels, regression=False)]
    for target, preds in models.items():
        value = float((preds == labels).mean())
        rows.append({"target": target, "layers": "[0]", "metric": "accuracy",
                     "base_value": base_value, "value": value, "drop": base_value - value})  # fmt: skip
        outcomes.append(outcome_row(target, preds, labels, regression=False))
    store.write_cell(run_id, "all", elapsed_s=0.1, layer_importance=rows,
                     outcomes=outcomes if with_outcomes else None)  # fmt: skip
    store.finish_run(run_id)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ResultsStore:
    path = tmp_path_factory.mktemp("layer-ci") / "store.duckdb"
    store = ResultsStore(path)
    _layer_run(store, "layers-en", "en", with_outcomes=True)
    _layer_run(store, "layers-de", "de", with_outcomes=False)  # stored before outcomes were
    return store


def test_layer_drops_get_paired_intervals_that_tell_signal_from_noise(store):
    found = layer_intervals(store, ["layers-en", "layers-de"], metric="accuracy")
    assert set(found["run_id"]) == {"layers-en"}  # no outcomes, no invented interval
    by_target = found.set_index("target")
    assert by_target.loc["layer:0", "drop"] == pytest.approx(0.10)
    assert by_target.loc["layer:0", "drop_low"] > 0.06  # paired: 40 flips, nothing else moves
    assert by_target.loc["layer:1", "drop_low"] <= 0 <= by_target.loc["layer:1", "drop_high"]
    assert (by_target.loc["group:bottom", ["drop_low", "drop_high"]] == 0).all()  # itself
    assert layer_intervals(store, [], metric="accuracy").empty

    drops = layer_drops(store, model=MODEL, task="xnli")
    shown = attach_layer_intervals(drops, found).set_index(["lang", "target"])
    assert not shown.loc[("en", "layer:0"), "within_noise"]
    assert shown.loc[("en", "layer:1"), "within_noise"]
    assert shown.loc[("de", "layer:0"), ["drop_low", "drop_high"]].isna().all()
    assert not shown.loc[("de", "layer:1"), "within_noise"]  # unknown is not "within noise"
    en = shown.loc[("en", "layer:0")]
    assert en["relative_low"] == pytest.approx(en["drop_low"] / en["base_value"])


def test_downloads_carry_the_intervals_where_stored(store):
    frame = download_frame(store, "layer_importance", ["layers-en", "layers-de"])
    assert {"drop_low", "drop_high", "target (layers 1-based)"} <= set(frame.columns)
    en = frame[frame["run_id"] == "layers-en"].set_index("target (layers 1-based)")
    assert en.loc["layer:1", "drop_low"] > 0.06  # layer:0 of the store, numbered from 1
    assert frame.loc[frame["run_id"] == "layers-de", "drop_low"].isna().all()
    old = with_intervals(store, "layer_importance",
                         store.layer_importance(run_ids=["layers-de"]))  # fmt: skip
    assert old["drop_high"].isna().all() and len(old) == 3
    runs = store.runs()
    assert with_intervals(store, "runs", runs).equals(runs)  # other tables pass through


def test_curve_point_downloads_carry_value_and_drop_intervals(tmp_path):
    store = ResultsStore(tmp_path / "store.duckdb")
    _run(store, "sweep-en", "sweep", "en", "importance")
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, N)
    base = np.where(rng.random(N) < 0.8, labels, (labels + 1) % 3)
    pruned = _flip(base, labels, 60)
    points, outcomes = [], []
    for fraction, preds in ((0.0, base), (0.5, pruned)):
        points.append({"order_name": "importance", "seed": 0, "fraction": fraction,
                       "heads_pruned": int(fraction * 8), "pruned_heads": "[]",
                       "metric": "accuracy", "value": float((preds == labels).mean()),
                       "n_examples": N})  # fmt: skip
        outcomes.append(outcome_row(f"importance/0/{fraction:g}", preds, labels, False))
    store.write_cell("sweep-en", "importance/0", elapsed_s=0.1, curve_points=points,
                     outcomes=outcomes)  # fmt: skip
    frame = download_frame(store, "curve_points", ["sweep-en"]).set_index("fraction")
    assert frame.loc[0.5, "value_low"] < frame.loc[0.5, "value"] < frame.loc[0.5, "value_high"]
    assert frame.loc[0.5, "drop_low"] > 0.1  # 15 points, paired
    assert frame.loc[0.0, "drop_low"] == frame.loc[0.0, "drop_high"] == 0


def test_seed_spread_is_measured_or_absent(store, tmp_path):
    assert seed_spread(store, model=MODEL, task="xnli").empty  # no seeds anywhere
    from tests.fixtures.store_fixture import fixture_store_copy

    fixture = ResultsStore(fixture_store_copy(tmp_path / "fixture.duckdb"), read_only=True)
    spread = seed_spread(fixture, model="e5-small", task="xnli").set_index("source")
    assert list(spread.index) == ["random order"]  # no recipe fine-tuned with two seeds
    assert spread.loc["random order", "seeds"] == 3
    # the median over points of the per-point std of the three random seeds, recomputed
    points = fixture.sql(
        "SELECT c.run_id, c.fraction, c.value FROM curve_points c JOIN runs r USING (run_id) "
        "WHERE r.model = 'e5-small' AND r.task = 'xnli' AND c.order_name = 'random' "
        "AND c.fraction > 0 AND c.fraction < 1"
    )
    expected = points.groupby(["run_id", "fraction"])["value"].std().median()
    assert spread.loc["random order", "sd"] == pytest.approx(expected)


def test_the_layers_page_hatches_drops_within_noise(store, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from tests.chart_spec import rows
    from tests.test_app import figures, roles

    monkeypatch.setenv("MBP_STORE", str(store.path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    app = Path(__file__).resolve().parents[1] / "app.py"
    at = AppTest.from_file(str(app), default_timeout=180)
    at.query_params.update({"lmodel": MODEL, "ltask": "xnli", "ci": "1", "sort": "XNLI order"})
    at.switch_page("views/layers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    heatmap = figures(at)[0]
    (marks,) = roles(heatmap, "within_noise")  # drawn where within_noise is true
    noisy = sorted(r["target"] for r in rows(heatmap, marks) if r["within_noise"])
    assert noisy == ["L2", "bottom"]  # en's layer:1 and its unchanged group
    assert any("2 of 3 drops with an interval are within noise" in c.value for c in at.caption)
    assert any("3 cells have no stored outcomes" in c.value for c in at.caption)  # de
    at.toggle(key="ly_ci").set_value(False).run()
    assert not roles(figures(at)[0], "within_noise") and "ci" not in at.query_params
