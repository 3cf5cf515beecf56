"""Heatmaps: language x layer drops, layer x head importance, and language x language correlations.

Drops and differences use ONE diverging scale symmetric around 0 (`zmin = -zmax`), so the same
colour means the same drop in every row and every language.

    fig = layer_heatmap(drops, lang_order=["en", "de", "tr"])    # drops: lang, target, drop
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import assemble, empty_figure, vline
from mbp.figures.palette import DIVERGING_SCALE, SEQUENTIAL_SCALE, lang_color

GROUPS = ("bottom", "middle", "top")


def target_order(targets: Sequence[str]) -> list[str]:
    """`layer:0 .. layer:N-1` by number, then `group:bottom`, `group:middle`, `group:top`."""
    layers = sorted((t for t in targets if t.startswith("layer:")), key=lambda t: int(t[6:]))
    groups = [f"group:{g}" for g in GROUPS if f"group:{g}" in targets]
    others = sorted(t for t in targets if t not in layers and t not in groups)
    return [*layers, *groups, *others]


def target_label(target: str) -> str:
    """`layer:0` -> `L1` (1-based, as the paper counts), `group:bottom` -> `bottom ⅓`."""
    kind, _, value = target.partition(":")
    if kind == "layer":
        return f"L{int(value) + 1}"
    if kind == "group":
        return value
    return target


def symmetric_limit(values: np.ndarray | pd.Series, floor: float = 1e-6) -> float:
    """max |value| (ignoring NaN), the half-width of a diverging scale centred on 0."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(max(np.abs(arr).max() if arr.size else 0.0, floor))


def _dot_label(code: str, text: str | None = None) -> str:
    """A language label with its colour dot (Plotly renders the span's colour)."""
    return f"{text or code} <span style='color:{lang_color(code)}'>●</span>"


def layer_heatmap(
    drops: pd.DataFrame,
    *,
    lang_order: Sequence[str] | None = None,
    lang_labels: Mapping[str, str] | None = None,
    zmax: float | None = None,
    value_name: str = "accuracy drop",
    title: str | None = None,
    unit: str = "points",
) -> go.Figure:
    """Language x (layer, bottom/middle/top) heatmap of the drop when that part is removed.

    `drops` has columns lang, target, drop (a fraction: metric units, or a relative drop),
    shown x100 in `unit` ("points" for metric drops, "% of unpruned" for relative ones).
    Positive (red) = removing it hurt. `zmax` fixes the scale (default: the largest |drop|).
    With columns drop_low, drop_high and within_noise (tables.attach_layer_intervals) the
    hover shows each drop's 95 % interval and a hatch stroke marks the cells whose interval
    includes 0 (a drop within the examples' noise).
    """
    if drops.empty:
        return empty_figure("No layer-importance results for this selection")
    grid = drops.pivot_table(index="lang", columns="target", values="drop", aggfunc="mean")
    columns = target_order(list(grid.columns))
    langs = [lang for lang in (lang_order or sorted(grid.index)) if lang in grid.index]
    grid = grid.reindex(index=langs, columns=columns) * 100.0
    limit = (zmax if zmax is not None else symmetric_limit(drops["drop"])) * 100.0
    values = grid.to_numpy(dtype=float)
    x_labels = [target_label(c) for c in columns]
    y_labels = [_dot_label(lang, (lang_labels or {}).get(lang)) for lang in langs]
    with_ci = {"drop_low", "drop_high", "within_noise"} <= set(drops.columns) and bool(
        drops["drop_low"].notna().any()
    )
    heat = {
        "type": "heatmap",
        "z": values,
        "x": x_labels,
        "y": y_labels,
        "colorscale": DIVERGING_SCALE,
        "zmin": -limit,
        "zmax": limit,
        "zmid": 0.0,
        "text": np.round(values, 1),
        "texttemplate": "%{text}",
        "textfont": {"size": 10},
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"title": {"text": f"{value_name}<br>({unit})"}, "thickness": 14},
        "hovertemplate": (
            "<b>%{y}</b>, removing %{x}<br>" + value_name + f": %{{z:.2f}} {unit}<extra></extra>"
        ),
    }
    traces = [heat]
    if with_ci:
        heat["customdata"] = _interval_text(drops, langs, columns)
        heat["hovertemplate"] = heat["hovertemplate"].replace(
            "<extra>", f"<br>95 % interval: %{{customdata}} {unit}<extra>"
        )
        traces.append(_noise_marks(drops, langs, columns, x_labels, y_labels))
    n_layers = sum(c.startswith("layer:") for c in columns)
    shapes = [vline(n_layers - 0.5, "#1F2430", width=2)] if 0 < n_layers < len(columns) else []
    return assemble(
        traces,
        title=title,
        height=max(260, 34 * len(langs) + 140),
        showlegend=with_ci,  # the hatch's one legend entry, below the plot
        layout={
            "shapes": shapes,
            "yaxis": {"autorange": "reversed", "showgrid": False},
            "xaxis": {"side": "top", "showgrid": False, "tickangle": 0},
            "margin": {"t": 96 if title else 60, "b": 56 if with_ci else 24},
        },
    )


def _interval_text(drops: pd.DataFrame, langs: list[str], columns: list[str]) -> np.ndarray:
    """(langs, targets) hover text of each drop's interval x100, or why there is none."""
    low, high = (
        drops.pivot_table(index="lang", columns="target", values=name, aggfunc="mean")
        .reindex(index=langs, columns=columns)
        .to_numpy(dtype=float)
        * 100.0
        for name in ("drop_low", "drop_high")
    )
    text = np.full(low.shape, "none (no stored outcomes)", dtype=object)
    known = np.isfinite(low) & np.isfinite(high)
    text[known] = [f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(low[known], high[known],
                                                                   strict=True)]  # fmt: skip
    return text


def _noise_marks(
    drops: pd.DataFrame,
    langs: list[str],
    columns: list[str],
    x_labels: list[str],
    y_labels: list[str],
) -> dict:
    """A hatch stroke over every cell whose drop's interval includes 0."""
    noise = (
        drops.assign(within_noise=drops["within_noise"].astype(float))
        .pivot_table(index="lang", columns="target", values="within_noise", aggfunc="max")
        .reindex(index=langs, columns=columns)
        .to_numpy(dtype=float)
    )
    rows, cols = np.nonzero(noise == 1.0)
    return {
        "type": "scatter",
        "mode": "markers",
        "x": [x_labels[c] for c in cols],
        "y": [y_labels[r] for r in rows],
        "marker": {"symbol": "line-ne-open", "size": 24, "color": "rgba(31, 36, 48, 0.55)",
                   "line": {"width": 1.5}},
        "name": "within noise: the drop's 95 % interval includes 0",
        "hoverinfo": "skip",
        "showlegend": True,
        "meta": {"role": "within_noise"},
    }  # fmt: skip


def _head_grid(scores: pd.DataFrame) -> pd.DataFrame:
    grid = scores.pivot_table(index="layer", columns="head", values="score", aggfunc="mean")
    return grid.sort_index().sort_index(axis=1)


def _head_layout(rows: int) -> dict:
    return {
        "yaxis": {"title": {"text": "layer (1 = bottom)"}, "showgrid": False, "type": "category"},
        "xaxis": {"title": {"text": "head"}, "showgrid": False, "type": "category", "tickangle": 0},
    }


def head_heatmap(
    scores: pd.DataFrame, *, lang: str, zmax: float | None = None, title: str | None = None
) -> go.Figure:
    """Layer x head importance for one language (scores: layer, head, score)."""
    if scores.empty:
        return empty_figure(f"No head-importance scores for {lang}")
    grid = _head_grid(scores)
    heat = {
        "type": "heatmap",
        "z": grid.to_numpy(dtype=float),
        "x": [str(h + 1) for h in grid.columns],
        "y": [str(layer + 1) for layer in grid.index],
        "colorscale": SEQUENTIAL_SCALE,
        "zmin": 0.0,
        "zmax": zmax,
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"title": {"text": "importance"}, "thickness": 14},
        "hovertemplate": (
            f"<b>{lang}</b> layer %{{y}}, head %{{x}}<br>importance: %{{z:.4g}}<extra></extra>"
        ),
    }
    return assemble(
        [heat], title=title, height=max(340, 32 * len(grid.index) + 130), showlegend=False,
        layout=_head_layout(len(grid.index)),
    )  # fmt: skip


def head_difference_heatmap(
    scores_a: pd.DataFrame,
    scores_b: pd.DataFrame,
    *,
    lang_a: str,
    lang_b: str,
    zmax: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Layer x head importance of `lang_a` minus `lang_b` (each normalised to sum 1 first)."""
    if scores_a.empty or scores_b.empty:
        return empty_figure(f"Need head-importance scores for both {lang_a} and {lang_b}")
    a, b = _head_grid(scores_a), _head_grid(scores_b)
    a, b = a / np.nansum(a.to_numpy()), b / np.nansum(b.to_numpy())
    diff = a.sub(b)
    limit = zmax if zmax is not None else symmetric_limit(diff.to_numpy())
    heat = {
        "type": "heatmap",
        "z": diff.to_numpy(dtype=float),
        "x": [str(h + 1) for h in diff.columns],
        "y": [str(layer + 1) for layer in diff.index],
        "colorscale": DIVERGING_SCALE,
        "zmin": -limit,
        "zmax": limit,
        "zmid": 0.0,
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"title": {"text": f"{lang_a} − {lang_b}<br>(share of total)"}},
        "hovertemplate": (
            f"layer %{{y}}, head %{{x}}<br>{lang_a} − {lang_b}: %{{z:+.4f}}<extra></extra>"
        ),
    }
    return assemble(
        [heat], title=title, height=max(340, 32 * len(diff.index) + 130), showlegend=False,
        layout=_head_layout(len(diff.index)),
    )  # fmt: skip


def correlation_range(matrix: pd.DataFrame) -> tuple[float, float]:
    """(min, max) of the off-diagonal correlations (the diagonal is 1 by definition), widened
    to 0.02 when they are all equal."""
    values = matrix.to_numpy(dtype=float)
    off = values[~np.eye(len(values), dtype=bool)] if values.shape[0] == values.shape[1] else values
    off = off[np.isfinite(off)]
    if not off.size:
        return -1.0, 1.0
    low, high = float(off.min()), float(off.max())
    if high - low < 0.02:
        middle = (low + high) / 2
        low, high = max(-1.0, middle - 0.01), min(1.0, middle + 0.01)
    return low, high


def rank_correlation_heatmap(matrix: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Language x language Spearman correlation of head importance. Colours span the data's
    range (`correlation_range`), not -1..1: values near 0.9 would otherwise all look alike;
    the colour bar says so."""
    if matrix.empty:
        return empty_figure("Need head-importance scores for at least two languages")
    values = matrix.to_numpy(dtype=float)
    low, high = correlation_range(matrix)
    heat = {
        "type": "heatmap",
        "z": values,
        "x": [_dot_label(c) for c in matrix.columns],
        "y": [_dot_label(c) for c in matrix.index],
        "colorscale": SEQUENTIAL_SCALE,
        "zmin": low,
        "zmax": high,
        "text": np.round(values, 2),
        "texttemplate": "%{text}",
        "textfont": {"size": 10},
        "xgap": 1,
        "ygap": 1,
        "colorbar": {
            "title": {
                "text": f"ρ<br><sub>colours span<br>the data:<br>{low:.2f}–{high:.2f}</sub>",
                "side": "top",
            },
            "thickness": 14,
        },
        "hovertemplate": "%{y} vs %{x}: ρ = %{z:.3f}<extra></extra>",
    }
    return assemble(
        [heat], title=title, height=max(320, 40 * len(matrix.index) + 120), showlegend=False,
        layout={"yaxis": {"autorange": "reversed", "showgrid": False},
                "xaxis": {"showgrid": False, "side": "top"},
                "margin": {"t": 90 if title else 60, "b": 24}},
    )  # fmt: skip
