"""Does a language rely on its bottom layers? Reliance vs pre-training size (log x).

fig = reliance_scatter(frame)   # frame: lang, reliance, wiki_articles[, group]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import assemble, empty_figure, hline
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
    if frame.empty or not {"reliance", "wiki_articles"} <= set(frame.columns):
        return empty_figure("No layer-importance results with language metadata")
    data = frame.dropna(subset=["reliance", "wiki_articles"])
    data = data[data["wiki_articles"] > 0].sort_values("wiki_articles")
    if data.empty:
        return empty_figure("No layer-importance results with language metadata")
    groups = sorted(data[group_by].astype(str).unique()) if group_by else []
    traces: list[dict] = []
    for row in data.to_dict("records"):
        lang = str(row["lang"])
        symbol = (
            _SYMBOLS[groups.index(str(row[group_by])) % len(_SYMBOLS)] if group_by else "circle"
        )
        extra = f"<br>{group_by.replace('_', ' ')}: {row[group_by]}" if group_by else ""
        traces.append(
            {
                "type": "scatter",
                "x": [float(row["wiki_articles"])],
                "y": [float(row["reliance"])],
                "mode": "markers+text",
                "text": [lang],
                "textposition": "top center",
                "textfont": {"color": lang_color(lang), "size": 12},
                "marker": {"size": 13, "color": lang_color(lang), "symbol": symbol,
                           "line": {"width": 1, "color": "white"}},
                "name": lang,
                "showlegend": False,
                "hovertemplate": (
                    f"<b>{lang}</b>{extra}<br>Wikipedia articles: %{{x:,.0f}}<br>"
                    "reliance on bottom layers: %{y:+.2f} points<extra></extra>"
                ),
                "meta": {"role": "language", "lang": lang},
            }
        )  # fmt: skip
    if len(data) >= 3:
        logx = np.log10(data["wiki_articles"].to_numpy(dtype=float))
        slope, intercept = np.polyfit(logx, data["reliance"].to_numpy(dtype=float), 1)
        xs = np.linspace(logx.min(), logx.max(), 20)
        traces.append(
            {
                "type": "scatter", "x": 10**xs, "y": slope * xs + intercept, "mode": "lines",
                "name": "least-squares trend",
                "line": {"color": REFERENCE_COLOR, "dash": "dash", "width": 1.5},
                "hovertemplate": f"trend: {slope:+.2f} points per 10x articles<extra></extra>",
                "meta": {"role": "trend"},
            }
        )  # fmt: skip
    for i, group in enumerate(groups):  # a key for the marker shapes
        traces.append(
            {
                "type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": group,
                "marker": {"size": 11, "color": "#6B7280", "symbol": _SYMBOLS[i % len(_SYMBOLS)]},
                "meta": {"role": "shape-key"},
            }
        )  # fmt: skip
    low, high = float(data["reliance"].min()), float(data["reliance"].max())
    span = (high - low) or 1.0
    return assemble(
        traces,
        title=title,
        height=height,
        layout={
            "shapes": [hline(0.0, REFERENCE_COLOR)],
            "xaxis": {"type": "log",
                      "title": {"text": "pre-training size: Wikipedia articles (log scale)"}},
            "yaxis": {"title": {"text": y_label},
                      "range": [low - 0.12 * span, high + 0.18 * span]},
        },
    )  # fmt: skip
