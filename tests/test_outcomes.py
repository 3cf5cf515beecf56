"""Per-example outcomes: stored for every evaluated model, and enough to recompute its numbers."""

from __future__ import annotations

import numpy as np
import pytest

from mbp.errors import MbpError
from mbp.store import ResultsStore
from mbp.store.outcomes import UNPRUNED, decode, encode, outcome_row
from mbp.tasks import TASKS, compute_metrics


def test_encodings_round_trip_and_refuse_what_does_not_fit():
    classes = np.array([0, 2, 1, 1, 0], dtype=np.int64)
    assert encode(classes, regression=False) == ("classes", "02110")
    assert decode(*encode(classes, regression=False)).tolist() == classes.tolist()
    values = np.array([0.12345, 4.9, -1.0])
    encoding, text = encode(values, regression=True)
    assert encoding == "values" and decode(encoding, text).tolist() == pytest.approx(
        [0.1235, 4.9, -1.0], abs=1e-6
    )
    with pytest.raises(MbpError, match=r"class ids 0\.\.11 do not fit one digit each"):
        encode(np.array([0, 11]), regression=False)
    with pytest.raises(MbpError, match="unknown outcome encoding 'zip'"):
        decode("zip", "")
    row = outcome_row("random/0/0.5", np.array([1, 0]), np.array([1, 1]), regression=False)
    assert row == {"model_key": "random/0/0.5", "n_examples": 2, "encoding": "classes",
                   "predictions": "10", "labels": "11"}  # fmt: skip


@pytest.fixture(scope="module")
def stored(outcomes_project):
    """The session's tiny outcomes store (a sweep and a layer-wise run; conftest), read-only."""
    return ResultsStore(outcomes_project[0] / "store.duckdb", read_only=True)


def _recomputed(row) -> float:
    preds, labels = decode(row.encoding, row.predictions), decode(row.encoding, row.labels)
    return compute_metrics(TASKS["sst2"], preds, labels)["accuracy"]


def test_every_curve_point_has_outcomes_that_give_its_value(stored):
    points = stored.curve_points(metric="accuracy")
    outcomes = stored.outcomes().set_index(["run_id", "model_key"])
    assert len(points) == 5 * 3  # grid of 5 x (importance + 2 random seeds)
    for point in points.itertuples():
        key = (point.run_id, f"{point.order_name}/{point.seed}/{point.fraction:g}")
        row = outcomes.loc[key]
        assert row.n_examples == point.n_examples == 40
        assert _recomputed(row) == pytest.approx(point.value)


def test_layer_runs_store_the_unpruned_model_once_and_every_target(stored):
    drops = stored.layer_importance(metric="accuracy")
    outcomes = stored.outcomes(run_ids=drops["run_id"].unique().tolist())
    keys = outcomes["model_key"].tolist()
    assert keys.count(UNPRUNED) == 1 and set(drops["target"]) <= set(keys)
    by_key = outcomes.set_index("model_key")
    base = _recomputed(by_key.loc[UNPRUNED])
    for drop in drops.itertuples():
        assert drop.base_value == pytest.approx(base)
        assert drop.value == pytest.approx(_recomputed(by_key.loc[drop.target]))


def test_curve_points_get_intervals_from_their_outcomes(stored):
    from mbp.analysis.tables import curve_intervals

    points = stored.curve_points(metric="accuracy")
    frame = curve_intervals(stored, points["run_id"].unique().tolist(), metric="accuracy")
    assert len(frame) == len(points)
    merged = frame.merge(points, on=["run_id", "order_name", "seed", "fraction"])
    assert merged["value_x"].tolist() == pytest.approx(merged["value_y"].tolist())
    assert (merged["low"] <= merged["value_x"]).all() and (
        merged["value_x"] <= merged["high"]
    ).all()
    unpruned = merged[merged["fraction"] == 0]
    assert (unpruned["drop"] == 0).all() and (unpruned["drop_high"] == 0).all()  # itself
    pruned = merged[merged["fraction"] > 0]
    # paired: the drop's interval is never wider than the value's own (same examples)
    assert ((pruned["drop_high"] - pruned["drop_low"]) <= (pruned["high"] - pruned["low"]) * 2
            + 1e-9).all()  # fmt: skip
    assert curve_intervals(stored, [], metric="accuracy").empty


def test_the_curves_page_draws_the_intervals_as_error_bars(stored, monkeypatch, tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from tests.chart_spec import rows
    from tests.test_app import figures, roles

    monkeypatch.setenv("MBP_STORE", str(stored.path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    model = stored.runs()["model"].iloc[0]
    app = Path(__file__).resolve().parents[1] / "app.py"
    at = AppTest.from_file(str(app), default_timeout=180)
    at.query_params.update({"task": "sst2", "model": model, "lang": "en",
                            "orders": "importance,random", "ci": "1"})  # fmt: skip
    at.switch_page("views/curves.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (spec,) = figures(at)
    (bars,) = roles(spec, "interval")  # one error-bar layer: a rule per point from low to high
    drawn = rows(spec, bars)
    # importance (one seed): an interval at each of its 5 points; random (two seeds): none,
    # its seed band shows the spread instead
    assert len(drawn) == 5 and {r["series"] for r in drawn} == {"importance"}
    assert all(r["ci_low"] <= r["y"] <= r["ci_high"] for r in drawn)
    assert any(r["ci_high"] > r["ci_low"] for r in drawn)
    at.toggle(key="cv_ci").set_value(False).run()
    (spec,) = figures(at)
    assert roles(spec, "interval") == []
