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

from mbp.spec import FinetuneSpec, spec_hash

SPREAD_COLUMNS = ["model", "task", "recipe", "seeds", "mean", "sd", "min", "max", "metric"]
SIBLING_COLUMNS = ["run_id", "model", "task", "lang", "method", "protocol", "seed_run_id",
                   "training_seed", "dev_value"]  # fmt: skip
LINE_INTERVAL_COLUMNS = ["model", "task", "lang", "protocol", "order_name", "seed", "fraction",
                         "training_seeds", "value", "low", "high", "drop", "drop_low",
                         "drop_high"]  # fmt: skip


#: The recipe's own seed (FinetuneSpec's default): the plan's seed-0 steps and every shipped run.
#: The charts prefer its runs, so runs of other seeds never silently replace them.
DEFAULT_TRAINING_SEED: int = FinetuneSpec.seed
#: SQL twin of `recipe_of`'s seed, over `k`, the checkpoints row of a run's `checkpoint`: a run on
#: no fine-tune, or on one not recorded, has the default seed.
TRAINING_SEED_SQL = ("coalesce(TRY_CAST(json_extract_string(k.spec_json, '$.seed') AS INTEGER), "
                     f"{DEFAULT_TRAINING_SEED})")  # fmt: skip


def recipe_of(spec_json: str) -> tuple[str, int]:
    """(the fine-tune's recipe key without its seed, the seed) from a checkpoint's spec JSON."""
    spec = json.loads(spec_json)
    seed = int(spec.pop("seed", DEFAULT_TRAINING_SEED))
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
            seeds.append(DEFAULT_TRAINING_SEED)
            continue
        # the fine-tune's recipe without its seed; a ranked order's importance run is scored
        # on each seed's own fine-tune, so it differs by seed too
        spec.update(checkpoint=recipe[0], importance="")
        lines.append(spec_hash(spec))
        seeds.append(recipe[1])
    return runs.assign(line=lines, training_seed=seeds)


def seed_siblings(
    runs: pd.DataFrame, checkpoints: pd.DataFrame, shown: Sequence[str]
) -> pd.DataFrame:
    """For each `shown` run (a chart's line) whose line has runs of other training seeds among
    `runs` (store.runs() rows), one row per training seed: the shown run, the run of that seed
    (the shown run for its own seed, else the newest), the seed and its fine-tune's dev score.
    Columns SIBLING_COLUMNS; lines of one seed have no rows."""
    lines = seed_lines(runs, checkpoints)
    if lines.empty:
        return pd.DataFrame(columns=SIBLING_COLUMNS)
    dev = dict(zip(checkpoints.get("ckpt_id", []), checkpoints.get("dev_value", []), strict=True))
    lines = lines.assign(
        dev_value=[dev.get(json.loads(s).get("checkpoint", "")) for s in lines["spec_json"]],
        is_shown=lines["run_id"].isin(list(shown)),
    ).sort_values(["is_shown", "updated_at"], ascending=False)
    rows = []
    for row in lines[lines["is_shown"]].itertuples():
        same = lines[lines["line"] == row.line].drop_duplicates("training_seed")
        if len(same) < 2:
            continue
        for sib in same.sort_values("training_seed").itertuples():
            rows.append([row.run_id, row.model, row.task, row.lang, row.method, row.protocol,
                         sib.run_id, int(sib.training_seed), sib.dev_value])  # fmt: skip
    return pd.DataFrame(rows, columns=SIBLING_COLUMNS).astype({"dev_value": float})


def seed_captions(siblings: pd.DataFrame) -> list[str]:
    """One line per shown line with several training seeds (`seed_siblings`): "e5-small · en ·
    importance: 3 training seeds: dev 0.80 ± 0.01 (chart: seed 0)" (mean ± sample sd of the
    fine-tunes' dev scores; the seed of the run the chart draws)."""
    out = []
    for (_, model, lang, method), part in siblings.groupby(
        ["run_id", "model", "lang", "method"], sort=True
    ):
        dev = part["dev_value"].dropna()
        score = (f"dev {dev.mean():.2f} ± {dev.std(ddof=1):.1g}" if len(dev) > 1
                 else "dev n/a")  # fmt: skip
        drawn = part.loc[part["seed_run_id"] == part["run_id"], "training_seed"]
        chart = f" (chart: seed {drawn.iloc[0]})" if len(drawn) else ""
        out.append(f"{model} · {lang} · {method}: {len(part)} training seeds: {score}{chart}")
    return out


def seed_line_intervals(store, run_ids: Sequence[str], *, metric: str,
                        draws: int = 2000) -> pd.DataFrame:  # fmt: skip
    """Hierarchical intervals (training seeds, then examples) of every curve point of the sweep
    `run_ids` whose line has several training seeds with outcomes: the seed-mean metric (value,
    low, high) and its paired drop from the same seeds' unpruned point (drop, drop_low,
    drop_high), both from `resampled.seed_mean_draws` (the claims' draws). Only points that
    every seed of the line stored, with their unpruned point, count. Columns
    LINE_INTERVAL_COLUMNS; lines of one seed have no rows (their examples-only intervals are
    `tables.curve_intervals`)."""
    from mbp.analysis.bootstrap import percentile_interval
    from mbp.analysis.resampled import seed_mean_draws

    if not run_ids:
        return pd.DataFrame(columns=LINE_INTERVAL_COLUMNS)
    runs = store.runs(run_id=list(run_ids))
    runs = seed_lines(runs[runs["kind"] == "sweep"], store.checkpoints())
    lines: dict[str, list[str]] = {}  # the line's lowest seed's run -> its run per seed
    for _, line in runs.groupby("line", sort=True):
        line = line.drop_duplicates("training_seed").sort_values("training_seed")
        if len(line) >= 2:
            lines[line["run_id"].iloc[0]] = line["run_id"].tolist()
    complete = _complete_points(store, lines)
    seeded = seed_mean_draws(store, lines, lambda run, key: key in complete[run], metric=metric,
                             draws=draws)  # fmt: skip
    first = runs.set_index("run_id")
    rows = []
    for run, got in seeded.items():
        line = first.loc[run]
        for key, samples in got.samples.items():
            order, seed, fraction = key.split("/")
            base = f"{order}/{seed}/0"
            value = percentile_interval(samples, got.estimates[key])
            # paired: the unpruned and the pruned point of every draw share its picks
            drop = percentile_interval(got.samples[base] - samples,
                                       got.estimates[base] - got.estimates[key])  # fmt: skip
            rows.append([line.model, line.task, line.lang, line.protocol, order, int(seed),
                         float(fraction), got.training_seeds, value.estimate, value.low,
                         value.high, drop.estimate, drop.low, drop.high])  # fmt: skip
    return pd.DataFrame(rows, columns=LINE_INTERVAL_COLUMNS)


def _complete_points(store, lines: dict[str, list[str]]) -> dict[str, set[str]]:
    """Per line (`seed_line_intervals`' lines): the outcomes keys every seed's run stored, each
    with its unpruned key (`order/seed/0`) also stored by every seed."""
    every = sorted({r for runs in lines.values() for r in runs})
    stored = store.sql("SELECT run_id, model_key FROM outcomes WHERE list_contains(?, run_id)",
                       [every]) if every else pd.DataFrame(columns=["run_id", "model_key"])  # fmt: skip
    keys = stored.groupby("run_id")["model_key"].agg(set).to_dict()
    out = {}
    for run, seed_runs in lines.items():
        common = set.intersection(*(keys.get(r, set()) for r in seed_runs))
        out[run] = {k for k in common if k.rsplit("/", 1)[0] + "/0" in common}
    return out


def multi_seed_sweeps(runs: pd.DataFrame, checkpoints: pd.DataFrame) -> dict[str, list[str]]:
    """task -> the sweep run ids (store.runs() rows) of lines with at least two training seeds."""
    lines = seed_lines(runs[runs["kind"] == "sweep"], checkpoints) if len(runs) else None
    if lines is None or lines.empty:
        return {}
    seeds = lines.groupby("line")["training_seed"].transform("nunique")
    several = lines[seeds >= 2]
    return {task: part["run_id"].tolist() for task, part in several.groupby("task", sort=True)}


def relative_seed_intervals(intervals: pd.DataFrame) -> pd.DataFrame:
    """`seed_line_intervals` rows in % of `unpruned`, the seed-mean unpruned score of the same
    line, order and order seed (fraction 0 included): drop, drop_low, drop_high the paired
    drop's, and value, low, high the score kept, 100 minus them (so the band stays the paired
    one, as the layer tables divide theirs). Rows without an unpruned score are left out; where
    it is 0, NaN. What the relative Pruning curves chart draws; `relative_seed_drops` the report's."""
    keys = ["model", "task", "lang", "protocol", "order_name", "seed"]
    if intervals.empty:
        return pd.DataFrame(columns=[*LINE_INTERVAL_COLUMNS, "unpruned"])
    base = intervals[intervals["fraction"] == 0][[*keys, "value"]]
    out = intervals.merge(base.rename(columns={"value": "unpruned"}), on=keys)
    scale = 100.0 / out["unpruned"].where(out["unpruned"] != 0)
    drop, drop_low, drop_high = (out[c] * scale for c in ("drop", "drop_low", "drop_high"))
    out = out.assign(drop=drop, drop_low=drop_low, drop_high=drop_high, value=100.0 - drop,
                     low=100.0 - drop_high, high=100.0 - drop_low)  # fmt: skip
    return out[[*LINE_INTERVAL_COLUMNS, "unpruned"]].reset_index(drop=True)


def relative_seed_drops(intervals: pd.DataFrame) -> pd.DataFrame:
    """`seed_line_intervals` rows as the relative drop at each pruned fraction: drop, low and
    high in % of the seed-mean unpruned score (`relative_seed_intervals`' drop columns)."""
    keys = ["model", "task", "lang", "protocol", "order_name", "seed"]
    columns = [*keys, "fraction", "training_seeds", "drop %", "low %", "high %"]
    out = relative_seed_intervals(intervals)
    out = out[out["fraction"] > 0].rename(
        columns={"drop": "drop %", "drop_low": "low %", "drop_high": "high %"}
    )
    return out[columns].sort_values([*keys, "fraction"], ignore_index=True)
