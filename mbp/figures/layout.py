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
from collections.abc import Mapping, Sequence
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


def style(
    chart: Any, *, title: str | None = None, height: int | None = 440, width: int | None = 640
) -> Any:
    """The house look on a finished chart (single, layered or concatenated): white, light grid,
    title top left, legend below. Call once, last: configured charts cannot be layered.
    `width` is the chart's own (images, the report); the dashboard stretches it to the column."""
    props: dict[str, Any] = {}
    if title:
        props["title"] = alt.Title(title, anchor="start", fontSize=15, fontWeight=600)
    # concatenated and faceted charts size their panels themselves
    if not isinstance(chart, alt.HConcatChart | alt.FacetChart):
        props.update({k: v for k, v in (("height", height), ("width", width)) if v is not None})
    if props:
        chart = chart.properties(**props)
    return (
        chart.configure(font=FONT)
        .configure_view(stroke=None)
        .configure_axis(
            domainColor=LINE_COLOR, gridColor=GRID_COLOR, tickColor=LINE_COLOR,
            labelColor=TEXT_COLOR, titleColor=TEXT_COLOR, labelFontSize=12, titleFontSize=13,
            titleFontWeight="normal", labelLimit=220,
        )
        .configure_legend(labelFontSize=12, titleFontSize=12, labelColor=TEXT_COLOR)
        .configure_title(color=TEXT_COLOR)
    )  # fmt: skip


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


# ----------------------------------------------------------------------------- Plotly (legacy)
# Kept only while heatmaps.py and claims.py move to Altair; removed with the plotly requirement.

AXIS: dict[str, Any] = {
    "showline": True,
    "linecolor": LINE_COLOR,
    "gridcolor": GRID_COLOR,
    "zeroline": False,
    "automargin": True,
}


def plotly_config(filename: str, image_format: ImageFormat = "png") -> dict[str, Any]:
    """`st.plotly_chart(config=...)`: the camera button downloads the chart as PNG or SVG."""
    if image_format not in ("png", "svg"):
        raise ValueError(f"image_format must be 'png' or 'svg', got {image_format!r}")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {
            "format": image_format,
            "filename": safe_filename(filename),
            "scale": 2 if image_format == "png" else 1,
        },
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def _legend_rows(traces: Sequence[Mapping[str, Any]], width_px: int = 640) -> int:
    names = [str(t["name"]) for t in traces if t.get("name") and t.get("showlegend", True)]
    if not names:
        return 0
    rows, used = 1, 0
    for name in names:
        need = 7 * len(name) + 44
        if used and used + need > width_px:
            rows, used = rows + 1, 0
        used += need
    return rows


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def base_layout(
    *, title: str | None, height: int, legend_rows: int = 0, showlegend: bool = True
) -> dict[str, Any]:
    rows = legend_rows if showlegend else 0
    return {
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "height": height + 24 * rows,
        "font": {"family": FONT, "size": 13, "color": TEXT_COLOR},
        "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}}
        if title
        else {"text": ""},
        "margin": {
            "l": 64,
            "r": 24,
            "t": 56 if title else 24,
            "b": 56 + (24 * rows + 8 if rows else 0),
        },
        "showlegend": showlegend,
        "legend": {
            "orientation": "h",
            "yref": "container",
            "y": 0.0,
            "yanchor": "bottom",
            "xanchor": "left",
            "x": 0.0,
            "font": {"size": 12},
        },
        "hoverlabel": {"font": {"family": FONT, "size": 12}},
        "xaxis": dict(AXIS),
        "yaxis": dict(AXIS),
    }


def assemble(
    traces: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    height: int = 440,
    showlegend: bool = True,
    layout: Mapping[str, Any] | None = None,
) -> Any:
    """One validated Plotly Figure from trace dicts (legacy builders only)."""
    import plotly.graph_objects as go

    spec = base_layout(
        title=title, height=height, legend_rows=_legend_rows(traces), showlegend=showlegend
    )
    spec = _merge(spec, layout or {})
    return go.Figure({"data": list(traces), "layout": spec})


def hline(y: float, color: str, *, dash: str = "dot", width: float = 1.0) -> dict[str, Any]:
    """A horizontal line across a Plotly plot as a layout shape (legacy builders only)."""
    return {
        "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
        "line": {"color": color, "dash": dash, "width": width}, "layer": "below",
    }  # fmt: skip


def vline(x: float, color: str, *, width: float = 1.0) -> dict[str, Any]:
    """A vertical line across a Plotly plot as a layout shape (legacy builders only)."""
    return {
        "type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": x, "x1": x,
        "line": {"color": color, "width": width},
    }  # fmt: skip
