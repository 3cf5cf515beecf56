"""Headline figures of the Overview page."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from mbp.figures.curves import relative_values
from mbp.figures.layout import assemble, empty_figure, hline, vline
from mbp.figures.palette import REFERENCE_COLOR, lang_color, model_color, model_label

_TASK_DASH = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def headline_curves(summary: pd.DataFrame, *, order: str = "importance") -> go.Figure:
    """% of the unpruned score vs % heads pruned, one line per (model, task), `order` only.

    XNLI lines average the languages' relative scores. Colour = model, dash = task.
    """
    data = summary[summary["order_name"] == order] if len(summary) else summary
    if data.empty:
        return empty_figure(f"No {order}-order pruning curves stored yet")
    rel = relative_values(data)
    grouped = rel.groupby(["model", "task", "fraction"], as_index=False).agg(
        mean=("mean", "mean"), langs=("lang", "nunique")
    )
    tasks = sorted(grouped["task"].unique())
    traces = []
    for (model, task), part in grouped.groupby(["model", "task"], sort=True):
        part = part.sort_values("fraction")
        n = int(part["langs"].max())
        label = f"{model_label(model)} · {task}" + (f" (mean of {n} languages)" if n > 1 else "")
        traces.append(
            {
                "type": "scatter",
                "x": part["fraction"].to_numpy(dtype=float) * 100,
                "y": part["mean"].to_numpy(dtype=float),
                "mode": "lines+markers",
                "name": label,
                "line": {"color": model_color(model), "width": 2.4,
                         "dash": _TASK_DASH[tasks.index(task) % len(_TASK_DASH)]},
                "marker": {"size": 5},
                "hovertemplate": f"<b>{label}</b><br>%{{x:.0f}}% of heads pruned<br>"
                "%{y:.1f}% of the unpruned score<extra></extra>",
                "meta": {"role": "curve", "model": model, "task": task},
            }
        )  # fmt: skip
    return assemble(
        traces,
        title=f"How much of the score survives pruning ({order} order)",
        height=420,
        layout={
            "shapes": [hline(100.0, REFERENCE_COLOR, width=1.2)],
            "xaxis": {"title": {"text": "% of attention heads pruned"}, "ticksuffix": "%"},
            "yaxis": {"title": {"text": "% of unpruned score"}, "ticksuffix": "%"},
        },
    )


def reliance_bars(reliance: pd.DataFrame, *, model: str) -> go.Figure:
    """Per language: drop(bottom third) - drop(top third), bars in language colours."""
    if reliance.empty:
        return empty_figure("No layer-wise results stored yet")
    data = reliance.dropna(subset=["reliance"]).sort_values("reliance")
    bars = {
        "type": "bar",
        "x": data["reliance"].to_numpy(dtype=float),
        "y": data["lang"].tolist(),
        "orientation": "h",
        "marker": {"color": [lang_color(c) for c in data["lang"]]},
        "hovertemplate": "<b>%{y}</b>: %{x:+.2f} points<extra></extra>",
    }
    return assemble(
        [bars],
        title=f"Bottom vs top layers · {model_label(model)} on XNLI",
        height=max(300, 26 * len(data) + 140),
        showlegend=False,
        layout={
            "shapes": [vline(0.0, REFERENCE_COLOR)],
            "xaxis": {"title": {"text": "drop(bottom ⅓) − drop(top ⅓), points<br><span "
                                "style='font-size:11px'>> 0: the bottom layers matter more</span>"}},
        },
    )  # fmt: skip
