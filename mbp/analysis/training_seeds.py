"""What the fine-tune's seed changes: the spread of the fine-tuned dev scores over training
seeds, and curve intervals that combine seeds and examples (mbp.analysis.bootstrap's
hierarchical bootstrap) for lines fine-tuned with several seeds.

    python -c "from mbp.store import ResultsStore; from mbp.analysis.training_seeds import *;
    print(dev_score_spread(ResultsStore().checkpoints()))"

Runs of one line that differ only in the training seed have different run keys (the seed is
part of the fine-tune's key): `seed_lines` groups them back by the recipe without its seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mbp.spec import spec_hash

SPREAD_COLUMNS = ["model", "task", "recipe", "seeds", "mean", "sd", "min", "max", "metric"]
LINE_INTERVAL_COLUMNS = ["model", "task", "lang", "protocol", "order_name", "seed", "fraction",
                         "training_seeds", "value", "low", "high", "drop", "drop_low",
                         "drop_high"]  # fmt: skip


def recipe_of(spec_json: str) -> tuple[str, int]:
    """(the fine-tune's recipe key without its seed, the seed) from a checkpoint's spec JSON."""
    spec = json.loads(spec_json)
    seed = int(spec.pop("seed", 0))
    return spec_hash(spec), seed


def _describe(spec_json: str) -> str:
    spec = json.loads(spec_json)
    n = spec.get("train_examples") or "all"
    frozen = ", frozen embeddings" if spec.get("freeze_embeddings") else ""
    return (f"{n} x {spec.get('epochs', 0):g} epochs, lr {spec.get('lr', 0):g}, "
            f"batch {spec.get('batch_size')}{frozen}")  # fmt: skip


def dev_score_spread(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Per fine-tune recipe (unpruned; the same spec but for its seed) with at least one
    checkpoint: how many training seeds, and the mean, sample sd, min and max of their dev
    scores (`store.checkpoints()` or an export's checkpoints.parquet). sd is NaN for one seed."""
    rows = []
    if checkpoints is None or checkpoints.empty:
        return pd.DataFrame(columns=SPREAD_COLUMNS)
    groups: dict[str, dict] = {}
    for row in checkpoints.itertuples():
        spec = json.loads(row.spec_json)
        if spec.get("pruned_heads") or row.dev_value is None or pd.isna(row.dev_value):
            continue  # a retrained (pruned) cell's fine-tune is not a seed of its recipe
        recipe, seed = recipe_of(row.spec_json)
        group = groups.setdefault(recipe, {"row": row, "scores": {}})
        group["scores"][seed] = float(row.dev_value)
    for group in groups.values():
        row, scores = group["row"], np.array(list(group["scores"].values()))
        rows.append([row.model, row.task, _describe(row.spec_json), len(scores),
                     scores.mean(), scores.std(ddof=1) if len(scores) > 1 else np.nan,
                     scores.min(), scores.max(), row.metric])  # fmt: skip
    out = pd.DataFrame(rows, columns=SPREAD_COLUMNS)
    return out.sort_values(["model", "task", "recipe"], ignore_index=True)


def seed_lines(runs: pd.DataFrame, checkpoints: pd.DataFrame) -> pd.DataFrame:
    """`runs` (store.runs() rows) with `line` (what the run measures but for the fine-tune's
    seed) and `training_seed`; runs on no recorded fine-tune get line = their run id."""
    recipes = {
        row.ckpt_id: recipe_of(row.spec_json)
        for row in checkpoints.itertuples()
        if isinstance(row.spec_json, str)
    }
    lines, seeds = [], []
    for row in runs.itertuples():
        spec = json.loads(row.spec_json)
        recipe = recipes.get(spec.get("checkpoint", ""))
        if recipe is None:
            lines.append(row.run_id)
            seeds.append(0)
            continue
        # the fine-tune's recipe without its seed; a ranked order's importance run is scored
        # on each seed's own fine-tune, so it differs by seed too
        spec.update(checkpoint=recipe[0], importance="")
        lines.append(spec_hash(spec))
        seeds.append(recipe[1])
    return runs.assign(line=lines, training_seed=seeds)


def seed_line_intervals(store, run_ids: Sequence[str], *, metric: str,
                        draws: int = 2000) -> pd.DataFrame:  # fmt: skip
    """Hierarchical intervals (training seeds, then examples) of every curve point of the sweep
    `run_ids` whose line has several training seeds with outcomes: the seed-mean metric (value,
    low, high) and its paired drop from the same seeds' unpruned point (drop, drop_low,
    drop_high). Columns LINE_INTERVAL_COLUMNS; lines of one seed have no rows (their
    examples-only intervals are `tables.curve_intervals`)."""
    from mbp.analysis.bootstrap import (
        hierarchical_interval,
        hierarchical_paired_difference,
        hierarchical_resample,
        scorer,
    )
    from mbp.store.outcomes import decode

    if not run_ids:
        return pd.DataFrame(columns=LINE_INTERVAL_COLUMNS)
    runs = store.runs(run_id=list(run_ids))
    runs = seed_lines(runs[runs["kind"] == "sweep"], store.checkpoints())
    outcomes = store.outcomes(run_ids=runs["run_id"].tolist())
    if outcomes.empty:
        return pd.DataFrame(columns=LINE_INTERVAL_COLUMNS)
    stored = {(r.run_id, r.model_key): r for r in outcomes.itertuples()}
    shared: dict[tuple[int, int], object] = {}  # (seeds, examples) -> draws: all paired
    rows = []
    for _, line in runs.groupby("line", sort=True):
        line = line.drop_duplicates("training_seed").sort_values("training_seed")
        if len(line) < 2:
            continue
        first = line.iloc[0]
        keys = sorted({k for (run, k) in stored if run == first.run_id})
        for key in keys:
            order, seed, fraction = key.split("/")
            base_key = f"{order}/{seed}/0"
            found = [stored.get((r, key)) for r in line["run_id"]]
            bases = [stored.get((r, base_key)) for r in line["run_id"]]
            if any(f is None for f in found + bases):
                continue  # every seed's point and unpruned point, or no interval
            labels = decode(found[0].encoding, found[0].labels)
            preds = np.stack([decode(f.encoding, f.predictions) for f in found])
            base = np.stack([decode(b.encoding, b.predictions) for b in bases])
            score = scorer(first.task, metric)
            shape = (len(line), len(labels))
            if shape not in shared:
                shared[shape] = hierarchical_resample(*shape, draws, seed=0)
            picks = shared[shape]
            value = hierarchical_interval(preds, labels, score, picks)
            drop = hierarchical_paired_difference(base, preds, labels, score, picks)
            rows.append([first.model, first.task, first.lang, first.protocol, order, int(seed),
                         float(fraction), len(line), value.estimate, value.low, value.high,
                         drop.estimate, drop.low, drop.high])  # fmt: skip
    return pd.DataFrame(rows, columns=LINE_INTERVAL_COLUMNS)
