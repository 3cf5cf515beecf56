"""The claims' inputs recomputed on resampled examples, from the stored per-example outcomes.

`curve_draws` is `tables.curve_summary` (mean over seeds, unpruned base) and `layer_draws` is
the thirds of `tables.layer_drops`, each recomputed on `draws` bootstrap resamples of the
evaluated examples, with a `draw` column. Every stored model with the same example count is
scored on the SAME resampled indices (`bootstrap.resample`, one per count), so pruned and
unpruned, one model and another, stay paired. `mbp.analysis.claims` recomputes each claim's
statistic on every draw with the code that computes it once, which gives its interval.

    python -c "from mbp.store import ResultsStore; from mbp.analysis.resampled import *;
    print(curve_draws(ResultsStore(), protocol='posthoc', max_fraction=0.5))"

Runs stored before outcomes were (schema < 6) have no rows here: a claim resting on them says
it has no interval rather than invent one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mbp.analysis.tables import chart_runs, primary_metrics
from mbp.store import ResultsStore

DRAWS = 1000  # per claim: its 2.5/97.5 percentiles move by ~0.1 point between seeds
CURVE_COLUMNS = ["draw", "model", "task", "lang", "protocol", "order_name", "fraction", "mean",
                 "base"]  # fmt: skip
LAYER_COLUMNS = ["draw", "lang", "target", "drop", "base_value", "n_examples"]


class _Scores:
    """Each stored model's metric on each resample: (draws,) arrays by (run_id, model_key)."""

    def __init__(self, outcomes: pd.DataFrame, draws: int, seed: int) -> None:
        from mbp.analysis.bootstrap import resample, scorer
        from mbp.store.outcomes import decode

        self.n_draws = draws
        metrics = primary_metrics()
        indices: dict[int, np.ndarray] = {}  # example count -> shared indices: all paired
        resampled_labels: dict[tuple[str, str], np.ndarray] = {}  # a run's labels repeat
        self.values: dict[tuple[str, str], np.ndarray] = {}
        for row in outcomes.itertuples():
            n = int(row.n_examples)
            if n not in indices:
                indices[n] = resample(n, draws, seed)
            idx = indices[n]
            if (row.run_id, row.labels) not in resampled_labels:
                resampled_labels[row.run_id, row.labels] = decode(row.encoding, row.labels)[idx]
            score = scorer(row.task, metrics.get(row.task, "accuracy"))
            preds = decode(row.encoding, row.predictions)[idx]
            self.values[row.run_id, row.model_key] = score(
                preds, resampled_labels[row.run_id, row.labels]
            )

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self.values

    def long(self, rows: pd.DataFrame, keys: list[tuple[str, str]]) -> pd.DataFrame:
        """`rows` repeated once per draw with `value` each row's model's score on that draw."""
        draws = self.n_draws
        out = rows.loc[rows.index.repeat(draws)].reset_index(drop=True)
        out["draw"] = np.tile(np.arange(draws), len(rows))
        out["value"] = np.concatenate([self.values[k] for k in keys]) if keys else []
        return out


def _shown_runs(store: ResultsStore, kind: str, **filters) -> pd.DataFrame:
    runs = chart_runs(store, kind=kind, **filters)
    return runs[runs["shown"]] if len(runs) else runs


def curve_draws(
    store: ResultsStore,
    *,
    protocol: str,
    max_fraction: float | None = None,
    orders: Sequence[str] | None = None,
    draws: int = DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """`curve_summary(store, protocol=protocol)`'s `mean` (over seeds) and `base` (the mean of
    every unpruned point of the line) on each resample, for the same runs (the charts' choice
    rule): columns CURVE_COLUMNS. Only points whose every seed has outcomes, and only lines
    whose every unpruned point has; fractions above `max_fraction` and orders not in `orders`
    (None: all) are left out, but every order's unpruned points stay (the base needs them)."""
    runs = _shown_runs(store, "sweep", protocol=protocol)
    outcomes = store.outcomes(run_ids=runs["run_id"].tolist()) if len(runs) else pd.DataFrame()
    if outcomes.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    points = store.curve_points(run_ids=runs["run_id"].tolist())
    points = points[points["metric"] == points["task"].map(primary_metrics()).fillna("accuracy")]
    if max_fraction is not None:
        points = points[points["fraction"] <= max_fraction + 1e-9]
    if orders is not None:  # scoring is the cost: only what is asked for, and every base
        points = points[points["order_name"].isin(list(orders)) | (points["fraction"] == 0)]
    points = points.merge(runs[["run_id", "protocol"]], on="run_id")
    # the key curve_intervals and the sweeps use for a point's model
    points["model_key"] = [f"{o}/{s}/{f:g}" for o, s, f in
                           zip(points["order_name"], points["seed"], points["fraction"], strict=True)]  # fmt: skip
    have = set(zip(outcomes["run_id"], outcomes["model_key"], strict=True))
    points["has"] = [k in have for k in zip(points["run_id"], points["model_key"], strict=True)]
    line = ["model", "task", "lang", "protocol"]
    complete = points.groupby([*line, "order_name", "fraction"])["has"].transform("all")
    zero = points[points["fraction"] == 0]
    base_ok = zero.groupby(line)["has"].all()
    points = points[complete].reset_index(drop=True)
    if points.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    needed = outcomes.merge(points[["run_id", "model_key"]], on=["run_id", "model_key"])
    scores = _Scores(needed, draws, seed)
    keys = list(zip(points["run_id"], points["model_key"], strict=True))
    long = scores.long(points[[*line, "order_name", "seed", "fraction"]], keys)
    mean = long.groupby([*line, "order_name", "fraction", "draw"], as_index=False)["value"].mean()
    unpruned = long[long["fraction"] == 0]
    base = unpruned.groupby([*line, "draw"], as_index=False)["value"].mean()
    base = base.merge(base_ok[base_ok].reset_index()[line], on=line)  # every unpruned point
    out = mean.rename(columns={"value": "mean"}).merge(
        base.rename(columns={"value": "base"}), on=[*line, "draw"]
    )
    return out[CURVE_COLUMNS].sort_values(CURVE_COLUMNS[:7], ignore_index=True)


def layer_draws(
    store: ResultsStore,
    *,
    model: str,
    task: str = "xnli",
    protocol: str = "posthoc",
    draws: int = DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """The layer thirds' drops (`group:bottom|middle|top`) of `layer_drops(store, model=model,
    task=task, protocol=protocol)` on each resample: the unpruned model's score minus the
    pruned one's on the same resampled examples (paired). Columns LAYER_COLUMNS, in metric
    units like `layer_drops`; languages whose run has no outcomes have no rows."""
    from mbp.store.outcomes import UNPRUNED

    runs = _shown_runs(store, "layers", task=task, models=[model], protocol=protocol)
    outcomes = store.outcomes(run_ids=runs["run_id"].tolist()) if len(runs) else pd.DataFrame()
    if outcomes.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    keep = outcomes["model_key"].str.startswith("group:") | (outcomes["model_key"] == UNPRUNED)
    scores = _Scores(outcomes[keep], draws, seed)
    targets = outcomes[outcomes["model_key"].str.startswith("group:")]
    targets = targets[[(r, UNPRUNED) in scores for r in targets["run_id"]]]
    if targets.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    rows = targets[["run_id", "lang", "model_key", "n_examples"]].reset_index(drop=True)
    long = scores.long(rows, list(zip(rows["run_id"], rows["model_key"], strict=True)))
    long["base_value"] = np.concatenate([scores.values[r, UNPRUNED] for r in rows["run_id"]])
    long["drop"] = long["base_value"] - long["value"]
    long = long.rename(columns={"model_key": "target"})
    return long[LAYER_COLUMNS].sort_values(["lang", "target", "draw"], ignore_index=True)
