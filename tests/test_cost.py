"""What a pruned model costs (mbp.engine.cost): counts against a direct count on a tiny model,
the Pareto front on a hand-made frame, and the cost columns of stored curve points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mbp.cli import main
from mbp.engine.cost import Architecture, PointCost, parse_heads
from mbp.engine.prune import describe_heads, prune_heads
from mbp.figures.curves import pareto_front, pruning_curves
from mbp.models import tiny_bert
from mbp.store import ResultsStore
from tests.chart_spec import layers, rows
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2

HEAD_SETS = [
    {},
    {0: [1]},
    {0: [0, 1, 2, 3]},  # a whole layer
    {1: [0, 3], 2: [0, 1, 2, 3]},
    {0: [0, 1, 2, 3], 1: [0, 1, 2, 3], 2: [0, 1, 2, 3]},  # every head
]


@pytest.mark.parametrize("heads", HEAD_SETS, ids=describe_heads)
def test_counts_equal_a_direct_count_of_the_pruned_model(heads):
    model, _ = tiny_bert(layers=3, heads=4, hidden=16)
    model.set_attn_implementation("eager")  # attention products as matmuls torch can count
    arch = Architecture.of(model.config)
    full = sum(p.numel() for p in model.parameters())
    pruned = prune_heads(model, heads) if heads else model
    assert sum(p.numel() for p in pruned.parameters()) == full - arch.params_removed(heads)
    for length in (1, 7, 23):
        ids = torch.randint(5, 50, (1, length))
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            pruned.base_model.encoder(pruned.base_model.embeddings(ids))
        assert counter.get_total_flops() == arch.flops(heads, length)


def test_flops_per_example_is_the_mean_over_real_lengths():
    arch = Architecture(2, 4, 16, 64)
    heads = {1: [0, 2]}
    lengths = (5, 9, 9, 30)
    expected = np.mean([arch.flops(heads, n) for n in lengths])
    assert arch.flops_per_example(heads, lengths) == pytest.approx(expected)
    cost = PointCost(arch, 1000, lengths).of(heads)
    assert cost["params"] == 1000 - arch.params_removed(heads)
    assert cost["flops_full"] == pytest.approx(np.mean([arch.flops({}, n) for n in lengths]))
    assert parse_heads(describe_heads({0: [1, 3], 2: [0]})) == {0: [1, 3], 2: [0]}
    assert parse_heads("[]") == {} == parse_heads(None)


def test_the_pareto_front_keeps_only_points_nothing_beats_on_both_axes():
    # (saving %, score): b beats a on both; c ties b's score at a larger saving (c wins);
    # d saves most; e is NaN (never on the front); f saves as much as d but scores lower
    frame = pd.DataFrame(
        {
            "name": ["a", "b", "c", "d", "e", "f", "g"],
            "x": [10.0, 20.0, 30.0, 60.0, np.nan, 60.0, 0.0],
            "y": [0.70, 0.80, 0.80, 0.50, 0.99, 0.40, 0.85],
        }
    )
    front = pareto_front(frame["x"].to_numpy(), frame["y"].to_numpy())
    assert frame["name"].iloc[front].tolist() == ["g", "c", "d"]


def _summary() -> pd.DataFrame:
    rows = []
    for order, drop in (("importance", 0.1), ("random", 0.3)):
        for f in (0.0, 0.5, 1.0):
            rows.append(
                {"model": "e5-small", "lang": "en", "protocol": "posthoc", "order_name": order,
                 "fraction": f, "heads_pruned": int(f * 144), "n_seeds": 1,
                 "mean": 0.8 - drop * f, "std": 0.0, "min": 0.8 - drop * f,
                 "max": 0.8 - drop * f, "base": 0.8, "flops_saved": 35.0 * f,
                 "params_saved": 6.0 * f}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_figure_draws_savings_on_x_and_its_front():
    spec = pruning_curves(_summary(), metric="accuracy", x="flops", pareto=True).to_dict()
    (curve,) = layers(spec, "curve")
    assert {round(r["x"], 6) for r in rows(spec, curve)} == {0.0, 17.5, 35.0}
    assert curve["encoding"]["x"]["title"] == "% of encoder FLOPs per example saved"
    (front,) = layers(spec, "pareto")
    points = rows(spec, front)
    assert [r["x"] for r in points] == [0.0, 17.5, 35.0]  # the importance order dominates random
    assert [r["order_name"] for r in points] == ["importance"] * 3
    (label,) = rows(spec, layers(spec, "pareto_label")[0])  # named on the chart, at its end
    assert label["front"] == "Pareto front" and label["x"] == 35.0
    without = _summary().assign(flops_saved=np.nan)
    empty = pruning_curves(without, metric="accuracy", x="flops").to_dict()
    (message,) = rows(empty, layers(empty, "empty")[0])
    assert "mbp costs" in message["message"]


def test_sweeps_store_their_costs_and_mbp_costs_fills_older_points(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = str(make_tiny_model_dir(tmp_path / "tiny", layers=2, heads=4))
    data = str(make_tiny_sst2(tmp_path / "data"))
    store = tmp_path / "s.duckdb"
    args = ["sweep", "--model", model, "--task", "sst2", "--data-dir", data, "--store",
            str(store), "--examples", "24", "--train-examples", "32", "--epochs", "1",
            "--importance-examples", "16", "--grid", "0,0.5,1", "--quiet"]  # fmt: skip
    assert main(args) == 0
    stored = ResultsStore(store).curve_points().sort_values("fraction")
    assert stored["flops"].notna().all() and stored["params"].notna().all()
    assert (
        stored["flops"].is_monotonic_decreasing
        and stored["flops"].iloc[0] == stored["flops_full"].iloc[0]
    )
    # a store written before the counts: the same numbers come back from the head sets alone
    writer = ResultsStore(store)
    with writer.write_transaction() as txn:
        txn.con.execute("UPDATE curve_points SET params = NULL, flops = NULL")
    assert main(["costs", "--store", str(store), "--data-dir", data, "--quiet"]) == 0
    again = ResultsStore(store).curve_points().sort_values("fraction")
    for column in ("params", "flops", "params_full", "flops_full"):
        assert again[column].tolist() == pytest.approx(stored[column].tolist())


def test_mbp_latency_times_each_head_set_against_the_unpruned_model(tmp_path, monkeypatch, capsys):
    from mbp.analysis.tables import curve_summary

    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = str(make_tiny_model_dir(tmp_path / "tiny", layers=2, heads=4))
    data = str(make_tiny_sst2(tmp_path / "data"))
    store = tmp_path / "s.duckdb"
    common = ["--store", str(store), "--data-dir", data]
    assert main(["sweep", "--model", model, "--task", "sst2", *common, "--examples", "24",
                 "--train-examples", "32", "--epochs", "1", "--order", "random", "--seeds", "0",
                 "--grid", "0,0.5,1", "--quiet"]) == 0  # fmt: skip
    (run_id,) = ResultsStore(store).runs()["run_id"]
    capsys.readouterr()
    assert main(["latency", run_id, *common, "--repeats", "3", "--batch", "8", "--quiet"]) == 0
    rows = ResultsStore(store).sql("SELECT * FROM latency ORDER BY pruned_heads")
    assert len(rows) == 2  # 50 % and 100 %: the unpruned set is the reference, not timed
    assert (rows["speedup_min"] <= rows["speedup"]).all()
    assert (rows["speedup"] <= rows["speedup_max"]).all() and (rows["repeats"] == 3).all()
    assert (rows["device"] == "cpu").all() and (rows["batch_size"] == 8).all()
    summary = curve_summary(ResultsStore(store), task="sst2", orders=["random"])
    assert (
        summary["speedup"].notna().all()
        and summary.loc[summary.fraction == 0, "speedup"].eq(1).all()
    )
    spec = pruning_curves(summary, metric="accuracy", x="speedup").to_dict()
    assert layers(spec, "curve")[0]["encoding"]["x"]["title"].startswith("measured speed-up")
    # again: replaced, not duplicated; bad input: one line
    assert (
        main(["latency", run_id, *common, "--repeats", "3", "--batch", "8", "--fractions", "1"])
        == 0
    )
    assert len(ResultsStore(store).sql("SELECT * FROM latency")) == 2
    for extra, message in ((["--repeats", "1"], "--repeats 1 is too few"),
                           (["--batch", "x"], "--batch 'x' is not an integer")):  # fmt: skip
        capsys.readouterr()
        assert main(["latency", run_id, *common, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
    assert main(["latency", "nope", *common]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
