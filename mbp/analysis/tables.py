"""The dashboard's queries: small, aggregated frames computed in DuckDB SQL from the store.

Pages never load raw curve points: random seeds are reduced to mean/std/min/max per grid
fraction here, so a store with millions of rows still ships a few hundred rows to a chart.
Every function takes a `ResultsStore` and returns a pandas DataFrame (or a plain value); none
imports Streamlit, so they are tested and benchmarked without it.

    python -c "from mbp.store import ResultsStore; from mbp.analysis.tables import *;
    print(curve_summary(ResultsStore(), models=['e5-small'], task='xnli', langs=['en']))"

When several runs measure the same thing (same model, task, language and order), a pinned run
(`pinned=`, the dashboard's run picker) wins; else one fine-tuned with the recipe's default
training seed (runs of other seeds never replace it), then the one with the most evaluation
examples, then the one with the most finished cells, then the newest; pass `n_examples` to pick
another.
`chart_runs` lists the candidates of a chart with the ones it draws from marked, by that rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mbp.analysis.training_seeds import DEFAULT_TRAINING_SEED, TRAINING_SEED_SQL
from mbp.store import ResultsStore

_PREFERENCE = (f"train_seed <> {DEFAULT_TRAINING_SEED}, n_examples DESC NULLS LAST, "
               "cells_done DESC, updated_at DESC, run_id")  # fmt: skip
# the runs with their fine-tune's training seed (`train_seed`), what every chart choice reads
_RUNS = (f"(SELECT r.*, {TRAINING_SEED_SQL} AS train_seed FROM runs r LEFT JOIN checkpoints k "
         "ON k.ckpt_id = json_extract_string(r.spec_json, '$.checkpoint'))")  # fmt: skip


def _in(column: str, values: Sequence[Any] | None) -> tuple[str, list[Any]]:
    """` AND column IN (?, ...)` for a non-empty list; FALSE for an empty one; '' for None."""
    if values is None:
        return "", []
    values = list(values)
    if not values:
        return " AND FALSE", []
    return f" AND {column} IN ({', '.join('?' * len(values))})", values


def primary_metrics() -> dict[str, str]:
    """task -> its primary metric (accuracy, matthews, f1, spearman)."""
    from mbp.tasks import TASKS

    return {name: info.primary_metric for name, info in TASKS.items()}


def _primary_metric_sql() -> str:
    cases = " ".join(f"WHEN '{t}' THEN '{m}'" for t, m in primary_metrics().items())
    return f"CASE r.task {cases} ELSE 'accuracy' END"


# ----------------------------------------------------------------------------- what is stored


def store_inventory(store: ResultsStore) -> pd.DataFrame:
    """One row per (kind, model, task, lang) with run counts and example counts."""
    return store.sql(
        "SELECT kind, model, task, lang, count(*) AS runs, max(n_examples) AS n_examples, "
        "sum(cells_done) AS cells_done, sum(cells_total) AS cells_total "
        "FROM runs GROUP BY ALL ORDER BY model, task, lang, kind"
    )


def store_summary(store: ResultsStore) -> pd.DataFrame:
    """Per model and task: languages, run counts by kind, examples, devices, when computed."""
    return store.sql(
        "SELECT model, task, count(DISTINCT lang) AS n_langs, "
        "string_agg(DISTINCT lang, ' ' ORDER BY lang) AS langs, "
        "count(*) FILTER (WHERE kind = 'sweep') AS sweeps, "
        "count(*) FILTER (WHERE kind = 'importance') AS importance, "
        "count(*) FILTER (WHERE kind = 'layers') AS layers, "
        "max(n_examples) AS max_examples, "
        "string_agg(DISTINCT device, ', ' ORDER BY device) AS devices, "
        "count(*) FILTER (WHERE status <> 'done') AS unfinished, "
        "min(created_at) AS first_computed, max(updated_at) AS last_computed "
        "FROM runs GROUP BY model, task ORDER BY model, task"
    )


@dataclass(frozen=True)
class StoreTotals:
    """Headline numbers of a store."""

    runs: int
    models: int
    tasks: int
    langs: int
    curve_points: int
    first_computed: datetime | None
    last_computed: datetime | None
    devices: tuple[str, ...]
    running: int


def plan_progress(store: ResultsStore) -> pd.DataFrame:
    """The paper reproduction plan (`mbp precompute`), one row per step: runs done/unfinished/
    not started, how many have per-example outcomes (`outcomes`) and the step's state, from the
    stored runs."""
    from mbp.experiments.plan import (
        paper_plan,
        plan_status,
        store_runs_with_cell_seconds,
        with_outcome_flags,
    )

    runs = with_outcome_flags(store_runs_with_cell_seconds(store), store.outcome_run_ids())
    return pd.DataFrame(plan_status(runs, paper_plan()))


def runs_with_outcomes(store: ResultsStore, run_ids: Sequence[str]) -> int:
    """How many of `run_ids` have any per-example outcome row (the Overview's cached count)."""
    return len(store.outcome_run_ids(run_ids))


def store_totals(store: ResultsStore) -> StoreTotals:
    row = store.sql(
        "SELECT count(*) AS runs, count(DISTINCT model) AS models, count(DISTINCT task) AS tasks, "
        "count(DISTINCT lang) AS langs, min(created_at) AS first, max(updated_at) AS last, "
        "list(DISTINCT device ORDER BY device) FILTER (WHERE device IS NOT NULL) AS devices, "
        "count(*) FILTER (WHERE status = 'running') AS running, "
        "(SELECT count(*) FROM curve_points) AS points FROM runs"
    ).iloc[0]

    def when(value: Any) -> datetime | None:
        return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    devices = row["devices"]
    devices = () if devices is None or not hasattr(devices, "__len__") else tuple(devices)
    return StoreTotals(
        runs=int(row["runs"]),
        models=int(row["models"]),
        tasks=int(row["tasks"]),
        langs=int(row["langs"]),
        curve_points=int(row["points"]),
        first_computed=when(row["first"]),
        last_computed=when(row["last"]),
        devices=devices,
        running=int(row["running"]),
    )


def curve_metrics(store: ResultsStore, task: str, models: Sequence[str] | None = None) -> list[str]:
    """Metric names stored for `task`'s sweeps (primary metric first)."""
    where, params = _in("r.model", models)
    frame = store.sql(
        "SELECT DISTINCT c.metric FROM curve_points c JOIN runs r USING (run_id) "
        f"WHERE r.kind = 'sweep' AND r.task = ?{where} ORDER BY c.metric",
        [task, *params],
    )
    metrics = frame["metric"].tolist()
    primary = primary_metrics().get(task)
    return sorted(metrics, key=lambda m: (m != primary, m))


def example_counts(
    store: ResultsStore,
    kind: str,
    task: str,
    models: Sequence[str],
    *,
    langs: Sequence[str] | None = None,
    protocol: str | None = None,
) -> list[int]:
    """Distinct evaluation example counts of `kind` runs for `task` and `models` (largest
    first), among the given languages and protocol (None: any)."""
    where, params = _in("model", models)
    for column, values in (("lang", langs), ("protocol", [protocol] if protocol else None)):
        clause, vals = _in(column, values)
        where += clause
        params += vals
    frame = store.sql(
        "SELECT DISTINCT n_examples FROM runs WHERE kind = ? AND task = ? "
        f"AND n_examples IS NOT NULL{where} ORDER BY n_examples DESC",
        [kind, task, *params],
    )
    return [int(n) for n in frame["n_examples"]]


# ----------------------------------------------------------------------------- pruning curves


# which runs of a kind are one chart line (or heatmap row): the rest of the key is filtered
_PARTITIONS = {
    "sweep": "model, task, lang, method, protocol",
    "layers": "model, task, lang, protocol",
    "importance": "model, task, lang, method",
}


def _chosen_runs_sql(kind: str, extra: str) -> str:
    """One run per chart line of `kind` among those `extra` keeps: a pinned run (the list
    parameter that follows `extra`'s parameters) first, else by _PREFERENCE. The one rule
    behind every chart query and `chart_runs`."""
    return (
        f"SELECT run_id, model, task, lang, method, n_examples, protocol FROM {_RUNS} "
        f"WHERE kind = '{kind}'{extra} "
        f"QUALIFY row_number() OVER (PARTITION BY {_PARTITIONS[kind]} "
        f"ORDER BY list_contains(?::VARCHAR[], run_id) DESC, {_PREFERENCE}) = 1"
    )


def _examples_clause(n_examples: int | None, pins: list[str]) -> tuple[str, list[Any]]:
    """Keep runs of `n_examples` evaluation examples (None: any) and every pinned run; the
    parameters end with the pinned list `_chosen_runs_sql` orders by."""
    if n_examples is None:
        return "", [pins]
    return (" AND (n_examples = ? OR list_contains(?::VARCHAR[], run_id))",
            [int(n_examples), pins, pins])  # fmt: skip


def chart_runs(
    store: ResultsStore,
    *,
    kind: str,
    task: str | None = None,
    models: Sequence[str] | None = None,
    langs: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    protocol: str | None = None,
    n_examples: int | None = None,
    pinned: Sequence[str] = (),
) -> pd.DataFrame:
    """Every stored `kind` run a chart of `task` (None: any) could draw from, `shown` marking the ones it
    does draw from (by `_chosen_runs_sql`, the charts' own rule) and `pinned` the picked ones.

    Columns: run_id, model, task, lang, method, protocol, n_examples, seeds, status, cells_done,
    cells_total, created_at, checkpoint (the fine-tune it rests on), train_seed (its training
    seed), weights_sha256, dev_value, shown, pinned; shown runs first, then newest."""
    if kind not in _PARTITIONS:
        raise ValueError(f"kind {kind!r} is not one of {list(_PARTITIONS)}")
    extra, params = ("", []) if task is None else (" AND task = ?", [task])
    for column, values in (("model", models), ("lang", langs), ("method", methods),
                           ("protocol", None if protocol is None else [protocol])):  # fmt: skip
        clause, vals = _in(column, values)
        extra += clause
        params += vals
    pins = list(pinned)
    examples, examples_params = _examples_clause(n_examples, pins)
    chosen_params = [*params, *examples_params]
    return store.sql(
        f"""
        WITH chosen AS ({_chosen_runs_sql(kind, extra + examples)}),
        candidates AS (SELECT * FROM {_RUNS} WHERE kind = '{kind}'{extra})
        SELECT r.run_id, r.model, r.task, r.lang, r.method, r.protocol, r.n_examples, r.seeds,
               r.status,
               r.cells_done, r.cells_total, r.created_at,
               json_extract_string(r.spec_json, '$.checkpoint') AS checkpoint, r.train_seed,
               k.weights_sha256, k.dev_value,
               r.run_id IN (SELECT run_id FROM chosen) AS shown,
               list_contains(?::VARCHAR[], r.run_id) AS pinned
        FROM candidates r
        LEFT JOIN checkpoints k ON k.ckpt_id = json_extract_string(r.spec_json, '$.checkpoint')
        ORDER BY shown DESC, r.model, r.task, r.lang, r.method, r.protocol, r.created_at DESC
        """,
        [*chosen_params, *params, pins],
    )


def curve_summary(
    store: ResultsStore,
    *,
    models: Sequence[str] | None = None,
    task: str | None = None,
    langs: Sequence[str] | None = None,
    metric: str | None = None,
    orders: Sequence[str] | None = None,
    n_examples: int | None = None,
    protocol: str | None = "posthoc",
    pinned: Sequence[str] = (),
) -> pd.DataFrame:
    """Pruning curves reduced over seeds, one row per (model, task, lang, protocol, order,
    fraction).

    Columns: model, task, lang, protocol, order_name, fraction, heads_pruned, n_seeds, mean,
    std, min, max, base (the unpruned score of the same model/task/lang under the same
    protocol: the mean value at fraction 0), n_examples, metric, flops_saved and params_saved
    (% of the unpruned model's encoder FLOPs per example and parameters; NaN where the points
    carry no counts: `mbp costs`), speedup (measured `mbp latency` speed-up of the pruned
    models, mean over seeds; 1 unpruned; NaN unless every seed's head set was timed). `metric=None` takes each task's
    primary metric; `protocol=None` keeps both protocols; `pinned` run ids replace the
    preferred run of their line (`chart_runs` lists which runs the curves come from).
    """
    extra, params = "", []
    protocols = None if protocol is None else [protocol]
    for column, values in (("model", models), ("lang", langs), ("method", orders),
                           ("protocol", protocols)):  # fmt: skip
        clause, vals = _in(column, values)
        extra += clause
        params += vals
    if task is not None:
        extra += " AND task = ?"
        params.append(task)
    examples, examples_params = _examples_clause(n_examples, list(pinned))
    params += examples_params
    metric_sql = "?" if metric is not None else _primary_metric_sql()
    if metric is not None:
        params.append(metric)
    query = f"""
        WITH r AS ({_chosen_runs_sql("sweep", extra + examples)}),
        pts AS (
            SELECT r.model, r.task, r.lang, r.protocol, c.order_name, c.seed, c.fraction,
                   c.heads_pruned, c.value, c.n_examples, c.metric,
                   100 * (1 - c.flops / c.flops_full) AS flops_saved,
                   100 * (1 - c.params / c.params_full) AS params_saved,
                   CASE WHEN c.pruned_heads = '[]' THEN 1.0 ELSE l.speedup END AS speedup
            FROM curve_points c JOIN r USING (run_id)
            LEFT JOIN (SELECT run_id, pruned_heads, median(speedup) AS speedup FROM latency
                       GROUP BY run_id, pruned_heads) l USING (run_id, pruned_heads)
            WHERE c.metric = {metric_sql}
        ),
        agg AS (
            SELECT model, task, lang, protocol, order_name, fraction,
                   CAST(round(avg(heads_pruned)) AS INTEGER) AS heads_pruned,
                   count(*) AS n_seeds, avg(value) AS mean, stddev_samp(value) AS std,
                   min(value) AS min, max(value) AS max, max(n_examples) AS n_examples,
                   any_value(metric) AS metric, avg(flops_saved) AS flops_saved,
                   avg(params_saved) AS params_saved,
                   CASE WHEN count(speedup) = count(*) THEN avg(speedup) END AS speedup
            FROM pts GROUP BY model, task, lang, protocol, order_name, fraction
        ),
        base AS (
            SELECT model, task, lang, protocol, avg(value) AS base FROM pts WHERE fraction = 0
            GROUP BY model, task, lang, protocol
        )
        SELECT agg.model, agg.task, agg.lang, agg.protocol, agg.order_name, agg.fraction,
               agg.heads_pruned, agg.n_seeds, agg.mean, agg.std, agg.min, agg.max, base.base,
               agg.n_examples, agg.metric, agg.flops_saved, agg.params_saved, agg.speedup
        FROM agg LEFT JOIN base USING (model, task, lang, protocol)
        ORDER BY agg.model, agg.task, agg.lang, agg.protocol, agg.order_name, agg.fraction
    """
    frame = store.sql(query, params)
    return frame.astype({"n_seeds": "int64"}) if len(frame) else frame


# ----------------------------------------------------------------------------- layers and heads


def layer_drops(
    store: ResultsStore,
    *,
    model: str,
    task: str,
    metric: str | None = None,
    langs: Sequence[str] | None = None,
    protocol: str = "posthoc",
    pinned: Sequence[str] = (),
) -> pd.DataFrame:
    """Drop per (lang, target) for `model` on `task` under `protocol`: columns lang, target,
    drop, base_value, value, relative_drop (drop / base_value), n_examples, metric, run_id.
    `pinned` run ids replace the preferred run of their language."""
    extra = " AND model = ? AND task = ? AND protocol = ?"
    clause, vals = _in("lang", langs)
    params: list[Any] = [model, task, protocol, *vals, list(pinned)]
    metric_sql = "?" if metric is not None else _primary_metric_sql()
    if metric is not None:
        params.append(metric)
    return store.sql(
        f"""
        WITH r AS ({_chosen_runs_sql("layers", extra + clause)})
        SELECT r.lang, l.target, l."drop" AS "drop", l.base_value, l.value,
               l."drop" / nullif(l.base_value, 0) AS relative_drop, r.n_examples, l.metric,
               r.run_id
        FROM layer_importance l JOIN r USING (run_id)
        WHERE l.metric = {metric_sql}
        ORDER BY r.lang, l.target
        """,
        params,
    )


def layer_models(store: ResultsStore, protocol: str | None = None) -> pd.DataFrame:
    """(model, task, n_langs) that have layer-wise runs (under `protocol`, or any)."""
    where, params = ("AND protocol = ? ", [protocol]) if protocol else ("", [])
    return store.sql(
        "SELECT model, task, count(DISTINCT lang) AS n_langs FROM runs WHERE kind = 'layers' "
        f"{where}GROUP BY model, task ORDER BY n_langs DESC, model, task",
        params,
    )


def protocols(store: ResultsStore) -> list[str]:
    """The protocols of the stored sweep and layer-wise runs, the paper's first."""
    from mbp.engine.names import PROTOCOLS

    rows = store.sql("SELECT DISTINCT protocol FROM runs WHERE kind <> 'importance'")
    have = set(rows["protocol"].dropna()) if len(rows) else set()
    return [p for p in sorted(PROTOCOLS, key=lambda p: p != "retrain") if p in have]


def importance_models(store: ResultsStore) -> pd.DataFrame:
    """(model, task, n_langs, estimators) that have head-importance runs."""
    return store.sql(
        "SELECT model, task, count(DISTINCT lang) AS n_langs, "
        "list(DISTINCT method ORDER BY method) AS estimators "
        "FROM runs WHERE kind = 'importance' GROUP BY model, task ORDER BY n_langs DESC, model"
    )


def head_scores(
    store: ResultsStore,
    *,
    model: str,
    task: str,
    langs: Sequence[str] | None = None,
    estimator: str | None = None,
    pinned: Sequence[str] = (),
) -> pd.DataFrame:
    """Head importance: lang, layer, head, score, estimator, normalization, n_examples, run_id.
    `pinned` run ids replace the preferred run of their language."""
    extra = " AND model = ? AND task = ?"
    clause, vals = _in("lang", langs)
    params: list[Any] = [model, task, *vals]
    if estimator is not None:
        clause += " AND method = ?"
        params.append(estimator)
    params.append(list(pinned))
    return store.sql(
        f"""
        WITH r AS ({_chosen_runs_sql("importance", extra + clause)})
        SELECT r.lang, h.layer, h.head, h.score, h.estimator, h.normalization, h.n_examples,
               r.run_id
        FROM head_importance h JOIN r USING (run_id)
        ORDER BY r.lang, h.layer, h.head
        """,
        params,
    )


def rank_correlations(
    scores: pd.DataFrame, lang_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Language x language Spearman correlation of head-importance scores over the shared heads."""
    if scores.empty or scores["lang"].nunique() < 2:
        return pd.DataFrame()
    wide = scores.pivot_table(index=["layer", "head"], columns="lang", values="score")
    order = [lang for lang in (lang_order or sorted(wide.columns)) if lang in wide.columns]
    wide = wide[order].dropna()
    return wide.rank().corr(method="pearson")


# ----------------------------------------------------------------------------- languages


def language_table() -> pd.DataFrame:
    """XNLI language metadata (mbp.tasks.LANGUAGES) as a frame indexed by code."""
    from mbp.tasks import LANGUAGES

    rows = [
        {
            "lang": info.code,
            "name": info.name,
            "family": info.family,
            "genus": info.genus,
            "word_order": info.word_order,
            "morphology": info.morphology,
            "script": info.script,
            "wiki_articles": info.wiki_articles,
            "resource": info.resource,
        }
        for info in LANGUAGES.values()
    ]
    return pd.DataFrame(rows).set_index("lang", drop=False)


def group_reliance(
    drops: pd.DataFrame, keys: Sequence[str] = ("lang",), draws: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per language: drop of the bottom, middle and top thirds and reliance = bottom - top.

    Columns lang, bottom, middle, top, reliance (metric units x100 = points), base_value,
    n_examples; `keys` adds grouping columns before lang (("draw", "lang"): per resample).
    Given `draws` (`resampled.layer_draws`, in the units of `drops`), also reliance_low and
    reliance_high: reliance's 95 % interval over those resamples, both thirds' drops on the
    same resampled examples (paired); NaN for a language without outcomes.
    """
    keys = list(keys)
    columns = [*keys, "bottom", "middle", "top", "reliance", "base_value", "n_examples"]
    groups = drops[drops["target"].astype(str).str.startswith("group:")] if len(drops) else drops
    if groups.empty:
        out = pd.DataFrame(columns=columns)
    else:
        wide = groups.pivot_table(index=keys, columns="target", values="drop") * 100.0
        wide.columns = [c.split(":", 1)[1] for c in wide.columns]
        for name in ("bottom", "middle", "top"):
            if name not in wide.columns:
                wide[name] = np.nan
        wide["reliance"] = wide["bottom"] - wide["top"]
        wide["base_value"] = groups.groupby(keys)["base_value"].first()
        wide["n_examples"] = groups.groupby(keys)["n_examples"].max()
        out = wide.reset_index()[columns]
    if draws is None:
        return out
    from mbp.analysis.resampled import draw_intervals

    per_draw = group_reliance(draws, keys=("draw", *keys)) if len(draws) else None
    bounds = (
        draw_intervals(per_draw, keys, "reliance")
        if per_draw is not None
        else pd.DataFrame(columns=[*keys, "reliance_low", "reliance_high"])
    )
    return out.merge(bounds, on=keys, how="left").astype(
        {"reliance_low": float, "reliance_high": float}
    )


# ----------------------------------------------------------------------------- runs & live runs


def runs_frame(store: ResultsStore, **filters: Any) -> pd.DataFrame:
    """The runs table without the bulky JSON columns, newest first."""
    frame = store.runs(**{k: v for k, v in filters.items() if v})
    keep = [
        "run_id", "kind", "model", "task", "lang", "method", "protocol", "n_examples", "status",
        "cells_done", "cells_total", "device", "elapsed_s", "created_at", "updated_at",
        "command", "code_commit", "error",
    ]  # fmt: skip
    frame = frame[[c for c in keep if c in frame.columns]]
    return frame.sort_values("updated_at", ascending=False).reset_index(drop=True)


def rows_for_runs(store: ResultsStore, table: str, run_ids: Sequence[str]) -> pd.DataFrame:
    """All rows of `table` (curve_points, head_importance, layer_importance) for `run_ids`,
    with the run's model/task/lang/method."""
    getter = {
        "curve_points": store.curve_points,
        "head_importance": store.head_importance,
        "layer_importance": store.layer_importance,
    }
    if table not in getter:
        raise ValueError(f"table {table!r} is not one of {list(getter)}")
    if not run_ids:
        return getter[table](run_ids=[])
    return getter[table](run_ids=list(run_ids))


def seconds_per_example(store: ResultsStore, model: str, device: str | None = None) -> float | None:
    """Median measured seconds per evaluated example and sweep cell for `model` (None if none)."""
    clause, params = ("", []) if not device else (" AND r.device = ?", [device])
    frame = store.sql(
        "SELECT median(c.elapsed_s / r.n_examples) AS s FROM cells c JOIN runs r USING (run_id) "
        "WHERE r.kind = 'sweep' AND r.model = ? AND r.n_examples > 0 AND c.elapsed_s > 0"
        f"{clause}",
        [model, *params],
    )
    value = frame["s"].iloc[0] if len(frame) else None
    return None if value is None or pd.isna(value) else float(value)


def prunability_table(summary: pd.DataFrame, keep: float = 0.9) -> pd.DataFrame:
    """Per (model, lang, protocol, order): the unpruned score, the score at 50 % pruned, and the
    largest pruned fraction up to which every grid point keeps at least `keep` of the unpruned
    score."""
    rows = []
    if "protocol" not in summary.columns:
        summary = summary.assign(protocol="posthoc")
    keys = ["model", "lang", "protocol", "order_name"]
    for (model, lang, protocol, order), part in summary.groupby(keys, sort=True):
        part = part.sort_values("fraction")
        base = part["base"].iloc[0]
        ok = part["mean"] >= keep * base if pd.notna(base) else pd.Series(False, index=part.index)
        failing = part.loc[~ok, "fraction"]
        limit = part.loc[
            ok & (part["fraction"] < (failing.min() if len(failing) else 2)), "fraction"
        ]
        at_half = part.loc[(part["fraction"] - 0.5).abs() < 1e-6, "mean"]
        rows.append(
            {
                "model": model,
                "lang": lang,
                "protocol": protocol,
                "order": order,
                "unpruned": base,
                "at 50% pruned": float(at_half.iloc[0]) if len(at_half) else np.nan,
                f"prunable keeping {keep:.0%}": float(limit.max()) if len(limit) else 0.0,
                "seeds": int(part["n_seeds"].max()),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- intervals


def curve_intervals(
    store: ResultsStore, run_ids: Sequence[str], *, metric: str, level: float = 0.95
) -> pd.DataFrame:
    """Bootstrap intervals of the curve points of `run_ids` from their stored outcomes, one row
    per (run, order, seed, fraction) that has outcomes: run_id, order_name, seed, fraction,
    value, low, high (the metric's interval) and drop, drop_low, drop_high (unpruned minus
    pruned, paired: the same resampled examples for the point and the run's unpruned point of
    the same order and seed). The resampled scores are `resampled.point_draws`, the ones the
    claims use, on `bootstrap.DRAWS` resamples. Runs stored before outcomes were (schema < 6)
    have no rows."""
    from mbp.analysis.bootstrap import DRAWS, percentile_interval
    from mbp.analysis.resampled import point_draws

    columns = ["run_id", "order_name", "seed", "fraction", "value", "low", "high", "drop",
               "drop_low", "drop_high"]  # fmt: skip
    points = store.curve_points(run_ids=list(run_ids), metric=metric) if run_ids else None
    if points is None or points.empty:
        return pd.DataFrame(columns=columns)
    scored = point_draws(store, points, draws=DRAWS, seed=0)
    found = scored.points
    unpruned = {(r, o, s): i for i, (r, o, s, f) in enumerate(zip(
        found["run_id"], found["order_name"], found["seed"], found["fraction"], strict=True))
        if f == 0}  # fmt: skip
    rows = []
    for i, point in enumerate(found.itertuples()):
        value = percentile_interval(scored.values[i], scored.estimates[i], level)
        base = unpruned.get((point.run_id, point.order_name, point.seed))
        drop = (
            percentile_interval(scored.values[base] - scored.values[i],
                                scored.estimates[base] - scored.estimates[i], level)
            if base is not None
            else None
        )  # fmt: skip
        rows.append([point.run_id, point.order_name, point.seed, point.fraction,
                     value.estimate, value.low, value.high,
                     *(astuple(drop)[:3] if drop else (np.nan,) * 3)])  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def attach_intervals(
    summary: pd.DataFrame, intervals: pd.DataFrame, runs: pd.DataFrame
) -> pd.DataFrame:
    """`summary` (curve_summary) with ci_low / ci_high: the bootstrap interval over examples
    of each point of a one-seed series (`curve_intervals` of the shown `runs`, chart_runs);
    random orders over several seeds keep their seed band instead (NaN here)."""
    keys = ["model", "lang", "protocol", "order_name", "fraction"]
    out = summary.drop(columns=["ci_low", "ci_high"], errors="ignore")
    if intervals.empty or summary.empty:
        return out.assign(ci_low=np.nan, ci_high=np.nan)
    meta = runs[["run_id", "model", "lang", "protocol"]]
    per_point = intervals.merge(meta, on="run_id").groupby(keys, as_index=False).agg(
        ci_low=("low", "first"), ci_high=("high", "first"), seeds=("seed", "nunique")
    )  # fmt: skip
    per_point = per_point[per_point["seeds"] == 1].drop(columns="seeds")
    merged = out.merge(per_point, on=keys, how="left")
    one_seed = merged["n_seeds"] == 1
    merged.loc[~one_seed, ["ci_low", "ci_high"]] = np.nan
    return merged


def layer_intervals(
    store: ResultsStore, run_ids: Sequence[str], *, metric: str, level: float = 0.95
) -> pd.DataFrame:
    """Paired bootstrap intervals of the layer drops of `run_ids` from their stored outcomes:
    one row per (run, target) whose model and the run's unpruned model both have outcomes:
    run_id, target, drop, drop_low, drop_high (unpruned minus pruned, both scored on the same
    resampled examples by `resampled.score_outcomes`, as the claims' layer draws are, on
    `bootstrap.DRAWS` resamples). Runs stored before outcomes were (schema < 6) have no rows."""
    from mbp.analysis.bootstrap import DRAWS, percentile_interval
    from mbp.analysis.resampled import score_outcomes
    from mbp.store.outcomes import UNPRUNED

    columns = ["run_id", "target", "drop", "drop_low", "drop_high"]
    outcomes = store.outcomes(run_ids=list(run_ids)) if run_ids else pd.DataFrame()
    if outcomes.empty:
        return pd.DataFrame(columns=columns)
    base = outcomes[outcomes["model_key"] == UNPRUNED][["run_id", "n_examples"]]
    # a sweep's or importance run's outcomes have no unpruned model; other examples, no pairing
    models = outcomes.merge(base, on=["run_id", "n_examples"]).assign(metric=metric)
    values, estimates = score_outcomes(models, DRAWS, 0)
    at = {r: i for i, (r, k) in enumerate(zip(models["run_id"], models["model_key"],
                                              strict=True)) if k == UNPRUNED}  # fmt: skip
    rows = []
    for i, (run_id, key) in enumerate(zip(models["run_id"], models["model_key"], strict=True)):
        if key == UNPRUNED:
            continue
        b = at[run_id]
        drop = percentile_interval(values[b] - values[i], estimates[b] - estimates[i], level)
        rows.append([run_id, key, drop.estimate, drop.low, drop.high])
    return pd.DataFrame(rows, columns=columns).sort_values(["run_id", "target"],
                                                           ignore_index=True)  # fmt: skip


def attach_layer_intervals(drops: pd.DataFrame, intervals: pd.DataFrame) -> pd.DataFrame:
    """`drops` (layer_drops) with each drop's paired interval (`layer_intervals`): drop_low,
    drop_high, the same divided by the unpruned score (relative_low, relative_high), and
    within_noise: the interval includes 0 (False where the run has no outcomes)."""
    out = drops.drop(columns=["drop_low", "drop_high", "relative_low", "relative_high",
                              "within_noise"], errors="ignore")  # fmt: skip
    found = intervals[["run_id", "target", "drop_low", "drop_high"]] if len(intervals) else None
    if found is None or out.empty:
        out = out.assign(drop_low=np.nan, drop_high=np.nan)
    else:
        out = out.merge(found, on=["run_id", "target"], how="left")
    base = out["base_value"].where(out["base_value"] != 0)
    return out.assign(
        relative_low=out["drop_low"] / base,
        relative_high=out["drop_high"] / base,
        within_noise=(out["drop_low"] <= 0) & (out["drop_high"] >= 0),
    )


def seed_spread(store: ResultsStore, *, model: str, task: str) -> pd.DataFrame:
    """How far one seed's score spreads (sample standard deviation, metric units), per source:
    - "random order": across the random-order seeds of one sweep run at the same pruned
      fraction (0 < f < 1), the median over those fractions and runs: what a run's random
      seeds average away;
    - "fine-tuning": the fine-tuned dev score across seeds of one recipe (checkpoints of the
      task's training task that differ only in seed, no heads pruned), the recipe with most
      seeds: what a second fine-tune could change.
    Columns source, sd, seeds (the most seeds behind one spread), values (spreads the median
    is over); a source with no two seeds stored has no row."""
    import json

    from mbp.tasks import TASKS

    columns = ["source", "sd", "seeds", "values"]
    rows = []
    random = store.sql(
        f"""
        WITH per AS (
            SELECT c.run_id, c.fraction, stddev_samp(c.value) AS sd,
                   count(DISTINCT c.seed) AS seeds
            FROM curve_points c JOIN runs r USING (run_id)
            WHERE r.kind = 'sweep' AND r.model = ? AND r.task = ? AND c.order_name = 'random'
              AND c.fraction > 0 AND c.fraction < 1 AND c.metric = {_primary_metric_sql()}
            GROUP BY c.run_id, c.fraction HAVING count(DISTINCT c.seed) >= 2
        )
        SELECT median(sd) AS sd, max(seeds) AS seeds, count(*) AS n FROM per
        """,
        [model, task],
    )
    if len(random) and int(random["n"].iloc[0]) > 0:
        rows.append(["random order", float(random["sd"].iloc[0]), int(random["seeds"].iloc[0]),
                     int(random["n"].iloc[0])])  # fmt: skip
    train_task = TASKS[task].train_task if task in TASKS else task
    ckpts = store.checkpoints()
    if len(ckpts):
        ckpts = ckpts[(ckpts["model"] == model) & (ckpts["task"] == train_task)]
    recipes: dict[str, dict[int, float]] = {}
    for spec_json, value in zip(ckpts.get("spec_json", []), ckpts.get("dev_value", []),
                                strict=True):  # fmt: skip
        spec = json.loads(spec_json)
        if spec.get("pruned_heads") or value is None or pd.isna(value):
            continue
        seed = int(spec.pop("seed", 0))
        recipes.setdefault(json.dumps(spec, sort_keys=True), {})[seed] = float(value)
    best = max(recipes.values(), key=len, default={})
    if len(best) >= 2:
        rows.append(["fine-tuning", float(np.std(list(best.values()), ddof=1)), len(best), 1])
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------- training seeds


def training_seed_lines(
    store: ResultsStore, run_ids: Sequence[str], kind: str = "sweep"
) -> pd.DataFrame:
    """For the shown `kind` runs `run_ids`, their lines' runs of every stored training seed
    (`training_seeds.seed_siblings`; lines of one seed have no rows)."""
    from mbp.analysis.training_seeds import SIBLING_COLUMNS, seed_siblings

    shown = store.runs(run_id=list(run_ids)) if len(run_ids) else None
    if shown is None or shown.empty:
        return pd.DataFrame(columns=SIBLING_COLUMNS)
    candidates = store.runs(kind=kind, model=sorted(set(shown["model"])),
                            task=sorted(set(shown["task"])))  # fmt: skip
    return seed_siblings(candidates, store.checkpoints(), list(run_ids))


def training_seed_curves(
    store: ResultsStore, run_ids: Sequence[str], *, metric: str
) -> pd.DataFrame:
    """Each run's curve (mean over its order seeds) with its training seed: model, task, lang,
    protocol, order_name, training_seed, fraction, value."""
    from mbp.analysis.training_seeds import seed_lines

    columns = ["model", "task", "lang", "protocol", "order_name", "training_seed", "fraction",
               "value"]  # fmt: skip
    points = store.curve_points(run_ids=list(run_ids), metric=metric) if run_ids else None
    if points is None or points.empty:
        return pd.DataFrame(columns=columns)
    runs = seed_lines(store.runs(run_id=list(run_ids)), store.checkpoints())
    points = points.drop(columns=["model", "task", "lang"]).merge(
        runs[["run_id", "model", "task", "lang", "protocol", "training_seed"]], on="run_id"
    )  # fmt: skip
    return points.groupby(columns[:-1], as_index=False)["value"].mean()[columns]


def training_seed_intervals(
    store: ResultsStore, run_ids: Sequence[str], *, metric: str
) -> pd.DataFrame:
    """`training_seeds.seed_line_intervals`: hierarchical intervals (training seeds, then
    examples) of the lines of `run_ids` that have several training seeds."""
    from mbp.analysis.training_seeds import seed_line_intervals

    return seed_line_intervals(store, list(run_ids), metric=metric)
