"""Downloads number layers and heads from 1, as the dashboard does; the store stays 0-based."""

from __future__ import annotations

import json

import pandas as pd

from mbp.analysis.export import one_based
from mbp.analysis.tables import rows_for_runs
from mbp.store import ResultsStore
from tests.fixtures.store_fixture import fixture_store_copy


def test_downloads_number_layers_and_heads_from_one(tmp_path):
    store = ResultsStore(fixture_store_copy(tmp_path / "store.duckdb"), read_only=True)
    runs = store.sql("SELECT run_id, kind FROM runs")
    ids = {kind: runs.loc[runs["kind"] == kind, "run_id"].tolist() for kind in runs["kind"]}

    heads = rows_for_runs(store, "head_importance", ids["importance"])
    out = one_based("head_importance", heads)
    assert (out["layer (1-based)"] == heads["layer"] + 1).all()
    assert (out["head (1-based)"] == heads["head"] + 1).all()
    assert out["layer (1-based)"].min() == 1 and "layer" not in out

    layers = rows_for_runs(store, "layer_importance", ids["layers"])
    out = one_based("layer_importance", layers)
    first = layers.index[layers["target"] == "layer:0"][0]
    assert out.loc[first, "target (layers 1-based)"] == "layer:1"
    bottom = layers.index[layers["target"] == "group:bottom"][0]
    assert out.loc[bottom, "target (layers 1-based)"] == "group:bottom"
    assert json.loads(str(out.loc[bottom, "layers (1-based)"]))[0] == 1
    assert (out["drop"] == layers["drop"]).all()  # values untouched

    points = rows_for_runs(store, "curve_points", ids["sweep"][:1])
    out = one_based("curve_points", points)
    column = "pruned_heads ([layer, head], 1-based)"
    for raw, shown in zip(points["pruned_heads"], out[column], strict=True):
        assert json.loads(shown) == [[layer + 1, head + 1] for layer, head in json.loads(raw)]

    # the store's own columns stay 0-based
    assert store.head_importance(run_ids=ids["importance"])["layer"].min() == 0


def test_other_tables_pass_through():
    frame = pd.DataFrame({"run_id": ["a"], "layer": [0]})
    assert one_based("runs", frame).equals(frame)
