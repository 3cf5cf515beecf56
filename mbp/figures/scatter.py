"""Does a language rely on its bottom layers? Reliance vs pre-training size (log x).

chart = reliance_scatter(frame)   # frame: lang, reliance, wiki_articles[, group]
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from mbp.figures.layout import empty_figure, hrule, legend, role, style
from mbp.figures.palette import REFERENCE_COLOR, dash_pattern, lang_color

_SHAPES = ("circle", "square", "diamond", "triangle-up", "cross", "triangle-down", "wedge")
RELIANCE_TITLE = "drop(bottom ⅓) − drop(top ⅓), points"


def reliance_intervals(frame: pd.DataFrame) -> bool:
    """Whether `frame` carries reliance intervals to draw (reliance_low/reliance_high, in the
    units of reliance, at least one known)."""
    return {"reliance_low", "reliance_high"} <= set(frame.columns) and bool(
        frame["reliance_low"].notna().any()
    )


def reliance_scatter(
    frame: pd.DataFrame,
    *,
    group_by: str | None = None,
    y_label: str = RELIANCE_TITLE,
    title: str | None = None,
    height: int = 440,
) -> alt.LayerChart | alt.Chart:
    """One marker per language (its colour, its code above it), x = Wikipedia articles (log),
    y = reliance.

    `reliance` > 0: removing the bottom third hurts more than removing the top third. Marker
    shapes follow `group_by` (a column such as word_order), with a key. A least-squares line on
    log10(x) shows the trend. Error bars when the frame carries reliance_low/reliance_high.
    """
    if frame.empty or not {"reliance", "wiki_articles"} <= set(frame.columns):
        return empty_figure("No layer-importance results with language metadata")
    data = frame.dropna(subset=["reliance", "wiki_articles"])
    data = data[data["wiki_articles"] > 0].sort_values("wiki_articles")
    if data.empty:
        return empty_figure("No layer-importance results with language metadata")
    data = data.assign(
        color=[lang_color(str(c)) for c in data["lang"]], lang=data["lang"].astype(str)
    )
    with_ci = reliance_intervals(data)
    low = float(np.nanmin(data["reliance_low"] if with_ci else data["reliance"]))
    high = float(np.nanmax(data["reliance_high"] if with_ci else data["reliance"]))
    low, high = min(low, float(data["reliance"].min())), max(high, float(data["reliance"].max()))
    span = (high - low) or 1.0
    x = alt.X("wiki_articles:Q", title="pre-training size: Wikipedia articles (log scale)",
              scale=alt.Scale(type="log"), axis=alt.Axis(format="~s"))  # fmt: skip
    y = alt.Y("reliance:Q", title=y_label,
              scale=alt.Scale(domain=[low - 0.12 * span, high + 0.18 * span], nice=False))  # fmt: skip
    tooltip = [alt.Tooltip("lang:N", title="language")]
    if group_by:
        data = data.assign(**{group_by: data[group_by].astype(str)})
        tooltip.append(alt.Tooltip(f"{group_by}:N", title=group_by.replace("_", " ")))
    tooltip += [alt.Tooltip("wiki_articles:Q", title="Wikipedia articles", format=",.0f"),
                alt.Tooltip("reliance:Q", title="reliance on bottom layers (points)",
                            format="+.2f")]  # fmt: skip
    if with_ci:
        tooltip += [alt.Tooltip("reliance_low:Q", title="95 % interval, low", format="+.2f"),
                    alt.Tooltip("reliance_high:Q", title="95 % interval, high", format="+.2f")]  # fmt: skip
    base = alt.Chart(data)
    colour = alt.Color("color:N", scale=None)
    layers = [hrule(0.0, REFERENCE_COLOR, label="no difference between bottom and top")]
    if with_ci:
        ci = data.dropna(subset=["reliance_low", "reliance_high"])
        bars = alt.Chart(ci).mark_rule(strokeWidth=1.5, opacity=0.8)
        layers.append(role(bars.encode(x=x, y=alt.Y("reliance_low:Q", title=y_label),
                                       y2="reliance_high:Q", color=colour), "interval"))  # fmt: skip
    shape: alt.Shape | alt.ShapeValue = alt.ShapeValue("circle")
    if group_by:
        groups = sorted(data[group_by].unique())
        shape = alt.Shape(
            f"{group_by}:N", legend=legend(group_by.replace("_", " ")),
            scale=alt.Scale(domain=groups,
                            range=[_SHAPES[i % len(_SHAPES)] for i in range(len(groups))]),
        )  # fmt: skip
    points = base.mark_point(filled=True, size=170, opacity=1.0, stroke="white", strokeWidth=1)
    layers.append(role(points.encode(x=x, y=y, color=colour, shape=shape, tooltip=tooltip),
                       "language"))  # fmt: skip
    labels = base.mark_text(dy=-13, fontSize=12, fontWeight="bold")
    layers.append(role(labels.encode(x=x, y=y, text="lang:N", color=colour), "language_label"))
    if len(data) >= 3:
        logx = np.log10(data["wiki_articles"].to_numpy(dtype=float))
        slope, intercept = np.polyfit(logx, data["reliance"].to_numpy(dtype=float), 1)
        xs = np.linspace(logx.min(), logx.max(), 20)
        trend = pd.DataFrame({"wiki_articles": 10**xs, "reliance": slope * xs + intercept,
                              "tip": f"least-squares trend: {slope:+.2f} points per 10x articles"})  # fmt: skip
        line = alt.Chart(trend).mark_line(color=REFERENCE_COLOR, strokeWidth=1.5,
                                          strokeDash=dash_pattern("dash"))  # fmt: skip
        layers.append(role(line.encode(x=x, y=y, tooltip=alt.Tooltip("tip:N", title=None)),
                           "trend"))  # fmt: skip
    return style(alt.layer(*layers), title=title, height=height)
