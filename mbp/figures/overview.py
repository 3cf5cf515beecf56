"""Headline charts of the Overview page."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from mbp.figures.curves import relative_values
from mbp.figures.layout import (
    TEXT_COLOR,
    empty_figure,
    hrule,
    legend,
    own_colour,
    role,
    style,
    vrule,
)
from mbp.figures.palette import REFERENCE_COLOR, dash_pattern, lang_color, model_color, model_label
from mbp.figures.scatter import RELIANCE_TITLE, reliance_intervals

_TASK_DASH = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def headline_curves(
    summary: pd.DataFrame, *, order: str = "importance"
) -> alt.LayerChart | alt.Chart:
    """% of the unpruned score vs % heads pruned, one line per (model, task), `order` only.

    XNLI lines average the languages' relative scores. Colour = model, dash = task (a key
    each).
    """
    data = summary[summary["order_name"] == order] if len(summary) else summary
    if data.empty:
        return empty_figure(f"No {order}-order pruning curves stored yet")
    rel = relative_values(data)
    grouped = rel.groupby(["model", "task", "fraction"], as_index=False).agg(
        mean=("mean", "mean"), langs=("lang", "nunique")
    )
    tasks = sorted(grouped["task"].unique())
    langs = grouped.groupby("task")["langs"].max()
    task_labels = {t: f"{t} (mean of {langs[t]} languages)" if langs[t] > 1 else t for t in tasks}
    parts = []
    for (model, task), part in grouped.groupby(["model", "task"], sort=True):
        n = int(part["langs"].max())
        label = f"{model_label(model)} · {task}" + (f" (mean of {n} languages)" if n > 1 else "")
        parts.append(
            part.sort_values("fraction").assign(
                series=label, model_label=model_label(model), task_label=task_labels[task],
                color=model_color(model),
                pct=part["fraction"] * 100.0,
            )
        )  # fmt: skip
    rows = pd.concat(parts, ignore_index=True)
    # two keys, one meaningful field each (model: colour, task: dash), not one entry per line
    models = sorted(grouped["model"].unique())
    key = {"symbolType": "stroke", "symbolSize": 400}  # strokes long enough to show a dash
    color = alt.Color("model_label:N", legend=legend("model", **key), scale=alt.Scale(
        domain=[model_label(m) for m in models], range=[model_color(m) for m in models]))  # fmt: skip
    task_key = legend("task", symbolStrokeColor=TEXT_COLOR, **key)
    task_key.columns = 2  # half a page wide: a third column ran off the chart
    dash = alt.StrokeDash("task_label:N", legend=task_key,
        scale=alt.Scale(domain=[task_labels[t] for t in tasks],
                        range=[dash_pattern(_TASK_DASH[i % len(_TASK_DASH)])
                               for i in range(len(tasks))]))  # fmt: skip
    x = alt.X(
        "pct:Q", title="% of attention heads pruned", axis=alt.Axis(labelExpr="datum.label + '%'")
    )
    y = alt.Y("mean:Q", title="% of unpruned score", scale=alt.Scale(zero=False),
              axis=alt.Axis(labelExpr="datum.label + '%'"))  # fmt: skip
    tooltip = [alt.Tooltip("series:N", title="model · task"),
               alt.Tooltip("pct:Q", title="% of heads pruned", format=".0f"),
               alt.Tooltip("mean:Q", title="% of the unpruned score", format=".1f")]  # fmt: skip
    curves = (
        alt.Chart(rows)
        .mark_line(strokeWidth=2.4)
        .encode(
            x=x,
            y=y,
            color=color,
            strokeDash=dash,
            detail="series:N",
            order="pct:Q",
            tooltip=tooltip,
        )
    )
    # the markers are a layer of their own, coloured on fill: a line's point overlay would
    # carry the dash too and turn the task key's strokes into empty dots
    points = (
        alt.Chart(rows)
        .mark_point(filled=True, size=25, fillOpacity=1)
        .encode(x=x, y=y, fill=own_colour("fill"), tooltip=tooltip)
    )
    unpruned = hrule(100.0, REFERENCE_COLOR, width=1.2, label="unpruned score = 100%")
    return style(
        alt.layer(unpruned, role(curves, "curve"), role(points, "points")),
        title=f"How much of the score survives pruning ({order} order)",
        height=420,
    )


def zero_ticks(values: pd.Series | np.ndarray, count: int = 5) -> tuple[list[float], list[float]]:
    """(domain, tick values) of an axis over `values` and 0: round steps (1, 2 or 5 x 10^k,
    about `count` of them), so 0 is always a tick (Vega's own ticks could drop its label)."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    lo, hi = float(finite.min(initial=0.0)), float(finite.max(initial=0.0))  # 0 always inside
    raw = (hi - lo) / count or 1.0
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = int(np.floor(lo / step)), int(np.ceil(hi / step))
    last = max(last, first + 1)  # all zeros: still an axis
    ticks = [round(float(i * step), 10) for i in range(first, last + 1)]
    return [ticks[0], ticks[-1]], ticks


def reliance_bars(reliance: pd.DataFrame, *, model: str) -> alt.LayerChart | alt.Chart:
    """Per language: drop(bottom third) - drop(top third), bars in language colours; error bars
    when the frame carries reliance_low/reliance_high (same units as reliance)."""
    if reliance.empty:
        return empty_figure("No layer-wise results stored yet")
    data = reliance.dropna(subset=["reliance"]).sort_values("reliance")
    data = data.assign(color=[lang_color(c) for c in data["lang"]])
    langs = data["lang"].tolist()
    y = alt.Y("lang:N", title=None, sort=langs[::-1])  # largest reliance on top
    x_title = [RELIANCE_TITLE, "> 0: the bottom layers matter more, < 0: the top layers"]
    tooltip = [alt.Tooltip("lang:N", title="language"),
               alt.Tooltip("reliance:Q", title="reliance (points)", format="+.2f")]  # fmt: skip
    with_ci = reliance_intervals(data)
    if with_ci:
        tooltip += [alt.Tooltip("reliance_low:Q", title="95 % interval, low", format="+.2f"),
                    alt.Tooltip("reliance_high:Q", title="95 % interval, high", format="+.2f")]  # fmt: skip
    spans = [data[c] for c in ("reliance", "reliance_low", "reliance_high") if c in data]
    domain, ticks = zero_ticks(pd.concat(spans, ignore_index=True).astype(float))
    # 0 (the rule: bottom and top thirds matter alike) is on the axis, with its tick
    x_scale, x_axis = alt.Scale(domain=domain, nice=False), alt.Axis(values=ticks)
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("reliance:Q", title=x_title, scale=x_scale, axis=x_axis), y=y,
        color=alt.Color("color:N", scale=None), tooltip=tooltip,
    )  # fmt: skip
    layers = [role(bars, "bars"), vrule(0.0, REFERENCE_COLOR)]
    if with_ci:
        ci = data.dropna(subset=["reliance_low", "reliance_high"])
        whiskers = (
            alt.Chart(ci)
            .mark_errorbar(ticks=True, color="#1F2430")
            .encode(
                x=alt.X("reliance_low:Q", title=x_title, scale=x_scale, axis=x_axis),
                x2="reliance_high:Q",
                y=y,
            )
        )
        layers.append(role(whiskers, "interval"))
    return style(
        alt.layer(*layers),
        title=f"Bottom vs top layers · {model_label(model)} on XNLI",
        height=26 * len(data) + 150,  # the whole chart: title and two-line axis title included
    )
