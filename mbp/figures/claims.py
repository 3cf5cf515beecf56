"""The chart that tests each paper claim, drawn from a `mbp.claims.ClaimResult.table`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mbp.figures.layout import empty_figure, style
from mbp.figures.palette import REFERENCE_COLOR, lang_color, model_color, model_label
from mbp.figures.scatter import reliance_scatter


def claim1_figure(table: pd.DataFrame, *, tolerance: float) -> go.Figure:
    """Relative drop vs % pruned per GLUE task (one panel each), one line per model."""
    if table.empty:
        return empty_figure("No matched GLUE curves of both models")
    tasks = sorted(table["task"].unique())
    fig = make_subplots(rows=1, cols=len(tasks), subplot_titles=tasks, shared_yaxes=True)
    for col, task in enumerate(tasks, start=1):
        part = table[table["task"] == task]
        for model, rows in part.groupby("model", sort=True):
            rows = rows.sort_values("fraction")
            fig.add_trace(
                go.Scatter(
                    x=rows["fraction"] * 100, y=rows["relative_drop"] * 100,
                    mode="lines+markers", name=model_label(model), legendgroup=model,
                    showlegend=col == 1, line={"color": model_color(model), "width": 2.4},
                    hovertemplate=f"<b>{model_label(model)} · {task}</b><br>%{{x:.0f}}% pruned"
                    "<br>relative drop %{y:.1f}%<extra></extra>",
                    meta={"role": "curve", "model": model, "task": task},
                ),
                row=1, col=col,
            )  # fmt: skip
    style(fig, title=f"Relative drop per GLUE task (tolerance {tolerance:.0%})", height=380)
    fig.update_xaxes(title_text="% of heads pruned", ticksuffix="%")
    fig.update_yaxes(title_text="relative drop (% of unpruned)", ticksuffix="%", col=1)
    return fig


def claim2_figure(table: pd.DataFrame) -> go.Figure:
    """XNLI languages (thin, language colours) and GLUE tasks (thick, dark) relative drops."""
    if table.empty:
        return empty_figure("Needs XNLI and GLUE curves of the multilingual model")
    fig = go.Figure()
    xnli = table[table["series"].str.startswith("XNLI")]
    glue = table[table["series"].str.startswith("GLUE")]
    for lang, rows in xnli.groupby("lang", sort=True):
        rows = rows.sort_values("fraction")
        fig.add_trace(
            go.Scatter(
                x=rows["fraction"] * 100, y=rows["relative_drop"] * 100, mode="lines",
                name=f"XNLI {lang}", line={"color": lang_color(lang), "width": 1.4},
                opacity=0.85, meta={"role": "xnli", "lang": lang},
                hovertemplate=f"XNLI {lang}: %{{y:.1f}}% at %{{x:.0f}}% pruned<extra></extra>",
            )
        )  # fmt: skip
    if len(xnli):
        mean = xnli.groupby("fraction")["relative_drop"].mean().sort_index()
        fig.add_trace(
            go.Scatter(
                x=mean.index * 100, y=mean.to_numpy() * 100, mode="lines+markers",
                name="XNLI mean", line={"color": "#1F2430", "width": 3.2},
                meta={"role": "xnli-mean"},
                hovertemplate="XNLI mean: %{y:.1f}% at %{x:.0f}% pruned<extra></extra>",
            )
        )  # fmt: skip
    for series, rows in glue.groupby("series", sort=True):
        rows = rows.sort_values("fraction")
        fig.add_trace(
            go.Scatter(
                x=rows["fraction"] * 100, y=rows["relative_drop"] * 100, mode="lines+markers",
                name=series, line={"color": REFERENCE_COLOR, "width": 3.2, "dash": "dash"},
                meta={"role": "glue"},
                hovertemplate=f"{series}: %{{y:.1f}}% at %{{x:.0f}}% pruned<extra></extra>",
            )
        )  # fmt: skip
    style(fig, title="Relative drop: XNLI languages vs GLUE", height=420)
    fig.update_xaxes(title_text="% of heads pruned", ticksuffix="%")
    fig.update_yaxes(title_text="relative drop (% of unpruned)", ticksuffix="%")
    return fig


def claim3_figure(table: pd.DataFrame) -> go.Figure:
    """Reliance on bottom layers vs Wikipedia size, symbols by morphology."""
    return reliance_scatter(
        table, group_by="morphology", title="Bottom-layer reliance vs pre-training size"
    )
