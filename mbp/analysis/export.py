"""Downloads in the dashboard's numbering: layers and heads count from 1, as every chart does.

The store keeps 0-based `layer`, `head`, `layer:N` targets and `[layer, head]` pairs (the
engine's indices); a download renames those columns with "(1-based)" and adds 1, so a number in
a CSV means the same layer as on screen. `download_frame` adds each value's bootstrap interval
where the runs stored per-example outcomes (`with_intervals`), and offers one derived table,
`layer_reliance` (`reliance_frame`): each layer-wise run's reliance on its bottom layers with
its paired interval.

    python -c "import pandas as pd; from mbp.analysis.export import one_based; \
print(one_based('head_importance', pd.DataFrame({'layer': [0], 'head': [3]})))"
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

#: store column -> its name in a download
RENAMED = {
    "layer": "layer (1-based)",
    "head": "head (1-based)",
    "target": "target (layers 1-based)",
    "layers": "layers (1-based)",
    "pruned_heads": "pruned_heads ([layer, head], 1-based)",
}


def _shift(value, by: int = 1):
    """+1 on every integer in a number, a list, or JSON text of (nested) lists."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return json.dumps(_shift(parsed, by))
    if isinstance(value, list | tuple):
        return [_shift(v, by) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, int | float):
        return _shift(value.tolist(), by)
    if isinstance(value, int) and not isinstance(value, bool):
        return value + by
    return value


def _target(value):
    """`layer:0` -> `layer:1`; groups (`group:bottom`) stay as they are."""
    kind, _, number = str(value).partition(":")
    return f"layer:{int(number) + 1}" if kind == "layer" and number.isdigit() else value


def one_based(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rows of store table `table`) with layer and head numbers from 1, in renamed
    columns (`RENAMED`); other tables and columns pass through unchanged."""
    out = frame.copy()
    if table == "head_importance":
        for column in ("layer", "head"):
            if column in out:
                out[column] = out[column] + 1
    elif table == "layer_importance":
        if "target" in out:
            out["target"] = out["target"].map(_target)
        if "layers" in out:
            out["layers"] = out["layers"].map(_shift)
    elif table == "curve_points":
        if "pruned_heads" in out:
            out["pruned_heads"] = out["pruned_heads"].map(_shift)
    else:
        return out
    return out.rename(columns={c: n for c, n in RENAMED.items() if c in out.columns})


#: table -> the interval columns `with_intervals` adds (NaN where a run has no outcomes)
INTERVAL_COLUMNS = {
    "layer_importance": ["drop_low", "drop_high"],
    "curve_points": ["value_low", "value_high", "drop_low", "drop_high"],
}


def with_intervals(store, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rows of store table `table`, 0-based) with 95 % bootstrap intervals from the
    runs' stored outcomes: a layer drop's paired interval (drop_low, drop_high); a curve
    point's value interval (value_low, value_high) and the paired interval of its drop from
    the unpruned point (drop_low, drop_high). NaN where a run predates outcomes (schema < 6);
    other tables pass through."""
    from mbp.analysis.tables import curve_intervals, layer_intervals

    if table not in INTERVAL_COLUMNS:
        return frame
    columns = INTERVAL_COLUMNS[table]
    if frame.empty:
        return frame.assign(**{c: np.nan for c in columns})
    run_ids = sorted(frame["run_id"].unique())
    keys = ["run_id", "target"] if table == "layer_importance" else [
        "run_id", "order_name", "seed", "fraction"]  # fmt: skip
    parts = []
    for metric in sorted(frame["metric"].unique()):
        if table == "layer_importance":
            found = layer_intervals(store, run_ids, metric=metric)
        else:
            found = curve_intervals(store, run_ids, metric=metric).rename(
                columns={"low": "value_low", "high": "value_high"}
            )
        parts.append(found[[*keys, *columns]].assign(metric=metric))
    found = pd.concat(parts, ignore_index=True)
    if found.empty:  # runs from before outcomes: say nothing rather than merge on no rows
        return frame.assign(**{c: np.nan for c in columns})
    return frame.merge(found, on=[*keys, "metric"], how="left")


RELIANCE_COLUMNS = ["run_id", "model", "task", "lang", "protocol", "bottom", "middle", "top",
                    "reliance", "reliance_low", "reliance_high", "base_value", "n_examples"]  # fmt: skip


def reliance_frame(store, run_ids: list[str]) -> pd.DataFrame:
    """Per layer-wise run of `run_ids` that removed the thirds of the layers: the thirds'
    drops and reliance = drop(bottom) - drop(top), in points of the task's primary metric
    (`tables.group_reliance`), with reliance_low / reliance_high: its 95 % paired interval
    over resampled examples (`resampled.run_layer_draws`), NaN where a run predates outcomes."""
    from mbp.analysis.resampled import run_layer_draws
    from mbp.analysis.tables import group_reliance, primary_metrics

    runs = store.runs(run_id=list(run_ids), kind="layers") if run_ids else None
    drops = store.layer_importance(run_ids=runs["run_id"].tolist()) if runs is not None and len(
        runs) else None  # fmt: skip
    if drops is None or drops.empty:
        return pd.DataFrame(columns=RELIANCE_COLUMNS)
    drops = drops[drops["metric"] == drops["task"].map(primary_metrics()).fillna("accuracy")]
    drops = drops.merge(runs[["run_id", "n_examples"]], on="run_id")
    keys = ("run_id", "lang")
    found = group_reliance(drops, keys=keys, draws=run_layer_draws(store, runs["run_id"].tolist()))
    meta = runs[["run_id", "model", "task", "protocol"]]
    return found.merge(meta, on="run_id")[RELIANCE_COLUMNS].sort_values(
        ["model", "task", "protocol", "lang"], ignore_index=True)  # fmt: skip


def download_frame(store, table: str, run_ids: list[str]) -> pd.DataFrame:
    """A download of `table` for `run_ids`: the rows, their intervals where stored
    (`with_intervals`), layers and heads numbered from 1 (`one_based`); `layer_reliance` is
    `reliance_frame`."""
    from mbp.analysis.tables import rows_for_runs

    if table == "layer_reliance":
        return reliance_frame(store, run_ids)
    return one_based(table, with_intervals(store, table, rows_for_runs(store, table, run_ids)))
