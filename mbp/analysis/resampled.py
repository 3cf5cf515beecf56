"""Stored results recomputed on resampled examples, from the stored per-example outcomes.

`point_draws` scores every curve point on `draws` bootstrap resamples of its evaluated examples:
the one definition of a resampled curve score, which `curve_draws` (the claims) and
`tables.curve_intervals` (the Pruning curves page, downloads) both use. `curve_draws` is
`tables.curve_summary` (mean over seeds, unpruned base) and `layer_draws` is the thirds of
`tables.layer_drops`, each recomputed per resample, with a `draw` column. Every stored model
with the same example count is scored on the SAME resampled indices (`bootstrap.resample`, one
per count), so pruned and unpruned, one model and another, stay paired. `mbp.analysis.claims`
recomputes each claim's statistic on every draw with the code that computes it once, which
gives its interval; `draw_intervals` turns any per-draw column into per-row intervals. For the
claims (`training_seeds=True`), a run whose line has other training seeds with outcomes is
scored by `seed_mean_draws` instead: seeds, then examples within each (bootstrap's hierarchical
resampling), with the seed-mean on every example as draw POINT. The same draws give the
Pruning curves chart its training-seed band (`training_seeds.seed_line_intervals`).

    python -c "from mbp.store import ResultsStore; from mbp.analysis.resampled import *;
    print(curve_draws(ResultsStore(), protocol='posthoc', max_fraction=0.5))"

Runs stored before outcomes were (schema < 6) have no rows here: a claim resting on them says
it has no interval rather than invent one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from mbp.analysis.bootstrap import LEVEL, POINT, percentile_interval
from mbp.analysis.tables import chart_runs, primary_metrics
from mbp.store import ResultsStore

DRAWS = 1000  # per claim: its 2.5/97.5 percentiles move by ~0.1 point between seeds
CURVE_COLUMNS = ["draw", "model", "task", "lang", "protocol", "order_name", "fraction", "mean",
                 "base"]  # fmt: skip
LAYER_COLUMNS = ["draw", "run_id", "lang", "target", "drop", "base_value", "n_examples"]


def score_outcomes(models: pd.DataFrame, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(values (rows, draws), estimates (rows,)): each row of `models` (outcomes rows: run_id,
    task, encoding, predictions, labels, n_examples, and the `metric` to score) on `draws`
    resamples of its examples and on all of them once. Every row with the same example count
    gets the SAME indices, so any two models' scores pair up draw by draw."""
    from mbp.analysis.bootstrap import resample, scorer
    from mbp.store.outcomes import decode

    indices: dict[int, np.ndarray] = {}  # example count -> shared indices: all paired
    labels: dict[tuple[str, str], np.ndarray] = {}  # a run's labels repeat in every row
    values, estimates = np.empty((len(models), draws)), np.empty(len(models))
    for i, row in enumerate(models.itertuples()):
        n = int(row.n_examples)
        if n not in indices:
            indices[n] = resample(n, draws, seed)
        if (row.run_id, row.labels) not in labels:
            labels[row.run_id, row.labels] = decode(row.encoding, row.labels)
        gold, preds = labels[row.run_id, row.labels], decode(row.encoding, row.predictions)
        score = scorer(row.task, row.metric)
        values[i] = score(preds[indices[n]], gold[indices[n]])
        estimates[i] = score(preds[None, :], gold[None, :])[0]
    return values, estimates


class SeedDraws(NamedTuple):
    """One shown run's outcomes keys scored over its line's training seeds (hierarchically)."""

    training_seeds: int  # the seeds (runs) behind each value
    samples: dict[str, np.ndarray]  # model_key -> (draws,) seed-mean metric per resample
    estimates: dict[str, float]  # model_key -> seed-mean metric on every example


def seed_mean_draws(
    store: ResultsStore,
    lines: dict[str, list[str]],
    keep: Callable[[str, str], bool],
    *,
    metric: str | None = None,
    draws: int = DRAWS,
    seed: int = 0,
) -> dict[str, SeedDraws]:
    """For each shown run of `lines` (run id -> its line's run per training seed), every
    outcomes key of it that `keep(run_id, key)` accepts, scored with `metric` (None: the task's
    primary metric) as the mean over training seeds: on `draws` hierarchical resamples (seeds with replacement,
    then examples within each; `bootstrap.hierarchical_samples`) and on every example. Only the
    seed runs with outcomes for every kept key (on the same examples) count; a run left with
    fewer than two is left out (its examples-only draws are the rest of this module's). Every
    run with as many seeds and examples shares the SAME picks, so pruned and unpruned, fraction
    by fraction, stay paired."""
    from mbp.analysis.bootstrap import hierarchical_resample, hierarchical_samples, scorer
    from mbp.analysis.bootstrap import seed_mean as mean_over_seeds
    from mbp.store.outcomes import decode

    every = sorted({r for runs in lines.values() for r in runs})
    outcomes = store.outcomes(run_ids=every) if every else pd.DataFrame()
    if outcomes.empty:
        return {}
    stored = {(r.run_id, r.model_key): r for r in outcomes.itertuples()}
    metrics = primary_metrics() if metric is None else {}
    shared: dict[tuple[int, int], object] = {}  # (seeds, examples) -> picks: all paired
    out: dict[str, SeedDraws] = {}
    for run, seed_runs in lines.items():
        keys = sorted(k for (r, k) in stored if r == run and keep(run, k))
        if not keys or (run, keys[0]) not in stored:
            continue
        first = stored[run, keys[0]]  # every seed on the same examples, or it is left out
        have = [r for r in seed_runs if all((r, k) in stored for k in keys)
                and stored[r, keys[0]].labels == first.labels]  # fmt: skip
        if run not in have or len(have) < 2:
            continue
        labels = decode(first.encoding, first.labels)
        shape = (len(have), len(labels))
        if shape not in shared:
            shared[shape] = hierarchical_resample(*shape, draws, seed)
        score = scorer(first.task, metric or metrics.get(first.task, "accuracy"))
        samples, estimates = {}, {}
        for key in keys:
            preds = np.stack([decode(stored[r, key].encoding, stored[r, key].predictions)
                              for r in have])  # fmt: skip
            samples[key] = hierarchical_samples(preds, labels, score, shared[shape])
            estimates[key] = mean_over_seeds(preds, labels, score)
        out[run] = SeedDraws(len(have), samples, estimates)
    return out


def _seed_lines(store: ResultsStore, runs: pd.DataFrame, kind: str) -> dict[str, list[str]]:
    """Shown run id -> its line's run per training seed, for lines with several seeds."""
    from mbp.analysis.tables import training_seed_lines

    siblings = training_seed_lines(store, runs["run_id"].tolist() if len(runs) else [], kind)
    return {run: part["seed_run_id"].tolist() for run, part in siblings.groupby("run_id")}


class PointDraws(NamedTuple):
    """Curve points with stored outcomes, each scored on the shared resamples."""

    points: pd.DataFrame  # rows of store.curve_points, with model_key; index 0..len-1
    values: np.ndarray  # (points, draws): each point's own metric on each resample
    estimates: np.ndarray  # (points,): the same on every example once


def model_key(order_name: str, seed: int, fraction: float) -> str:
    """The outcomes key of a sweep's model: its cell id and fraction (`random/0/0.3`)."""
    return f"{order_name}/{seed}/{fraction:g}"


def _model_keys(points: pd.DataFrame) -> list[str]:
    """`model_key` of each row of `points` (curve points: order_name, seed, fraction)."""
    return [model_key(o, s, f) for o, s, f in
            zip(points["order_name"], points["seed"], points["fraction"], strict=True)]  # fmt: skip


def point_draws(
    store: ResultsStore, points: pd.DataFrame, *, draws: int = DRAWS, seed: int = 0
) -> PointDraws:
    """Every curve point of `points` (rows of `store.curve_points`: run_id, order_name, seed,
    fraction, metric, task) whose model has stored outcomes, scored with the point's metric on
    `draws` resamples (paired across every model with the same example count) and on all
    examples; points without outcomes are left out."""
    columns = ["run_id", "model_key", "encoding", "predictions", "labels", "n_examples"]
    outcomes = (
        store.outcomes(run_ids=sorted(points["run_id"].unique())) if len(points) else pd.DataFrame()
    )  # fmt: skip
    if outcomes.empty:
        return PointDraws(points.iloc[:0].assign(model_key=""), np.empty((0, draws)), np.empty(0))
    keyed = points.drop(columns=["n_examples"], errors="ignore").assign(
        model_key=_model_keys(points)
    )
    found = keyed.merge(outcomes[columns], on=["run_id", "model_key"]).reset_index(drop=True)
    values, estimates = score_outcomes(found, draws, seed)
    return PointDraws(found.drop(columns=columns[2:]), values, estimates)


def draw_intervals(
    draws: pd.DataFrame, keys: Sequence[str], value: str, level: float = LEVEL
) -> pd.DataFrame:
    """Per `keys`, the `level` percentile interval (`bootstrap.percentile_interval`) of column
    `value` over the resamples in `draws` (one row per key and draw): columns keys,
    `{value}_low`, `{value}_high`. Keys whose every draw is NaN have no row."""
    keys = list(keys)
    columns = [*keys, f"{value}_low", f"{value}_high"]
    known = draws.dropna(subset=[value]) if len(draws) else draws
    if known.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, samples in known.groupby(keys, sort=True)[value]:
        iv = percentile_interval(samples.to_numpy(), np.nan, level)
        rows.append([*(key if isinstance(key, tuple) else (key,)), iv.low, iv.high])
    return pd.DataFrame(rows, columns=columns)


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
    training_seeds: bool = False,
) -> pd.DataFrame:
    """`curve_summary(store, protocol=protocol)`'s `mean` (over seeds) and `base` (the mean of
    every unpruned point of the line) on each resample, for the same runs (the charts' choice
    rule): columns CURVE_COLUMNS. Only points whose every seed has outcomes, and only lines
    whose every unpruned point has; fractions above `max_fraction` and orders not in `orders`
    (None: all) are left out, but every order's unpruned points stay (the base needs them).

    `training_seeds=True` (the claims): a shown run whose line has other training seeds with
    outcomes is resampled hierarchically over them (`seed_mean_draws`; its line's base from
    those seeds alone), adds its seed-mean on every example as draw POINT, and a column
    `training_seeds` says over how many seeds each curve is (1: examples only, as without)."""
    runs = _shown_runs(store, "sweep", protocol=protocol)
    points = store.curve_points(run_ids=runs["run_id"].tolist()) if len(runs) else pd.DataFrame()
    if points.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    points = points[points["metric"] == points["task"].map(primary_metrics()).fillna("accuracy")]
    if max_fraction is not None:
        points = points[points["fraction"] <= max_fraction + 1e-9]
    if orders is not None:  # scoring is the cost: only what is asked for, and every base
        points = points[points["order_name"].isin(list(orders)) | (points["fraction"] == 0)]
    points = points.merge(runs[["run_id", "protocol"]], on="run_id")
    seeded: dict[str, SeedDraws] = {}
    if training_seeds:
        wanted = set(zip(points["run_id"], _model_keys(points), strict=True))
        lines = _seed_lines(store, runs, "sweep")
        seeded = seed_mean_draws(
            store, lines, lambda run, key: (run, key) in wanted, draws=draws, seed=seed
        )
    mine = points["run_id"].isin(list(seeded))
    scored = point_draws(store, points[~mine], draws=draws, seed=seed)
    if seeded:
        scored = _with_seeded(scored, points[mine], seeded)
    if scored.points.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    line = ["model", "task", "lang", "protocol"]
    group = [*line, "order_name", "fraction"]
    found = scored.points
    # a point counts only when every seed has outcomes; a line only when every unpruned point has
    complete = found.groupby(group)["seed"].transform("size") == found[group].merge(
        points.groupby(group).size().rename("all").reset_index(), on=group)["all"]  # fmt: skip
    unpruned = points["fraction"] == 0
    all_zero = points[unpruned].groupby(line).size()
    have_zero = found[found["fraction"] == 0].groupby(line).size()
    base_ok = have_zero.reindex(all_zero.index).eq(all_zero)
    rows = found[complete.to_numpy()]
    long = rows[[*group, "seed"]].loc[rows.index.repeat(draws)].reset_index(drop=True)
    long["draw"] = np.tile(np.arange(draws), len(rows))
    long["value"] = scored.values[rows.index].ravel()
    zero = long["fraction"] == 0
    if training_seeds:  # draw POINT of the seeded curves; their line's base from them alone
        n_seeds = rows["training_seeds"] if "training_seeds" in rows else pd.Series(1, rows.index)
        long["training_seeds"] = n_seeds.to_numpy().repeat(draws)
        multi = rows[n_seeds > 1]
        point = multi[[*group, "seed"]].assign(draw=POINT, value=scored.estimates[multi.index],
                                               training_seeds=n_seeds[multi.index])  # fmt: skip
        long = pd.concat([long, point], ignore_index=True)
        most = long.groupby(line)["training_seeds"].transform("max")
        zero = (long["fraction"] == 0) & (long["training_seeds"] == most)
    mean = long.groupby([*group, "draw"], as_index=False)["value"].mean()
    base = long[zero].groupby([*line, "draw"], as_index=False)["value"].mean()
    base = base.merge(base_ok[base_ok].reset_index()[line], on=line)  # every unpruned point
    out = mean.rename(columns={"value": "mean"}).merge(
        base.rename(columns={"value": "base"}), on=[*line, "draw"]
    )
    columns = CURVE_COLUMNS
    if training_seeds:
        columns = [*CURVE_COLUMNS, "training_seeds"]
        curves = long.groupby(group, as_index=False)["training_seeds"].max()
        out = out.merge(curves, on=group)
    return out[columns].sort_values(CURVE_COLUMNS[:7], ignore_index=True)


def _with_seeded(
    scored: PointDraws, points: pd.DataFrame, seeded: dict[str, SeedDraws]
) -> PointDraws:
    """`scored` (examples-only) followed by the points of the `seeded` runs, each with its
    hierarchical draws and seed-mean estimate; a `training_seeds` column on every row."""
    keyed = points.drop(columns=["n_examples"], errors="ignore").assign(
        model_key=_model_keys(points)
    )
    keyed = keyed[[k in seeded[r].samples for r, k in zip(keyed["run_id"], keyed["model_key"],
                                                          strict=True)]]  # fmt: skip
    pairs = list(zip(keyed["run_id"], keyed["model_key"], strict=True))
    values = np.array([seeded[r].samples[k] for r, k in pairs])
    estimates = np.array([seeded[r].estimates[k] for r, k in pairs])
    keyed = keyed.assign(training_seeds=[seeded[r].training_seeds for r, _ in pairs])
    return PointDraws(
        pd.concat([scored.points.assign(training_seeds=1), keyed], ignore_index=True),
        np.concatenate([scored.values, values.reshape(len(pairs), scored.values.shape[1])]),
        np.concatenate([scored.estimates, estimates]),
    )


def layer_draws(
    store: ResultsStore,
    *,
    model: str,
    task: str = "xnli",
    protocol: str = "posthoc",
    pinned: Sequence[str] = (),
    draws: int = DRAWS,
    seed: int = 0,
    training_seeds: bool = False,
) -> pd.DataFrame:
    """The layer thirds' drops (`group:bottom|middle|top`) of `layer_drops(store, model=model,
    task=task, protocol=protocol, pinned=pinned)` on each resample: `run_layer_draws` of the
    runs that chart shows (its choice rule). `training_seeds=True` (the claims): a run whose
    line has other training seeds with outcomes gets `seed_layer_draws` instead, and a column
    `training_seeds` says over how many seeds each run's rows are (1: examples only)."""
    runs = _shown_runs(store, "layers", task=task, models=[model], protocol=protocol,
                       pinned=list(pinned))  # fmt: skip
    run_ids = runs["run_id"].tolist() if len(runs) else []
    if not training_seeds:
        return run_layer_draws(store, run_ids, draws=draws, seed=seed)
    from mbp.store.outcomes import UNPRUNED

    seeded = {run: got for run, got in seed_mean_draws(
        store, _seed_lines(store, runs, "layers"), _is_layer_key, draws=draws, seed=seed
    ).items() if UNPRUNED in got.samples}  # fmt: skip
    one = run_layer_draws(store, [r for r in run_ids if r not in seeded], draws=draws, seed=seed)
    if not seeded:
        return one.assign(training_seeds=1)
    langs = dict(zip(runs["run_id"], runs["lang"], strict=True))
    counts = dict(zip(runs["run_id"], runs["n_examples"], strict=True))
    frames = [seed_layer_draws(run, langs[run], counts[run], got, draws)
              for run, got in seeded.items()]  # fmt: skip
    parts = [f for f in (one.assign(training_seeds=1), *frames) if len(f)]  # no object columns
    if not parts:
        return one.assign(training_seeds=1)
    return pd.concat(parts, ignore_index=True).sort_values(
        ["lang", "run_id", "target", "draw"], ignore_index=True
    )


def _is_layer_key(run_id: str, key: str) -> bool:
    from mbp.store.outcomes import UNPRUNED

    return key == UNPRUNED or key.startswith("group:")


def seed_layer_draws(run_id: str, lang: str, n_examples: int, seeded: SeedDraws,
                     draws: int) -> pd.DataFrame:  # fmt: skip
    """One layer-wise run's thirds as `run_layer_draws` gives them, but each the seed-mean over
    its line's training seeds (`seed_mean_draws`): the unpruned minus the pruned score on the
    same picked seeds and examples (paired), plus draw POINT on every example."""
    from mbp.store.outcomes import UNPRUNED

    base, base_point = seeded.samples[UNPRUNED], seeded.estimates[UNPRUNED]
    frames = []
    for target in sorted(k for k in seeded.samples if k != UNPRUNED):
        frames.append(pd.DataFrame({
            "draw": [*range(draws), POINT], "run_id": run_id, "lang": lang, "target": target,
            "drop": [*(base - seeded.samples[target]), base_point - seeded.estimates[target]],
            "base_value": [*base, base_point], "n_examples": n_examples,
            "training_seeds": seeded.training_seeds,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LAYER_COLUMNS)


def run_layer_draws(
    store: ResultsStore, run_ids: Sequence[str], *, draws: int = DRAWS, seed: int = 0
) -> pd.DataFrame:
    """The layer thirds' drops of the layer-wise runs `run_ids` on each resample: the unpruned
    model's score (the task's primary metric) minus the pruned one's on the same resampled
    examples (paired). Columns LAYER_COLUMNS, in metric units like `layer_drops`; runs without
    outcomes have no rows."""
    from mbp.store.outcomes import UNPRUNED

    outcomes = store.outcomes(run_ids=list(run_ids)) if len(run_ids) else pd.DataFrame()
    if outcomes.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    outcomes = outcomes.assign(metric=outcomes["task"].map(primary_metrics()).fillna("accuracy"))
    bases = outcomes[outcomes["model_key"] == UNPRUNED].set_index("run_id")
    targets = outcomes[outcomes["model_key"].str.startswith("group:")
                       & outcomes["run_id"].isin(bases.index)].reset_index(drop=True)  # fmt: skip
    if targets.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    values, _ = score_outcomes(
        pd.concat([bases.reset_index(), targets], ignore_index=True), draws, seed
    )
    base_of = dict(zip(bases.index, values[: len(bases)], strict=True))
    target_values = values[len(bases) :]
    base_values = np.stack([base_of[r] for r in targets["run_id"]])
    rows = targets[["run_id", "lang", "model_key", "n_examples"]].rename(
        columns={"model_key": "target"})  # fmt: skip
    long = rows.loc[rows.index.repeat(draws)].reset_index(drop=True)
    long["draw"] = np.tile(np.arange(draws), len(rows))
    long["base_value"] = base_values.ravel()
    long["drop"] = long["base_value"] - target_values.ravel()
    return long[LAYER_COLUMNS].sort_values(["lang", "run_id", "target", "draw"], ignore_index=True)
