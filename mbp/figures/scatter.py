"""Does a language rely on its bottom layers? Reliance vs pre-training size (log x).

fig = reliance_scatter(frame)   # frame: lang, reliance, wiki_articles[, group]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import empty_figure, style
from mbp.figures.palette import REFERENCE_COLOR, lang_color

_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "star", "x", "hexagon")


def reliance_scatter(
    frame: pd.DataFrame,
    *,
    group_by: str | None = None,
    y_label: str = "drop(bottom ⅓) − drop(top ⅓), points",
    title: str | None = None,
    height: int = 440,
) -> go.Figure:
    """One marker per language (its colour), x = Wikipedia articles (log), y = reliance.

    `reliance` > 0: removing the bottom third hurts more than removing the top third. Marker
    symbols follow `group_by` (a column such as word_order). A least-squares line on log10(x)
    shows the trend.
    """
    data = frame.dropna(subset=["reliance", "wiki_articles"])
    data = data[data["wiki_articles"] > 0]
    if data.empty:
        return empty_figure("No layer-importance results with language metadata")
    fig = go.Figure()
    groups = sorted(data[group_by].astype(str).unique()) if group_by else []
    for _, row in data.sort_values("wiki_articles").iterrows():
        symbol = (
            _SYMBOLS[groups.index(str(row[group_by])) % len(_SYMBOLS)] if group_by else "circle"
        )
        extra = f"<br>{group_by.replace('_', ' ')}: {row[group_by]}" if group_by else ""
        fig.add_trace(
            go.Scatter(
                x=[row["wiki_articles"]],
                y=[row["reliance"]],
                mode="markers+text",
                text=[row["lang"]],
                textposition="top center",
                textfont={"color": lang_color(row["lang"]), "size": 12},
                marker={
                    "size": 13,
                    "color": lang_color(row["lang"]),
                    "symbol": symbol,
                    "line": {"width": 1, "color": "white"},
                },
                name=str(row["lang"]),
                showlegend=False,
                hovertemplate=(
                    f"<b>{row['lang']}</b>{extra}<br>Wikipedia articles: %{{x:,.0f}}<br>"
                    "reliance on bottom layers: %{y:+.2f} points<extra></extra>"
                ),
                meta={"role": "language", "lang": row["lang"]},
            )
        )
    if len(data) >= 3:
        logx = np.log10(data["wiki_articles"].to_numpy(dtype=float))
        slope, intercept = np.polyfit(logx, data["reliance"].to_numpy(dtype=float), 1)
        xs = np.linspace(logx.min(), logx.max(), 20)
        fig.add_trace(
            go.Scatter(
                x=10**xs, y=slope * xs + intercept, mode="lines", name="least-squares trend",
                line={"color": REFERENCE_COLOR, "dash": "dash", "width": 1.5},
                hovertemplate=f"trend: {slope:+.2f} points per 10x articles<extra></extra>",
                meta={"role": "trend"},
            )
        )  # fmt: skip
    for i, group in enumerate(groups):  # a key for the marker shapes
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="markers", name=group,
                marker={"size": 11, "color": "#6B7280", "symbol": _SYMBOLS[i % len(_SYMBOLS)]},
                meta={"role": "shape-key"},
            )
        )  # fmt: skip
    fig.add_hline(y=0, line={"color": REFERENCE_COLOR, "width": 1, "dash": "dot"})
    style(fig, title=title, height=height)
    fig.update_xaxes(type="log", title_text="pre-training size: Wikipedia articles (log scale)")
    span = float(data["reliance"].max() - data["reliance"].min()) or 1.0
    fig.update_yaxes(
        title_text=y_label,
        range=[
            float(data["reliance"].min()) - 0.12 * span,
            float(data["reliance"].max()) + 0.18 * span,
        ],
    )
    return fig
