"""Heatmaps: language x layer drops, layer x head importance, and language x language correlations.

Drops and differences use ONE diverging scale symmetric around 0 (domain -limit..limit), so the
same colour means the same drop in every row and every language. Each builder returns an Altair
(Vega-Lite) chart whose data travels inline.

    chart = layer_heatmap(drops, lang_order=["en", "de", "tr"])   # drops: lang, target, drop
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from mbp.figures.layout import TEXT_COLOR, empty_figure, role, style
from mbp.figures.palette import DIVERGING_SCALE, SEQUENTIAL_SCHEME, lang_color

GROUPS = ("bottom", "middle", "top")
NOISE_LABEL = "within noise: the drop's 95 % interval includes 0"
_CELL_STROKE = "white"  # a 1 px white gap between cells


def target_order(targets: Sequence[str]) -> list[str]:
    """`layer:0 .. layer:N-1` by number, then `group:bottom`, `group:middle`, `group:top`."""
    layers = sorted((t for t in targets if t.startswith("layer:")), key=lambda t: int(t[6:]))
    groups = [f"group:{g}" for g in GROUPS if f"group:{g}" in targets]
    others = sorted(t for t in targets if t not in layers and t not in groups)
    return [*layers, *groups, *others]


def target_label(target: str) -> str:
    """`layer:0` -> `L1` (1-based, as the paper counts), `group:bottom` -> `bottom`."""
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


def diverging_scale(limit: float) -> alt.Scale:
    """palette.DIVERGING_SCALE's stops spread over -limit..limit (0 = the white middle)."""
    return alt.Scale(
        domain=[(2.0 * float(stop) - 1.0) * limit for stop, _ in DIVERGING_SCALE],
        range=[str(color) for _, color in DIVERGING_SCALE],
        clamp=True,
    )


def _language_axis(labels: Mapping[str, str], **kwargs) -> alt.Axis:
    """An axis whose language labels are drawn in each language's colour (palette)."""
    colors = json.dumps({label: lang_color(code) for code, label in labels.items()})
    return alt.Axis(
        title=None, labelColor=alt.ExprRef(f"{colors}[datum.value] || '{TEXT_COLOR}'"),
        labelFontWeight="bold", ticks=False, domain=False, **kwargs,
    )  # fmt: skip


def _text_color(limit: float) -> alt.Color:
    """White numbers on dark cells (|value| beyond 60 % of the scale), dark ones elsewhere."""
    return alt.condition(
        f"abs(datum.value) > {0.6 * limit}", alt.value("white"), alt.value(TEXT_COLOR)
    )


def layer_heatmap(
    drops: pd.DataFrame,
    *,
    lang_order: Sequence[str] | None = None,
    lang_labels: Mapping[str, str] | None = None,
    zmax: float | None = None,
    value_name: str = "accuracy drop",
    title: str | None = None,
    unit: str = "points",
) -> alt.TopLevelMixin:
    """Language x (layer, bottom/middle/top) heatmap of the drop when that part is removed.

    `drops` has columns lang, target, drop (a fraction: metric units, or a relative drop),
    shown x100 in `unit` ("points" for metric drops, "% of unpruned" for relative ones).
    Positive (red) = removing it hurt. `zmax` fixes the scale (default: the largest |drop|).
    With columns drop_low, drop_high and within_noise (tables.attach_layer_intervals) the
    tooltip shows each drop's 95 % interval and a dashed outline (layer "within_noise", with a
    legend entry) marks the cells whose interval includes 0 (a drop within the examples' noise).
    """
    if drops.empty:
        return empty_figure("No layer-importance results for this selection")
    columns = target_order(list(drops["target"].unique()))
    present = set(drops["lang"])
    langs = [lang for lang in (lang_order or sorted(present)) if lang in present]
    labels = {lang: (lang_labels or {}).get(lang, lang) for lang in langs}
    limit = (zmax if zmax is not None else symmetric_limit(drops["drop"])) * 100.0
    with_ci = {"drop_low", "drop_high", "within_noise"} <= set(drops.columns) and bool(
        drops["drop_low"].notna().any()
    )
    cells = _layer_cells(drops, langs, columns, labels, with_ci)
    x_labels = [target_label(c) for c in columns]
    x = alt.X("target:O", sort=x_labels, title=None,
              axis=alt.Axis(orient="top", labelAngle=0, ticks=False, domain=False))  # fmt: skip
    y = alt.Y("language:O", sort=[labels[lang] for lang in langs],
              axis=_language_axis(labels))  # fmt: skip
    tooltip = [
        alt.Tooltip("language:N"),
        alt.Tooltip("target:N", title="removing"),
        alt.Tooltip("value:Q", title=f"{value_name} ({unit})", format=".2f"),
    ]
    if with_ci:
        tooltip.append(alt.Tooltip("interval:N", title=f"95 % interval ({unit})"))
    base = alt.Chart(cells).encode(x=x, y=y)
    heat = base.mark_rect(stroke=_CELL_STROKE, strokeWidth=1).encode(
        color=alt.Color("value:Q", scale=diverging_scale(limit),
                        legend=alt.Legend(title=[value_name, f"({unit})"], gradientLength=160)),
        tooltip=tooltip,
    )  # fmt: skip
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=".1f"), color=_text_color(limit), tooltip=tooltip
    )
    layers = [role(heat, "heat"), role(text, "values")]
    if with_ci:
        layers.append(_noise_layer(base))
    n_layers = sum(c.startswith("layer:") for c in columns)
    if 0 < n_layers < len(columns):  # a rule between the single layers and the thirds
        edge = pd.DataFrame({"target": [target_label(columns[n_layers - 1])]})
        rule = alt.Chart(edge).mark_rule(color=TEXT_COLOR, strokeWidth=2)
        layers.append(
            role(rule.encode(x=alt.X("target:O", sort=x_labels, bandPosition=1)), "separator")
        )
    chart = alt.layer(*layers).properties(height=alt.Step(30), width=alt.Step(46))
    return style(chart, title=title, height=None)


def _layer_cells(
    drops: pd.DataFrame,
    langs: list[str],
    columns: list[str],
    labels: Mapping[str, str],
    with_ci: bool,
) -> pd.DataFrame:
    """One row per (language, target) cell: its label, its drop x100, and (with intervals)
    the interval's text and whether it includes 0."""
    names = ["drop", "drop_low", "drop_high", "within_noise"] if with_ci else ["drop"]
    data = drops[drops["lang"].isin(langs) & drops["target"].isin(columns)]
    data = data.assign(**({"within_noise": data["within_noise"].astype(float)} if with_ci else {}))
    cells = data.groupby(["lang", "target"], as_index=False)[names].agg(
        {n: ("max" if n == "within_noise" else "mean") for n in names}
    )
    out = pd.DataFrame(
        {
            "language": cells["lang"].map(labels),
            "target": cells["target"].map(target_label),
            "value": (cells["drop"].to_numpy(dtype=float) * 100.0).round(4),
        }
    )
    if with_ci:
        low = cells["drop_low"].to_numpy(dtype=float) * 100.0
        high = cells["drop_high"].to_numpy(dtype=float) * 100.0
        out["interval"] = [
            f"[{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) and np.isfinite(hi)
            else "none (no stored outcomes)"
            for lo, hi in zip(low, high, strict=True)
        ]  # fmt: skip
        out["within_noise"] = cells["within_noise"].to_numpy(dtype=float) == 1.0
        out["noise"] = NOISE_LABEL
    return out


def _noise_layer(base: alt.Chart) -> alt.Chart:
    """A dashed dark outline inside every cell whose drop's interval includes 0, with one
    legend entry below the plot."""
    # the legend swatch takes the mark's fill (Vega-Lite then ignores symbolFillColor): white,
    # not the default blue, which would read as "removing it helped"; fillOpacity=0 keeps the
    # cell's own colour visible
    outline = (
        base.transform_filter("datum.within_noise")
        .mark_rect(fill="white", fillOpacity=0, strokeWidth=1.5, strokeDash=[4, 2],
                   strokeOpacity=0.8)
        .encode(stroke=alt.Stroke("noise:N", scale=alt.Scale(range=[TEXT_COLOR]),
                                  legend=alt.Legend(title=None, orient="bottom", labelLimit=0,
                                                    symbolType="square",
                                                    symbolDash=[4, 2], symbolStrokeWidth=1.5)))
    )  # fmt: skip
    return role(outline, "within_noise")


def _head_cells(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (layer, head), both numbered from 1, with the mean score."""
    grid = scores.groupby(["layer", "head"], as_index=False)["score"].mean()
    return pd.DataFrame(
        {
            "layer": grid["layer"].astype(int) + 1,
            "head": grid["head"].astype(int) + 1,
            "value": grid["score"].astype(float),
        }
    )


def _head_chart(
    cells: pd.DataFrame, color: alt.Color, tooltip: list, title: str | None
) -> alt.TopLevelMixin:
    chart = (
        alt.Chart(cells)
        .mark_rect(stroke=_CELL_STROKE, strokeWidth=1)
        .encode(
            x=alt.X("head:O", title="head", axis=alt.Axis(labelAngle=0, orient="bottom")),
            y=alt.Y("layer:O", title="layer (1 = bottom)", sort="descending"),
            color=color,
            tooltip=tooltip,
        )
        .properties(height=alt.Step(26), width=alt.Step(30))
    )
    return style(role(chart, "heat"), title=title, height=None)


def head_heatmap(
    scores: pd.DataFrame,
    *,
    lang: str,
    zmax: float | None = None,
    title: str | None = None,
    value_title: str | list[str] = "importance",
) -> alt.TopLevelMixin:
    """Layer x head importance for one language (scores: layer, head, score). `value_title`
    names what `score` holds (legend, one line per list item, and tooltip): raw importance,
    or e.g. its share of the language's total."""
    if scores.empty:
        return empty_figure(f"No head-importance scores for {lang}")
    cells = _head_cells(scores).assign(language=lang)
    span = {"domain": [0.0, zmax]} if zmax is not None else {"domainMin": 0.0}
    scale = alt.Scale(scheme=SEQUENTIAL_SCHEME, clamp=True, **span)
    color = alt.Color("value:Q", scale=scale, legend=alt.Legend(title=value_title))
    name = value_title if isinstance(value_title, str) else " ".join(value_title)
    tooltip = [
        alt.Tooltip("language:N"), alt.Tooltip("layer:O"), alt.Tooltip("head:O"),
        alt.Tooltip("value:Q", title=name, format=".4g"),
    ]  # fmt: skip
    return _head_chart(cells, color, tooltip, title)


def head_difference_heatmap(
    scores_a: pd.DataFrame,
    scores_b: pd.DataFrame,
    *,
    lang_a: str,
    lang_b: str,
    zmax: float | None = None,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Layer x head importance of `lang_a` minus `lang_b` (each normalised to sum 1 first)."""
    if scores_a.empty or scores_b.empty:
        return empty_figure(f"Need head-importance scores for both {lang_a} and {lang_b}")
    a, b = _head_cells(scores_a), _head_cells(scores_b)
    a["value"] /= np.nansum(a["value"])
    b["value"] /= np.nansum(b["value"])
    cells = a.merge(b, on=["layer", "head"], how="outer", suffixes=("_a", "_b"))
    cells["value"] = cells["value_a"] - cells["value_b"]
    cells = cells[["layer", "head", "value"]]
    limit = zmax if zmax is not None else symmetric_limit(cells["value"])
    name = f"{lang_a} − {lang_b}"
    color = alt.Color("value:Q", scale=diverging_scale(limit),
                      legend=alt.Legend(title=[name, "(share of total)"]))  # fmt: skip
    tooltip = [alt.Tooltip("layer:O"), alt.Tooltip("head:O"),
               alt.Tooltip("value:Q", title=name, format="+.4f")]  # fmt: skip
    return _head_chart(cells, color, tooltip, title)


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


def rank_correlation_heatmap(
    matrix: pd.DataFrame, *, title: str | None = None
) -> alt.TopLevelMixin:
    """Language x language Spearman correlation of head importance. Colours span the data's
    range (`correlation_range`), not -1..1: values near 0.9 would otherwise all look alike;
    the legend says so. The diagonal (1) takes the top colour."""
    if matrix.empty:
        return empty_figure("Need head-importance scores for at least two languages")
    low, high = correlation_range(matrix)
    rows, cols = [str(c) for c in matrix.index], [str(c) for c in matrix.columns]
    cells = (
        matrix.set_axis(rows, axis=0).set_axis(cols, axis=1)
        .rename_axis(index="row", columns="column").stack(future_stack=True)
        .rename("value").reset_index()
    )  # fmt: skip
    labels = {code: code for code in dict.fromkeys(rows + cols)}
    base = alt.Chart(cells).encode(
        x=alt.X("column:O", sort=cols, axis=_language_axis(labels, orient="top", labelAngle=0)),
        y=alt.Y("row:O", sort=rows, axis=_language_axis(labels)),
        tooltip=[alt.Tooltip("row:N", title="language"), alt.Tooltip("column:N", title="vs"),
                 alt.Tooltip("value:Q", title="ρ", format=".3f")],
    )  # fmt: skip
    legend = alt.Legend(title=["ρ", "colours span", "the data:", f"{low:.2f}–{high:.2f}"])
    heat = base.mark_rect(stroke=_CELL_STROKE, strokeWidth=1).encode(
        color=alt.Color("value:Q", legend=legend,
                        scale=alt.Scale(scheme=SEQUENTIAL_SCHEME, domain=[low, high], clamp=True))
    )  # fmt: skip
    middle = (low + high) / 2
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=".2f"),
        # viridis is dark at the low end: white numbers there
        color=alt.condition(f"datum.value < {middle}", alt.value("white"), alt.value(TEXT_COLOR)),
    )
    chart = alt.layer(role(heat, "heat"), role(text, "values")).properties(
        height=alt.Step(34), width=alt.Step(44)
    )
    return style(chart, title=title, height=None)
