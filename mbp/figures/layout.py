"""Shared figure styling and the Plotly toolbar config (PNG/SVG download of every chart)."""

from __future__ import annotations

import re
from typing import Any, Literal

import plotly.graph_objects as go

ImageFormat = Literal["png", "svg"]
FONT = "Inter, 'Source Sans Pro', 'Segoe UI', Helvetica, Arial, sans-serif"


def plotly_config(filename: str, image_format: ImageFormat = "png") -> dict[str, Any]:
    """`st.plotly_chart(config=...)`: the camera button downloads the chart as PNG or SVG."""
    if image_format not in ("png", "svg"):
        raise ValueError(f"image_format must be 'png' or 'svg', got {image_format!r}")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", filename).strip("-") or "mbp-chart"
    return {
        "displaylogo": False,
        "toImageButtonOptions": {
            "format": image_format,
            "filename": safe,
            "scale": 2 if image_format == "png" else 1,
        },
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def _legend_rows(fig: go.Figure, width_px: int = 640) -> int:
    """Rows a horizontal legend needs, estimated from its labels (chart width is unknown)."""
    names = [
        str(t.name) for t in fig.data if t.name and t.showlegend is not False and not
        (t.meta and isinstance(t.meta, dict) and t.meta.get("role") == "band")
    ]  # fmt: skip
    if not names:
        return 0
    rows, used = 1, 0
    for name in names:
        need = 7 * len(name) + 44
        if used and used + need > width_px:
            rows, used = rows + 1, 0
        used += need
    return rows


def style(fig: go.Figure, *, title: str | None = None, height: int = 440) -> go.Figure:
    """The house look: white background, light grid, title top left, legend below the plot."""
    rows = _legend_rows(fig) if fig.layout.showlegend is not False else 0
    bottom = 56 + (24 * rows + 8 if rows else 0)
    fig.update_layout(
        template="plotly_white",
        height=height + (24 * rows if rows else 0),
        font={"family": FONT, "size": 13, "color": "#1F2430"},
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}} if title else None,
        margin={"l": 64, "r": 24, "t": 56 if title else 24, "b": bottom},
        legend={
            "orientation": "h",
            "yref": "container",
            "y": 0.0,
            "yanchor": "bottom",
            "xanchor": "left",
            "x": 0.0,
            "font": {"size": 12},
        },
        hoverlabel={"font": {"family": FONT, "size": 12}},
    )
    fig.update_xaxes(showline=True, linecolor="#C9CED8", gridcolor="#EEF0F4", zeroline=False)
    fig.update_yaxes(showline=True, linecolor="#C9CED8", gridcolor="#EEF0F4", zeroline=False)
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A blank figure that says why it is blank (instead of an empty axis box)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
        font={"size": 14, "color": "#6B7280"},
    )  # fmt: skip
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, height=height)
