"""Training seeds (issue 21, item 3): the plan's seed steps leave every existing run's key and
step as they were, --status estimates what they cost, the dev scores' spread per recipe, and
curve intervals over seeds and examples for lines with several seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbp.analysis.training_seeds import (
    dev_score_spread,
    recipe_of,
    seed_line_intervals,
    seed_lines,
)
from mbp.experiments.plan import TRAIN_SEEDS, paper_plan, plan_status, step_runs
from mbp.spec import FinetuneSpec, RunSpec

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "precomputed"


def test_the_shipped_steps_and_the_keys_of_their_runs_are_unchanged(monkeypatch):
    import mbp.models
    from mbp.experiments.checkpoints import finetune_spec

    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    steps = {s.name: s for s in paper_plan()}
    assert set(manifest["plan_commands"]) <= {s.command for s in steps.values()}
    runs = pd.read_parquet(SHIPPED / "runs.parquet")
    chosen = step_runs(runs, list(steps.values()))
    seed_steps = {s.name for s in paper_plan() if s.params().finetune.seed in TRAIN_SEEDS}
    assert len(seed_steps) == 8

    def checkpoints(names: set[str]) -> set[str]:
        return {json.loads(r.spec_json).get("checkpoint") for name in names
                for r in chosen[name] if r is not None}  # fmt: skip

    # a shipped seed step's runs are its own fine-tunes: no checkpoint of a seed-0 step
    seed_ckpts = checkpoints(seed_steps)
    assert not seed_ckpts & checkpoints(set(steps) - seed_steps)
    for name in seed_steps:
        found = [r for r in chosen[name] if r is not None]
        assert len(checkpoints({name})) == (1 if found else 0), name  # one fine-tune per step
    counted = {r.run_id for found in chosen.values() for r in found if r is not None}
    left = runs[~runs["run_id"].isin(counted)]  # every shipped run still counts for a step...
    # ...but the importance runs the sweeps rank heads by, each on a checkpoint a step's runs use
    assert set(left["kind"]) == {"importance"}
    assert {json.loads(s).get("checkpoint") for s in left["spec_json"]} <= checkpoints(set(steps))
    # the fine-tune key the seed-0 step asks for is the shipped runs' checkpoint; seed 1's is new
    (run,) = [r for r in chosen["glue-sst2-minilm-l6"] if r.method == "importance"]
    spec = RunSpec.from_dict(json.loads(run.spec_json))
    monkeypatch.setattr(mbp.models, "model_checksum", lambda name: spec.model_checksum)
    old = finetune_spec(steps["glue-sst2-minilm-l6"].params().experiments()[0])
    new = finetune_spec(steps["glue-sst2-minilm-l6-seed1"].params().experiments()[0])
    assert old.key == spec.checkpoint == "5e4077165924798a"
    assert (new.seed, new.key != old.key) == (1, True)
    assert recipe_of(new.to_json())[0] == recipe_of(old.to_json())[0]  # one recipe, two seeds


def test_each_claim_model_gets_three_training_seeds_and_status_estimates_them():
    steps = paper_plan()
    seeds = {}
    for step in steps:
        params = step.params()
        if params.protocol == "posthoc" and params.finetune.enabled:
            seeds.setdefault((params.model, params.task), set()).add(params.finetune.seed)
    assert set(TRAIN_SEEDS) == {1, 2}
    for key in (("minilm-l6", "sst2"), ("e5-small", "sst2"), ("e5-small", "xnli")):
        assert seeds[key] == {0, 1, 2}, key
    assert seeds["e5-small", "mnli"] == {0}  # one seed where a fine-tune costs hours
    runs = pd.read_parquet(SHIPPED / "runs.parquet").assign(has_outcomes=False)
    seed_steps = [s for s in steps if s.params().finetune.seed in TRAIN_SEEDS]
    shipped = {r.run_id for found in step_runs(runs, seed_steps).values() for r in found if r}
    runs = runs[~runs["run_id"].isin(shipped)]  # as if no seed step had run: each is estimated
    rows = {r["step"]: r for r in plan_status(runs, steps)}
    glue = rows["glue-sst2-minilm-l6"]
    assert (glue["estimate"], glue["outcomes"]) == ("", "0/3")  # done: nothing to estimate
    seed1 = rows["glue-sst2-minilm-l6-seed1"]
    assert seed1["state"] == "not started" and seed1["outcomes"] == "0/1"
    assert seed1["estimate"] == f"~{glue['minutes'] * 11 / 55 + 12:.0f}"
    assert rows["xnli-importance"]["outcomes"] == "-"


def _ckpt(seed: int, dev: float, pruned=(), lr=2e-5) -> dict:
    spec = FinetuneSpec("m", "sum", "sst2", 100, lr=lr, seed=seed, pruned_heads=tuple(pruned))
    return {"ckpt_id": spec.key, "model": "m", "task": "sst2", "spec_json": spec.to_json(),
            "metric": "accuracy", "dev_value": dev}  # fmt: skip


def test_the_dev_score_spread_is_per_recipe_over_its_seeds():
    frame = pd.DataFrame([_ckpt(0, 0.80), _ckpt(1, 0.84), _ckpt(2, 0.78),
                          _ckpt(0, 0.50, pruned=[(0, 1)]), _ckpt(0, 0.70, lr=1e-4)])  # fmt: skip
    spread = dev_score_spread(frame).set_index("recipe")
    three = spread.loc["100 x 3 epochs, lr 2e-05, batch 32"]
    assert three["seeds"] == 3 and three["mean"] == pytest.approx(np.mean([0.8, 0.84, 0.78]))
    assert three["sd"] == pytest.approx(np.std([0.8, 0.84, 0.78], ddof=1))
    assert (three["min"], three["max"]) == (0.78, 0.84)
    one = spread.loc["100 x 3 epochs, lr 0.0001, batch 32"]
    assert one["seeds"] == 1 and np.isnan(one["sd"])
    assert len(spread) == 2  # the pruned fine-tune is no seed of its recipe
    assert dev_score_spread(pd.DataFrame()).empty


def _seed_store(path: Path, accuracies: list[float], n: int = 400):
    """One importance-order line fine-tuned with len(accuracies) seeds: the unpruned model of
    seed s right with probability accuracies[s], the 50 % pruned one breaking 5 % of examples."""
    from mbp.spec import DataSpec
    from mbp.store import ResultsStore
    from tests.seed_lines import write_sweep_line

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)
    store = ResultsStore(path)
    data = DataSpec("sst2", "en", "dev", n)
    for seed, accuracy in enumerate(accuracies):
        ckpt = _ckpt(seed, accuracy)
        store.record_checkpoint(ckpt["ckpt_id"], model="m", task="sst2",
                                spec_json=ckpt["spec_json"], path="/nowhere", metric="accuracy",
                                dev_value=accuracy, n_train=100)  # fmt: skip
        spec = RunSpec("sweep", "m", "sum", ckpt["ckpt_id"], data, "importance",
                       grid=(0.0, 0.5), importance=f"imp{seed}")  # fmt: skip
        unpruned = np.where(rng.random(n) < accuracy, labels, 1 - labels)
        pruned = unpruned.copy()
        broken = rng.choice(np.flatnonzero(unpruned == labels), size=n // 20, replace=False)
        pruned[broken] = 1 - pruned[broken]
        write_sweep_line(store, spec, model="m", checksum="sum", lang="en", n=n,
                         cells=[(0.0, unpruned), (0.5, pruned)], labels=labels)  # fmt: skip
    return store


def test_lines_with_several_seeds_get_intervals_over_seeds_and_examples(tmp_path):
    from mbp.analysis.tables import curve_intervals

    store = _seed_store(tmp_path / "s.duckdb", [0.72, 0.80, 0.88])
    run_ids = store.runs()["run_id"].tolist()
    frame = seed_line_intervals(store, run_ids, metric="accuracy").set_index("fraction")
    assert len(frame) == 2 and (frame["training_seeds"] == 3).all()
    points = store.curve_points(metric="accuracy")
    half = frame.loc[0.5]
    assert half["value"] == pytest.approx(points[points["fraction"] == 0.5]["value"].mean())
    assert half["drop"] == pytest.approx(0.05) and half["drop_low"] > 0
    assert half["low"] <= half["value"] <= half["high"]
    # the seeds spread by 8 points: wider than any one seed's interval over examples alone
    one_seed = curve_intervals(store, run_ids, metric="accuracy")
    one_seed = one_seed[one_seed["fraction"] == 0.5]
    assert half["high"] - half["low"] > (one_seed["high"] - one_seed["low"]).max()
    # a line with one seed has none
    assert seed_line_intervals(store, run_ids[:1], metric="accuracy").empty


def test_the_seed_band_is_the_bootstraps_hierarchical_paired_interval(tmp_path):
    """Reference: the band (scored by resampled.seed_mean_draws) equals bootstrap's own
    hierarchical interval and paired difference on the same picks."""
    from mbp.analysis.bootstrap import (
        hierarchical_interval,
        hierarchical_paired_difference,
        hierarchical_resample,
        scorer,
    )
    from mbp.store.outcomes import decode

    store = _seed_store(tmp_path / "s.duckdb", [0.72, 0.80, 0.88], n=300)
    lines = seed_lines(store.runs(), store.checkpoints())
    runs = lines.sort_values("training_seed")["run_id"].tolist()  # the picks' seed axis
    frame = seed_line_intervals(store, runs, metric="accuracy", draws=300).set_index("fraction")
    outcomes = store.outcomes(run_ids=runs).set_index(["run_id", "model_key"])

    def preds(key: str) -> np.ndarray:
        rows = [outcomes.loc[(r, key)] for r in runs]
        return np.stack([decode(r["encoding"], r["predictions"]) for r in rows])

    first = outcomes.loc[(runs[0], "importance/0/0")]
    labels = decode(first["encoding"], first["labels"])
    picks = hierarchical_resample(3, 300, 300, seed=0)
    score = scorer("sst2", "accuracy")
    value = hierarchical_interval(preds("importance/0/0.5"), labels, score, picks)
    drop = hierarchical_paired_difference(preds("importance/0/0"), preds("importance/0/0.5"),
                                          labels, score, picks)  # fmt: skip
    half = frame.loc[0.5]
    assert (half["value"], half["low"], half["high"]) == pytest.approx(
        (value.estimate, value.low, value.high)
    )
    assert (half["drop"], half["drop_low"], half["drop_high"]) == pytest.approx(
        (drop.estimate, drop.low, drop.high)
    )


def test_a_point_not_every_seed_stored_has_no_seed_band(tmp_path):
    from mbp.spec import DataSpec
    from mbp.store.outcomes import decode
    from tests.seed_lines import write_sweep_line

    store = _seed_store(tmp_path / "s.duckdb", [0.72, 0.80], n=200)
    ckpt = _ckpt(2, 0.88)  # a third seed whose sweep stopped after its unpruned cell
    store.record_checkpoint(ckpt["ckpt_id"], model="m", task="sst2", spec_json=ckpt["spec_json"],
                            path="/nowhere", metric="accuracy", dev_value=0.88, n_train=100)  # fmt: skip
    spec = RunSpec("sweep", "m", "sum", ckpt["ckpt_id"], DataSpec("sst2", "en", "dev", 200),
                   "importance", grid=(0.0, 0.5), importance="imp2")  # fmt: skip
    first = store.outcomes().iloc[0]
    labels = decode(first["encoding"], first["labels"])
    write_sweep_line(store, spec, model="m", checksum="sum", lang="en", n=200,
                     cells=[(0.0, labels.copy())], labels=labels)  # fmt: skip
    frame = seed_line_intervals(store, store.runs()["run_id"].tolist(), metric="accuracy")
    assert frame["fraction"].tolist() == [0.0]  # the unpruned point: all three seeds
    assert frame["training_seeds"].tolist() == [3]
