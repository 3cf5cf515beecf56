"""The chart that tests each paper claim, drawn from a `mbp.analysis.claims.ClaimResult.table`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import AXIS, assemble, empty_figure
from mbp.figures.palette import REFERENCE_COLOR, lang_color, model_color, model_label
from mbp.figures.scatter import reliance_scatter

_GAP = 0.06


def claim1_figure(table: pd.DataFrame, *, tolerance: float) -> go.Figure:
    """Relative drop vs % pruned per GLUE task (one panel each, shared y), one line per model."""
    if table.empty:
        return empty_figure("No matched GLUE curves of both models")
    tasks = sorted(table["task"].unique())
    width = (1 - _GAP * (len(tasks) - 1)) / len(tasks)
    traces, layout, annotations = [], {}, []
    for i, task in enumerate(tasks):
        suffix = "" if i == 0 else str(i + 1)
        start = i * (width + _GAP)
        layout[f"xaxis{suffix}"] = {
            **AXIS, "domain": [start, start + width], "anchor": f"y{suffix}", "ticksuffix": "%",
            "title": {"text": "% of heads pruned"},
        }  # fmt: skip
        layout[f"yaxis{suffix}"] = {**AXIS, "anchor": f"x{suffix}", "ticksuffix": "%"}
        if i:
            layout[f"yaxis{suffix}"]["matches"] = "y"
        annotations.append(
            {"text": f"<b>{task}</b>", "x": start + width / 2, "y": 1.0, "xref": "paper",
             "yref": "paper", "yanchor": "bottom", "showarrow": False}
        )  # fmt: skip
        for model, rows in table[table["task"] == task].groupby("model", sort=True):
            rows = rows.sort_values("fraction")
            traces.append(
                {
                    "type": "scatter", "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                    "x": rows["fraction"].to_numpy(dtype=float) * 100,
                    "y": rows["relative_drop"].to_numpy(dtype=float) * 100,
                    "mode": "lines+markers", "name": model_label(model), "legendgroup": model,
                    "showlegend": i == 0, "line": {"color": model_color(model), "width": 2.4},
                    "hovertemplate": f"<b>{model_label(model)} · {task}</b><br>%{{x:.0f}}% "
                    "pruned<br>relative drop %{y:.1f}%<extra></extra>",
                    "meta": {"role": "curve", "model": model, "task": task},
                }
            )  # fmt: skip
    layout["yaxis"]["title"] = {"text": "relative drop (% of unpruned)"}
    layout["annotations"] = annotations
    return assemble(
        traces,
        title=f"Relative drop per GLUE task (tolerance {tolerance:.0%})",
        height=380,
        layout=layout,
    )


def claim2_figure(table: pd.DataFrame) -> go.Figure:
    """XNLI languages (thin, language colours) and GLUE tasks (thick, dashed) relative drops."""
    if table.empty:
        return empty_figure("Needs XNLI and GLUE curves of the multilingual model")
    xnli = table[table["series"].str.startswith("XNLI")]
    glue = table[table["series"].str.startswith("GLUE")]
    traces = []
    for lang, rows in xnli.groupby("lang", sort=True):
        rows = rows.sort_values("fraction")
        traces.append(
            {
                "type": "scatter", "x": rows["fraction"].to_numpy(dtype=float) * 100,
                "y": rows["relative_drop"].to_numpy(dtype=float) * 100, "mode": "lines",
                "name": f"XNLI {lang}", "line": {"color": lang_color(lang), "width": 1.4},
                "opacity": 0.85, "meta": {"role": "xnli", "lang": lang},
                "hovertemplate": f"XNLI {lang}: %{{y:.1f}}% at %{{x:.0f}}% pruned<extra></extra>",
            }
        )  # fmt: skip
    if len(xnli):
        mean = xnli.groupby("fraction")["relative_drop"].mean().sort_index()
        traces.append(
            {
                "type": "scatter", "x": mean.index.to_numpy(dtype=float) * 100,
                "y": mean.to_numpy(dtype=float) * 100, "mode": "lines+markers",
                "name": "XNLI mean", "line": {"color": "#1F2430", "width": 3.2},
                "meta": {"role": "xnli-mean"},
                "hovertemplate": "XNLI mean: %{y:.1f}% at %{x:.0f}% pruned<extra></extra>",
            }
        )  # fmt: skip
    for series, rows in glue.groupby("series", sort=True):
        rows = rows.sort_values("fraction")
        traces.append(
            {
                "type": "scatter", "x": rows["fraction"].to_numpy(dtype=float) * 100,
                "y": rows["relative_drop"].to_numpy(dtype=float) * 100, "mode": "lines+markers",
                "name": series, "line": {"color": REFERENCE_COLOR, "width": 3.2, "dash": "dash"},
                "meta": {"role": "glue"},
                "hovertemplate": f"{series}: %{{y:.1f}}% at %{{x:.0f}}% pruned<extra></extra>",
            }
        )  # fmt: skip
    return assemble(
        traces,
        title="Relative drop: XNLI languages vs GLUE",
        height=420,
        layout={
            "xaxis": {"title": {"text": "% of heads pruned"}, "ticksuffix": "%"},
            "yaxis": {"title": {"text": "relative drop (% of unpruned)"}, "ticksuffix": "%"},
        },
    )


def claim3_figure(table: pd.DataFrame) -> go.Figure:
    """Reliance on bottom layers vs Wikipedia size, symbols by morphology."""
    return reliance_scatter(
        table, group_by="morphology", title="Bottom-layer reliance vs pre-training size"
    )
