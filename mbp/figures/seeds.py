"""Pruning curves of one line fine-tuned with several training seeds: each seed's curve thin,
their mean bold, and the hierarchical interval (training seeds, then examples) around it.

    from mbp.figures.seeds import training_seed_curves
    chart = training_seed_curves(curves, intervals, metric="accuracy")

`curves` is `tables.training_seed_curves`, `intervals` `tables.training_seed_intervals`
(mbp.analysis.training_seeds.seed_line_intervals); layers are named seed-curve, seed-interval,
seed-mean.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from mbp.figures.layout import empty_figure, legend, role, style
from mbp.figures.palette import model_label

_LINE_KEYS = ["model", "lang", "protocol", "order_name"]


def _label(frame: pd.DataFrame) -> pd.Series:
    """'model · lang · order' (protocol added for retrain lines)."""
    return frame.apply(
        lambda r: (
            f"{model_label(r['model'])} · {r['lang']} · {r['order_name']}"
            + ("" if r["protocol"] == "posthoc" else f" · {r['protocol']}")
        ),
        axis=1,
    )


def training_seed_curves(
    curves: pd.DataFrame,
    intervals: pd.DataFrame,
    *,
    metric: str,
    title: str | None = None,
    height: int = 420,
) -> alt.LayerChart | alt.Chart:
    """Metric vs % of heads pruned per training seed (thin), the mean over seeds (bold) and,
    where `intervals` has the line's points, its 95 % band. Interval rows of random orders
    (one per order seed) are left out: their seeds' band is the Pruning curves chart's."""
    missing = {*_LINE_KEYS, "training_seed", "fraction", "value"} - set(curves.columns)
    if missing:
        raise ValueError(f"curves lack columns {sorted(missing)}: pass tables.training_seed_curves")
    if curves.empty:
        return empty_figure("No curves of several training seeds for this selection")
    data = curves.assign(line=_label(curves), x=100 * curves["fraction"])
    data["seed_label"] = "seed " + data["training_seed"].astype(str)
    mean = data.groupby(["line", "x"], as_index=False).agg(
        value=("value", "mean"), seeds=("training_seed", "nunique")
    )  # fmt: skip
    x_enc = alt.X("x:Q", title="% heads pruned", scale=alt.Scale(domain=[-2, 102], nice=False),
                  axis=alt.Axis(labelExpr="datum.label + '%'"))  # fmt: skip

    def y_of(field: str) -> alt.Y:
        return alt.Y(f"{field}:Q", title=metric, scale=alt.Scale(zero=False))

    color = alt.Color("line:N", legend=legend("line · mean over training seeds"))
    layers = []
    if len(intervals):
        band = intervals.groupby([*_LINE_KEYS, "fraction"]).filter(
            lambda g: g["seed"].nunique() == 1
        )
        if len(band):
            band = band.assign(line=_label(band), x=100 * band["fraction"])
            area = alt.Chart(band).mark_area(opacity=0.18)
            layers.append(role(area.encode(
                x=x_enc, y=y_of("low"), y2="high:Q", color=alt.Color("line:N", legend=None),
                tooltip=[alt.Tooltip("line:N"), alt.Tooltip("x:Q", title="% pruned"),
                         alt.Tooltip("low:Q", format=".4f", title="95 % low"),
                         alt.Tooltip("high:Q", format=".4f", title="95 % high"),
                         alt.Tooltip("training_seeds:Q", title="training seeds")],
            ), "seed-interval"))  # fmt: skip
    per_seed = alt.Chart(data).mark_line(strokeWidth=1, opacity=0.55, strokeDash=[3, 2])
    layers.append(role(per_seed.encode(
        x=x_enc, y=y_of("value"), color=alt.Color("line:N", legend=None), detail="seed_label:N",
        tooltip=[alt.Tooltip("line:N"), alt.Tooltip("seed_label:N", title="training seed"),
                 alt.Tooltip("x:Q", title="% pruned"), alt.Tooltip("value:Q", format=".4f")],
    ), "seed-curve"))  # fmt: skip
    bold = alt.Chart(mean).mark_line(strokeWidth=2.5, point=True)
    layers.append(role(bold.encode(
        x=x_enc, y=y_of("value"), color=color,
        tooltip=[alt.Tooltip("line:N"), alt.Tooltip("x:Q", title="% pruned"),
                 alt.Tooltip("value:Q", format=".4f", title="mean"),
                 alt.Tooltip("seeds:Q", title="training seeds")],
    ), "seed-mean"))  # fmt: skip
    return style(alt.layer(*layers), title=title, height=height)
