"""The chart that tests each paper claim, drawn from a `mbp.analysis.claims.ClaimResult.table`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import AXIS, assemble, empty_figure
from mbp.figures.palette import hex_to_rgba, lang_color, model_color, model_label
from mbp.figures.scatter import reliance_scatter

_GAP = 0.06
X_TITLE = "% of heads pruned"


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
        # no per-panel x title: side by side in a narrow column they ran into each other
        layout[f"xaxis{suffix}"] = {
            **AXIS, "domain": [start, start + width], "anchor": f"y{suffix}", "ticksuffix": "%",
            "tick0": 10, "dtick": 20, "tickangle": 0,
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
    annotations.append(  # one x title shared by every panel, below their tick labels
        {"text": X_TITLE, "x": 0.5, "y": 0.0, "xref": "paper", "yref": "paper",
         "xanchor": "center", "yanchor": "top", "yshift": -26, "showarrow": False,
         "font": {"size": 13}, "name": "x-title"}
    )  # fmt: skip
    layout["annotations"] = annotations
    figure = assemble(
        traces,
        title=f"Relative drop per GLUE task (tolerance {tolerance:.0%})",
        height=380,
        layout=layout,
    )
    figure.layout.margin.b += 22  # room for the shared x title above the legend
    return figure


#: GLUE lines on claim 2: told apart by dash, marker and an end label (no hue, so the
#: language colours keep their meaning).
_GLUE_STYLES = (
    ("dash", "square", "#4B5563"),
    ("dot", "diamond", "#6B7280"),
    ("dashdot", "triangle-up", "#374151"),
    ("longdash", "x", "#9CA3AF"),
)


def claim2_highlights(xnli: pd.DataFrame, n: int = 3) -> list[str]:
    """The XNLI languages claim 2 draws on their own: English, then the languages with the
    largest and the smallest mean relative drop, up to `n`."""
    means = xnli.groupby("lang")["relative_drop"].mean().sort_values()
    picks = ["en"] if "en" in means.index else []
    for lang in (means.index[-1:].tolist() + means.index[:1].tolist()) if len(means) else []:
        if lang not in picks:
            picks.append(lang)
    return picks[:n]


def claim2_figure(table: pd.DataFrame) -> go.Figure:
    """XNLI as its mean over languages with a min-max band, a few languages highlighted
    (`claim2_highlights`), and each GLUE task as its own labelled dashed line."""
    if table.empty:
        return empty_figure("Needs XNLI and GLUE curves of the multilingual model")
    xnli = table[table["series"].str.startswith("XNLI")]
    glue = table[table["series"].str.startswith("GLUE")]
    traces, annotations = [], []
    if len(xnli):
        stats = xnli.groupby("fraction")["relative_drop"].agg(["mean", "min", "max", "count"])
        x = stats.index.to_numpy(dtype=float) * 100
        n_langs = xnli["lang"].nunique()
        if n_langs > 1:
            traces.append(
                {
                    "type": "scatter", "x": list(x) + list(x[::-1]),
                    "y": list(stats["max"] * 100) + list(stats["min"][::-1] * 100),
                    "mode": "lines", "fill": "toself",
                    "fillcolor": hex_to_rgba("#1F2430", 0.12),
                    "line": {"width": 0}, "hoverinfo": "skip", "legendgroup": "xnli-mean",
                    "name": f"XNLI range (min-max of {n_langs} languages)",
                    "meta": {"role": "xnli-band"},
                }
            )  # fmt: skip
        traces.append(
            {
                "type": "scatter", "x": x, "y": stats["mean"].to_numpy(dtype=float) * 100,
                "mode": "lines+markers", "name": f"XNLI mean of {n_langs} language(s)",
                "legendgroup": "xnli-mean", "line": {"color": "#1F2430", "width": 3.2},
                "meta": {"role": "xnli-mean"},
                "hovertemplate": "XNLI mean: %{y:.1f}% at %{x:.0f}% pruned<extra></extra>",
            }
        )  # fmt: skip
        for lang in claim2_highlights(xnli):
            rows = xnli[xnli["lang"] == lang].sort_values("fraction")
            traces.append(
                {
                    "type": "scatter", "x": rows["fraction"].to_numpy(dtype=float) * 100,
                    "y": rows["relative_drop"].to_numpy(dtype=float) * 100, "mode": "lines",
                    "name": f"XNLI {lang}", "line": {"color": lang_color(lang), "width": 1.8},
                    "meta": {"role": "xnli", "lang": lang},
                    "hovertemplate": f"XNLI {lang}: %{{y:.1f}}% at %{{x:.0f}}% pruned"
                    "<extra></extra>",
                }
            )  # fmt: skip
    for i, (series, rows) in enumerate(glue.groupby("series", sort=True)):
        rows = rows.sort_values("fraction")
        dash, symbol, color = _GLUE_STYLES[i % len(_GLUE_STYLES)]
        x = rows["fraction"].to_numpy(dtype=float) * 100
        y = rows["relative_drop"].to_numpy(dtype=float) * 100
        traces.append(
            {
                "type": "scatter", "x": x, "y": y, "mode": "lines+markers", "name": series,
                "line": {"color": color, "width": 2.4, "dash": dash},
                "marker": {"symbol": symbol, "size": 8, "color": color},
                "meta": {"role": "glue", "task": str(rows["task"].iloc[0])},
                "hovertemplate": f"{series}: %{{y:.1f}}% at %{{x:.0f}}% pruned<extra></extra>",
            }
        )  # fmt: skip
        if len(x):  # the task's name at the end of its line
            annotations.append(
                {"x": x[-1], "y": y[-1], "text": str(rows["task"].iloc[0]), "xanchor": "left",
                 "xshift": 6, "showarrow": False, "font": {"size": 11, "color": color}}
            )  # fmt: skip
    return assemble(
        traces,
        title="Relative drop: XNLI languages vs GLUE",
        height=420,
        layout={
            "xaxis": {"title": {"text": X_TITLE}, "ticksuffix": "%"},
            "yaxis": {"title": {"text": "relative drop (% of unpruned)"}, "ticksuffix": "%"},
            "annotations": annotations,
            "margin": {"r": 56},  # room for the GLUE end labels
        },
    )


def claim3_figure(table: pd.DataFrame) -> go.Figure:
    """Reliance on bottom layers vs Wikipedia size, symbols by morphology."""
    return reliance_scatter(
        table, group_by="morphology", title="Bottom-layer reliance vs pre-training size"
    )


#: Claim 3's groups under resampling: warm for the bottom layers, cool for the top, grey for
#: neither (no language hue, so the language colours keep their meaning elsewhere).
GROUP_COLORS = {"bottom-reliant": "#B45309", "top-reliant": "#1D4ED8", "neither": "#D1D5DB"}


def claim3_groups_figure(groups: pd.DataFrame) -> go.Figure:
    """Per language, the share of resamples of the examples that put it among the most
    bottom-reliant, among the most top-reliant, or in neither group (stacked to 100 %):
    `ClaimResult.groups` of claim 3."""
    if groups.empty:
        return empty_figure("No per-example outcomes behind the layer-wise runs: no resamples")
    rows = groups.iloc[::-1]  # the most bottom-reliant on top
    shares = {
        "bottom-reliant": rows["bottom-reliant share"].to_numpy(dtype=float),
        "top-reliant": rows["top-reliant share"].to_numpy(dtype=float),
    }
    shares["neither"] = (1.0 - shares["bottom-reliant"] - shares["top-reliant"]).clip(0, 1)
    traces = [
        {
            "type": "bar", "orientation": "h", "name": name, "y": rows["lang"].tolist(),
            "x": values * 100, "marker": {"color": GROUP_COLORS[name]},
            "meta": {"role": "group-share", "group": name},
            "hovertemplate": f"<b>%{{y}}</b>: {name} in %{{x:.0f}}% of resamples<extra></extra>",
        }
        for name, values in shares.items()
    ]  # fmt: skip
    return assemble(
        traces,
        title="Claim 3 under resampling: how often each language is in each group",
        height=max(260, 24 * len(rows) + 150),
        layout={"barmode": "stack",
                "xaxis": {"title": {"text": "% of resamples of the evaluated examples"},
                          "ticksuffix": "%", "range": [0, 100]}},
    )  # fmt: skip
