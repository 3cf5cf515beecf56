"""Does a language rely on its bottom layers? Reliance vs pre-training size (log x).

chart = reliance_scatter(frame)   # frame: lang, reliance, wiki_articles[, group]
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from mbp.figures.labels import Axis, PlotAxes, leaders, place_labels
from mbp.figures.layout import empty_figure, hrule, legend, own_colour, role, style
from mbp.figures.palette import REFERENCE_COLOR, dash_pattern, lang_color

_SHAPES = ("circle", "square", "diamond", "triangle-up", "cross", "triangle-down", "wedge")
RELIANCE_TITLE = "drop(bottom ⅓) − drop(top ⅓), points"
_MARKER_SIZE = 170  # area in px²
_LABEL_FONT = 12
#: The plot's width in pixels, (smallest, largest): a narrow dashboard column, an image at the
#: style's width.
_PLOT_WIDTH = (360.0, 640.0)
#: The share of the chart's height the plot keeps at least: the dashboard fits title, axis and
#: legend into the height too (about 230 of 440 px, measured in Chromium).
_PLOT_HEIGHT_SHARE = 0.45


def log_domain(values: pd.Series) -> tuple[float, float]:
    """Whole powers of ten around `values` (> 0): what Vega's `nice` gives a log scale, fixed
    here so that label placement knows where each point lands."""
    lo = 10 ** np.floor(np.log10(float(values.min())))
    hi = 10 ** np.ceil(np.log10(float(values.max())))
    return float(lo), float(hi if hi > lo else lo * 10)


def _label_offsets(
    data: pd.DataFrame, x_domain: tuple[float, float], y_domain: list[float], height: int
) -> pd.DataFrame:
    """Each language label's dx, dy (pixels from its marker): clear of the other labels, the
    markers and the error bars at every plot size the chart may get (`mbp.figures.labels`)."""
    axes = PlotAxes(
        Axis(x_domain, _PLOT_WIDTH, log=True),
        Axis((y_domain[0], y_domain[1]), (_PLOT_HEIGHT_SHARE * height, float(height))),
    )
    rules = []
    if reliance_intervals(data):
        ci = data.dropna(subset=["reliance_low", "reliance_high"])
        rules = list(zip(ci["wiki_articles"], ci["reliance_low"], ci["reliance_high"], strict=True))
    return place_labels(data["wiki_articles"], data["reliance"], data["lang"].tolist(), axes,
                        marker_radius=_marker_radius(), font_size=_LABEL_FONT, rules=rules)  # fmt: skip


def _marker_radius() -> float:
    return float(np.sqrt(_MARKER_SIZE / np.pi)) + 1  # + the white outline


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
    """One marker per language (its colour, its code above it, or beside it where labels would
    collide: `mbp.figures.labels`), x = Wikipedia articles (log), y = reliance.

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
    x_domain = log_domain(data["wiki_articles"])
    y_domain = [low - 0.12 * span, high + 0.18 * span]
    offsets = _label_offsets(data, x_domain, y_domain, height)
    lead = leaders(offsets, data["lang"].tolist(), marker_radius=_marker_radius(),
                   font_size=_LABEL_FONT).round(1)  # fmt: skip
    data = data.assign(label_dx=offsets["dx"].round(1).to_numpy(),
                       label_dy=offsets["dy"].round(1).to_numpy(),
                       **{f"lead_{c}": lead[c].to_numpy() for c in lead})  # fmt: skip
    x = alt.X("wiki_articles:Q", title="pre-training size: Wikipedia articles (log scale)",
              scale=alt.Scale(type="log", domain=list(x_domain), nice=False),
              axis=alt.Axis(format="~s"))  # fmt: skip
    y = alt.Y("reliance:Q", title=y_label, scale=alt.Scale(domain=y_domain, nice=False))
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
    points = base.mark_point(
        filled=True, size=_MARKER_SIZE, opacity=1.0, stroke="white", strokeWidth=1
    )
    layers.append(role(points.encode(x=x, y=y, color=colour, shape=shape, tooltip=tooltip),
                       "language"))  # fmt: skip
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
    far = data[data["lead_x0"].notna()]
    if len(far):  # a line from the marker to a label placed away from it, in a crowd
        lead = alt.Chart(far).mark_rule(
            strokeWidth=1, opacity=0.9,
            xOffset=alt.expr("datum.lead_x0"), yOffset=alt.expr("datum.lead_y0"),
            x2Offset=alt.expr("datum.lead_x1"), y2Offset=alt.expr("datum.lead_y1"),
        )  # fmt: skip
        layers.append(role(lead.encode(x=x, y=y, x2="wiki_articles:Q", y2="reliance:Q",
                                       stroke=own_colour("stroke")), "label_leader"))  # fmt: skip
    # last, so no line crosses a label; each row's own offset (an expression per datum)
    text = dict(align="center", baseline="middle", fontSize=_LABEL_FONT, fontWeight="bold",
                dx=alt.expr("datum.label_dx"), dy=alt.expr("datum.label_dy"))  # fmt: skip
    # a white outline under each label keeps it readable where the trend line or an error bar
    # runs behind it
    halo = base.mark_text(color="white", stroke="white", strokeWidth=3, strokeJoin="round",
                          **text)  # fmt: skip
    layers.append(role(halo.encode(x=x, y=y, text="lang:N"), "language_label_halo"))
    labels = base.mark_text(**text)
    layers.append(role(labels.encode(x=x, y=y, text="lang:N", color=colour), "language_label"))
    return style(alt.layer(*layers), title=title, height=height)
