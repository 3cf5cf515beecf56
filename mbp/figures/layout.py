"""Shared chart styling for the Altair (Vega-Lite) builders, the empty chart, reference rules,
and chart images (PNG/SVG) through vl-convert.

Builders make one `alt.Chart` per role (curve, band, reference, chance, ...), name it with
`role` so tests and readers can find it in `chart.to_dict()`, layer them, and call `style` once
at the end (a configured chart can no longer be layered).

    chart = style(alt.layer(lines, rules), title="...", height=440)
    png = chart_image(chart, "png")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import altair as alt
import pandas as pd

ImageFormat = Literal["png", "svg"]
FONT = "Inter, 'Source Sans Pro', 'Segoe UI', Helvetica, Arial, sans-serif"
TEXT_COLOR = "#1F2430"
MUTED_COLOR = "#6B7280"
GRID_COLOR = "#EEF0F4"
LINE_COLOR = "#C9CED8"

# ----------------------------------------------------------------------------- Altair (Vega-Lite)


def role(chart: alt.Chart, name: str) -> alt.Chart:
    """Name a layer by what it draws ("curve", "band", "chance", ...): a stable handle in the
    spec (`name`) for tests and for anyone reading the JSON."""
    return chart.properties(name=name)


def legend(title: str | None = None, **extra: Any) -> alt.Legend:
    """The house legend: below the plot, in columns, labels never cut short."""
    return alt.Legend(
        title=title, orient="bottom", direction="horizontal", columns=3, labelLimit=0,
        symbolStrokeWidth=2.5, **extra,
    )  # fmt: skip


def own_colour(channel: Literal["fill", "stroke"], field: str = "color") -> alt.Fill | alt.Stroke:
    """Each row's colour as it is (scale=None), on `fill` (areas, filled points, text) or
    `stroke` (rules, lines, point outlines): never on `color` in a chart whose legend is on
    `color`. Vega-Lite 6.5 (Streamlit's) folds such layers into the shared colour scale, and the
    colour legend then no longer merges with a dash legend on the same field: two legends in
    the browser, one vl-convert (up to 6.4) does not show.
    """
    if channel not in ("fill", "stroke"):
        raise ValueError(f"channel must be 'fill' or 'stroke', got {channel!r}")
    encoding = alt.Fill if channel == "fill" else alt.Stroke
    return encoding(f"{field}:N", scale=None)


def style(
    chart: Any, *, title: str | None = None, height: int | None = 440, width: int | None = 640
) -> Any:
    """The house look on a finished chart (single, layered or concatenated): white, light grid,
    title top left, legend below. Call once, last: configured charts cannot be layered.
    `width` is the chart's own (images, the report); the dashboard stretches it to the column.

    Set on one shallow copy: Altair's `configure_*` and `properties` deep-copy the whole chart,
    data included, on every call (measured ~0.3 s of a curves chart's build on a loaded CPU).
    """
    chart = chart.copy(deep=False)
    if title:
        chart.title = alt.Title(title, anchor="start", fontSize=15, fontWeight=600)
    # concatenated and faceted charts size their panels themselves
    if not isinstance(chart, alt.HConcatChart | alt.FacetChart):
        for key, value in (("height", height), ("width", width)):
            if value is not None:
                setattr(chart, key, value)
    chart.config = alt.Config(
        font=FONT,
        view=alt.ViewConfig(stroke=None),
        axis=alt.AxisConfig(
            domainColor=LINE_COLOR, gridColor=GRID_COLOR, tickColor=LINE_COLOR,
            labelColor=TEXT_COLOR, titleColor=TEXT_COLOR, labelFontSize=12, titleFontSize=13,
            titleFontWeight="normal", labelLimit=220,
        ),
        legend=alt.LegendConfig(labelFontSize=12, titleFontSize=12, labelColor=TEXT_COLOR),
        title=alt.TitleConfig(color=TEXT_COLOR),
    )  # fmt: skip
    return chart


def empty_figure(message: str, height: int = 300) -> alt.Chart:
    """A blank chart that says why it is blank (instead of an empty axis box)."""
    text = (
        alt.Chart(pd.DataFrame({"message": [message]}))
        .mark_text(fontSize=14, color=MUTED_COLOR, baseline="middle", align="center")
        .encode(text="message:N")
    )
    return style(role(text, "empty"), height=height)


def hrule(y: float, color: str, *, dash: Sequence[float] = (2, 3), width: float = 1.0,
          label: str | None = None, name: str = "reference") -> alt.Chart:  # fmt: skip
    """A horizontal rule across the plot at `y` (its tooltip says `label` when given)."""
    data = pd.DataFrame({"y": [float(y)], "label": [label or f"{y:g}"]})
    rule = alt.Chart(data).mark_rule(color=color, strokeDash=list(dash), strokeWidth=width)
    return role(rule.encode(y="y:Q", tooltip=alt.Tooltip("label:N", title=None)), name)


def vrule(x: float, color: str, *, width: float = 1.0, name: str = "reference") -> alt.Chart:
    """A vertical rule across the plot at `x`."""
    rule = alt.Chart(pd.DataFrame({"x": [float(x)]})).mark_rule(color=color, strokeWidth=width)
    return role(rule.encode(x="x:Q"), name)


def safe_filename(filename: str) -> str:
    """A download file name without path separators or spaces."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", filename).strip("-") or "mbp-chart"


def chart_image(chart: Any, image_format: ImageFormat = "png", *, scale: float = 2.0) -> bytes:
    """The chart as PNG or SVG bytes, rendered by vl-convert (no browser needed).

    Raises ImportError when vl-convert-python is not installed; callers that can live without
    an image (the report) catch it and say so.
    """
    if image_format not in ("png", "svg"):
        raise ValueError(f"image_format must be 'png' or 'svg', got {image_format!r}")
    import vl_convert as vlc  # imported on use: the dashboard draws charts without it

    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    if image_format == "svg":
        return vlc.vegalite_to_svg(spec).encode()
    return vlc.vegalite_to_png(spec, scale=scale)
