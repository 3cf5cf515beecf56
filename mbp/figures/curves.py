"""Pruning curves: metric vs % of heads pruned, one line per order, random seeds as a band.

Input is the small aggregated frame `mbp.analysis.tables.curve_summary` returns (one row per
model, language, order and grid fraction; random seeds already reduced to mean/std/min/max in
SQL), never raw points.

    chart = pruning_curves(summary, metric="accuracy", relative=True, band="minmax")

Other layers on the same axes (e.g. `mbp.figures.seeds.curves_with_training_seeds`): pass
`under=`, a function of the chart's `CurveAxes` that returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import altair as alt
import numpy as np
import pandas as pd

from mbp.figures.layout import (
    MUTED_COLOR,
    TEXT_COLOR,
    empty_figure,
    legend,
    own_colour,
    role,
    style,
)
from mbp.figures.palette import (
    REFERENCE_COLOR,
    dash_pattern,
    lang_color,
    model_color,
    model_label,
    order_color,
    order_dash,
)

Band = Literal["minmax", "std"]
XAxis = Literal["heads", "flops", "params", "speedup"]
#: x-axis choice -> (summary column, axis title); "heads" is the grid fraction (in %)
X_AXES: dict[str, tuple[str, str]] = {
    "heads": ("fraction", "% of attention heads pruned"),
    "flops": ("flops_saved", "% of encoder FLOPs per example saved"),
    "params": ("params_saved", "% of parameters saved"),
    "speedup": ("speedup", "measured speed-up (x the unpruned model)"),
}
SUMMARY_COLUMNS = (
    "model", "lang", "order_name", "fraction", "heads_pruned", "n_seeds",
    "mean", "std", "min", "max", "base",
)  # fmt: skip
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "triangle-down")
ORDER_SEQUENCE = ("importance", "iterative", "reverse", "random")


def _check(summary: pd.DataFrame) -> None:
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"curve summary lacks columns {missing}: build it with curve_summary()")


def color_mode(summary: pd.DataFrame) -> Literal["order", "lang", "model"]:
    """What colour encodes: languages when several, else models when several, else orders."""
    if summary["lang"].nunique() > 1:
        return "lang"
    if summary["model"].nunique() > 1:
        return "model"
    return "order"


def relative_values(summary: pd.DataFrame) -> pd.DataFrame:
    """mean/std/min/max/base as % of the unpruned score of the same model and language."""
    out = summary.copy()
    base = out["base"].where(out["base"].abs() > 1e-12)
    for column in ("mean", "std", "min", "max", "ci_low", "ci_high"):
        if column in out.columns:
            out[column] = out[column] / base * 100.0
    out["base"] = 100.0
    return out


def x_values(frame: pd.DataFrame, x: XAxis) -> np.ndarray:
    """The x coordinate of each summary row: % (heads: the grid fraction x 100), or a ratio
    (speed-up)."""
    column = X_AXES[x][0]
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values = frame[column].to_numpy(dtype=float)
    return values * 100.0 if x == "heads" else values


def pareto_front(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both axes (more saved AND a higher
    score), sorted by x; NaN points are never on the front."""
    ok = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
    # by saving, largest first (ties: best score first); keep each point that beats every
    # score seen so far at a larger or equal saving
    ranked = sorted(ok, key=lambda i: (-xs[i], -ys[i]))
    front, best = [], -np.inf
    for i in ranked:
        if ys[i] > best:
            front.append(i)
            best = ys[i]
    return np.array(sorted(front, key=lambda i: xs[i]), dtype=int)


def _order_key(order: str) -> tuple[int, str]:
    return (ORDER_SEQUENCE.index(order) if order in ORDER_SEQUENCE else 99, order)


def series_colour(mode: str, model: str, lang: str, order: str) -> str:
    """A line's colour under `color_mode` `mode`: its order's, language's or model's."""
    return {"order": order_color(order), "lang": lang_color(lang)}.get(mode, model_color(model))


@dataclass(frozen=True)
class CurveAxes:
    """What every layer of one pruning-curves chart shares, for layers drawn on top of it."""

    x: alt.X  # the x encoding (its domain, title and % / x labels)
    y_title: str
    y_axis: alt.Axis
    relative: bool  # y in % of each unpruned score
    fmt: str  # the y values' tooltip format
    mode: str  # `color_mode`: what colour encodes
    x_axis: XAxis

    def y(self, field: str) -> alt.Y:
        """The one y axis, on `field` (a fresh object each call)."""
        return alt.Y(f"{field}:Q", title=self.y_title, scale=alt.Scale(zero=False),
                     axis=self.y_axis)  # fmt: skip

    def colour(self, model: str, lang: str, order: str) -> str:
        return series_colour(self.mode, model, lang, order)


@dataclass(frozen=True)
class CurveLayers:
    """A pruning-curves chart before `finish_curves`: its layers in drawing order, where layers
    of others go (after the bands and error bars, under the curves), its axes, and the note
    that says what its error bars and bands are (`interval_note`, a line each; () when none)."""

    layers: list[alt.Chart]
    under: int
    axes: CurveAxes
    note: tuple[str, ...] = ()


def pruning_curves(
    summary: pd.DataFrame,
    *,
    metric: str,
    relative: bool = False,
    band: Band = "minmax",
    title: str | None = None,
    height: int = 460,
    x: XAxis = "heads",
    pareto: bool = False,
    chance: float | None = None,
    under: Callable[[CurveAxes], Sequence[alt.Chart]] | None = None,
) -> alt.LayerChart | alt.Chart:
    """Metric (or % of unpruned) vs what was pruned; random orders drawn as mean + band.

    `x`: % of heads pruned, or what the pruned model saves (% of encoder FLOPs per example,
    % of parameters; points without counts are left out). `pareto`: highlight, per model and
    language, the points no other order or protocol beats on both saving and score.
    Colour follows `color_mode`; dashes tell orders apart; marker shapes tell models apart
    when languages take the colour. A dotted line marks each unpruned score (relative: 100 %).
    `chance`: the metric's chance level (`mbp.tasks.scoring.chance_level`), drawn as a labelled
    long-dashed line (relative: as % of each unpruned score). With ci_low/ci_high columns
    (example-bootstrap intervals) each point gets an error bar.
    Layers are named by role: band, interval, curve, points, pareto, reference, chance.
    `under`: layers of others (e.g. `mbp.figures.seeds.training_seed_layers`) built on the
    chart's axes, drawn under its curves.
    """
    parts = curve_layers(summary, metric=metric, relative=relative, band=band, x=x,
                         pareto=pareto, chance=chance)  # fmt: skip
    if not isinstance(parts, CurveLayers):
        return parts
    extra = under(parts.axes) if under is not None else ()
    return finish_curves(parts, extra, title=title, height=height)


def finish_curves(parts: CurveLayers, extra: Sequence[alt.Chart] = (), *,
                  title: str | None = None, height: int = 460) -> alt.LayerChart:  # fmt: skip
    """The chart of `curve_layers`, with `extra` layers (drawn on `parts.axes`) under its
    curves, styled: the last step."""
    layers = [*parts.layers[: parts.under], *extra, *parts.layers[parts.under :]]
    chart = style(alt.layer(*layers), title=title, height=height)
    if parts.note:  # under the title, small and grey, a line each: images keep it too
        lines = list(parts.note)
        if isinstance(chart.title, alt.Title):
            chart.title.subtitle = lines
            chart.title.subtitleColor = MUTED_COLOR
            chart.title.subtitleFontSize = 11
        else:  # Vega draws no subtitle under an empty title: the note is the title
            chart.title = alt.Title(lines, anchor="start", fontSize=11, fontWeight="normal",
                                    color=MUTED_COLOR)  # fmt: skip
    return chart


def interval_note(rows: pd.DataFrame, band: Band) -> tuple[str, ...]:
    """What the chart's error bars and bands show, from the drawn `rows` (`_curve_rows`, with
    ci_low where the caller attached intervals): the bars an example bootstrap, the band the
    random order's spread over its seeds (their count from `n_seeds`), a line each; () when it
    draws neither. A training-seed overlay's band is named in its own key."""
    parts = []
    if "ci_low" in rows.columns and rows["ci_low"].notna().any():
        parts.append("bars: 95 % interval over resampled evaluated examples")
    banded = rows.loc[rows["low"].notna(), "n_seeds"]
    if len(banded):
        lo, hi = int(banded.min()), int(banded.max())
        seeds = f"{lo}" if lo == hi else f"{lo}-{hi}"
        spread = "lowest to highest" if band == "minmax" else "mean ± 1 std"
        parts.append(f"band: {spread} over {seeds} random-order seeds")
    return tuple(parts)


def curve_layers(
    summary: pd.DataFrame,
    *,
    metric: str,
    relative: bool = False,
    band: Band = "minmax",
    x: XAxis = "heads",
    pareto: bool = False,
    chance: float | None = None,
) -> CurveLayers | alt.Chart:
    """`pruning_curves`' layers and axes, unfinished; or, when there is nothing to draw, the
    finished chart that says why."""
    _check(summary)
    if summary.empty:
        return empty_figure("No pruning curves for this selection")
    data = relative_values(summary) if relative else summary
    data = data.assign(x=x_values(data, x))
    if x != "heads":
        data = data[data["x"].notna()]
        if data.empty:
            fix = "mbp latency RUN_ID" if x == "speedup" else "mbp costs"
            return empty_figure(f"These curve points carry no {x} figures: run `{fix}`")
    if "protocol" not in data.columns:
        data = data.assign(protocol="posthoc")
    mode = color_mode(summary)
    y_label = f"% of unpruned {metric}" if relative else metric
    fmt = ".1f" if relative else ".4f"
    drawn_rows = _curve_rows(data, mode=mode, band=band)
    points = _drawn_columns(drawn_rows)
    x_max = float(np.nanmax(data["x"])) if len(data) else 100.0
    x_min = 1.0 if x == "speedup" else 0.0
    x_end = 100.0 if x == "heads" else x_max
    span = x_max - x_min
    x_range = [-2, 102] if x == "heads" else [x_min - span * 0.02, x_max + span * 0.02]
    suffix = "x" if x == "speedup" else "%"
    x_enc = alt.X("x:Q", title=X_AXES[x][1], scale=alt.Scale(domain=x_range, nice=False),
                  axis=alt.Axis(labelExpr=f"datum.label + '{suffix}'"))  # fmt: skip
    y_axis = alt.Axis(labelExpr="datum.label + '%'") if relative else alt.Axis()

    axes = CurveAxes(x_enc, y_label, y_axis, relative, fmt, mode, x)
    y_of = axes.y  # one y axis for every layer
    y_enc = y_of("y")
    # the key comes from the curve layer alone: colour (order, language or model, as
    # `color_mode` says), dash (order) and, with both protocols, line width; every other layer
    # takes each row's own colour on fill/stroke (`own_colour`), so none adds or splits a legend
    layers: list[alt.Chart] = []
    band_columns = ["x", "low", "high", "color", "series", "model", "lang", "order_name"]
    spread = points.loc[points["low"].notna(), band_columns]
    if len(spread):
        area = alt.Chart(spread).mark_area(fillOpacity=0.16, interpolate="linear")
        layers.append(role(area.encode(x=x_enc, y=y_of("low"), y2="high:Q",
                                       fill=own_colour("fill"), detail="series:N"), "band"))  # fmt: skip
    if {"ci_low", "ci_high"} <= set(points.columns) and points["ci_low"].notna().any():
        bars = alt.Chart(points[points["ci_low"].notna()]).mark_rule(strokeWidth=1.2)
        layers.append(role(bars.encode(x=x_enc, y=y_of("ci_low"), y2="ci_high:Q",
                                       stroke=own_colour("stroke")), "interval"))  # fmt: skip
    under = len(layers)
    lines = alt.Chart(points).mark_line()
    layers.append(
        role(lines.encode(x=x_enc, y=y_enc, **curve_key(points, mode), detail="series:N",
                          order="x:Q"), "curve")
    )  # fmt: skip
    models = sorted(summary["model"].unique())
    shapes = alt.Scale(domain=[model_label(m) for m in models],
                       range=[_SYMBOLS[i % len(_SYMBOLS)] for i in range(len(models))])  # fmt: skip
    show_shapes = len(models) > 1 and mode != "model"
    markers = alt.Chart(points).mark_point(filled=True, size=40, strokeWidth=1.5, opacity=1.0)
    layers.append(
        role(markers.encode(
            x=x_enc, y=y_enc, fill=own_colour("fill"), stroke=own_colour("stroke"),
            fillOpacity=alt.FillOpacity("fill:Q", scale=None),
            shape=alt.Shape("model_label:N", scale=shapes,
                            legend=legend("model") if show_shapes else None),
            tooltip=_point_tooltip(points, y_label=y_label, fmt=fmt, relative=relative),
        ), "points")
    )  # fmt: skip
    if pareto:
        front = _pareto_rows(data)
        if len(front):
            layers += _pareto_layers(front, x_enc=x_enc, y_enc=y_enc, x=x, y_label=y_label,
                                     fmt=fmt, relative=relative)  # fmt: skip
    layers += _reference_layers(data, relative=relative, mode=mode, y_label=y_label, fmt=fmt,
                                x_enc=x_enc, y_enc=y_enc, x_end=x_end)  # fmt: skip
    if chance is not None:  # from the raw summary: relative data no longer hold the base
        raw = summary if "protocol" in summary.columns else summary.assign(protocol="posthoc")
        layers += chance_layers(raw, chance, relative=relative, fmt=fmt, x_enc=x_enc,
                                y_enc=y_enc, x_min=x_min)  # fmt: skip
    return CurveLayers(layers, under, axes, interval_note(drawn_rows, band))


#: the colour legend's title per `color_mode`
KEY_TITLES = {"order": "order", "lang": "language", "model": "model"}
#: line widths: retrain drawn bolder when both protocols are overlaid
PROTOCOL_WIDTHS = {"posthoc": 2.2, "retrain": 3.4}


def curve_key(points: pd.DataFrame, mode: str) -> dict[str, alt.Color | alt.StrokeDash |
                                                             alt.StrokeWidth]:  # fmt: skip
    """The curve layer's colour, dash and width encodings: one meaningful field each (colour:
    order, language or model; dash: order; width: protocol, keyed only when both are drawn),
    so the key reads "4 languages + 3 orders", not one entry per line. With one language the
    colour is the order too: one field on both channels, which Vega-Lite merges into one key.
    """
    hues = points.drop_duplicates("hue")
    orders = sorted(points["order_name"].unique(), key=_order_key)
    colour_field = "order_name" if mode == "order" else "hue"
    colour_domain = orders if mode == "order" else hues["hue"].tolist()
    colour_range = ([order_color(o) for o in orders] if mode == "order"
                    else hues["color"].tolist())  # fmt: skip
    # a dash-only key draws its strokes dark (Vega's default grey reads as a colour)
    dash_extra = {} if mode == "order" else {"symbolStrokeColor": TEXT_COLOR}
    key = {
        "color": alt.Color(f"{colour_field}:N", scale=alt.Scale(domain=colour_domain,
                           range=colour_range), legend=_key_legend(KEY_TITLES[mode], len(colour_domain))),
        "strokeDash": alt.StrokeDash("order_name:N", scale=alt.Scale(domain=orders,
                                     range=[dash_pattern(order_dash(o)) for o in orders]),
                                     legend=_key_legend("order", len(orders), **dash_extra)),
    }  # fmt: skip
    protocols = sorted(points["protocol"].unique())
    if len(protocols) > 1:
        widths = _key_legend("protocol", len(protocols), symbolStrokeColor=TEXT_COLOR)
        widths.symbolStrokeWidth = alt.Undefined  # the symbols show each protocol's own width
        key["strokeWidth"] = alt.StrokeWidth("protocol:N", legend=widths, scale=alt.Scale(
            domain=protocols, range=[PROTOCOL_WIDTHS.get(p, 2.2) for p in protocols]))  # fmt: skip
    else:
        key["strokeWidth"] = alt.StrokeWidth("width:Q", scale=None)
    return key


def _key_legend(title: str, entries: int, **extra) -> alt.Legend:
    """A key of strokes long enough (~20 px) to show a dash, its entries in one row (up to 6)."""
    key = legend(title, symbolType="stroke", symbolSize=400, symbolOpacity=1.0, **extra)
    key.columns = min(entries, 6)
    return key


def _curve_rows(data: pd.DataFrame, *, mode: str, band: Band) -> pd.DataFrame:
    """One row per drawn point, with its series label, colour, dash, line width, marker fill
    and, for random orders over several seeds, the band's low/high."""
    models = sorted(data["model"].unique())
    both = data["protocol"].nunique() > 1  # overlay: retrain drawn bolder, with open markers
    groups = list(data.groupby(["model", "lang"], sort=True))
    parts = []
    for (model, lang), frame in groups:
        series = frame[["protocol", "order_name"]].drop_duplicates().itertuples(index=False)
        for protocol, order in sorted(series, key=lambda t: (t[0] != "retrain", _order_key(t[1]))):
            part = frame[(frame["order_name"] == order) & (frame["protocol"] == protocol)]
            part = part.sort_values("fraction")
            name = _trace_name(model, lang, order, single=len(groups) == 1, mode=mode,
                               several_models=len(models) > 1)  # fmt: skip
            bold = both and protocol == "retrain"
            seeds = int(part["n_seeds"].max())
            low = high = np.full(len(part), np.nan)
            if order == "random" and seeds > 1:
                mean = part["mean"].to_numpy(dtype=float)
                if band == "std":
                    std = part["std"].fillna(0).to_numpy(dtype=float)
                    low, high = mean - std, mean + std
                else:
                    low = part["min"].to_numpy(dtype=float)
                    high = part["max"].to_numpy(dtype=float)
            parts.append(
                part.assign(
                    series=f"{name} · {protocol}" if both else name,
                    color=series_colour(mode, model, lang, order),
                    dash=order_dash(order), width=PROTOCOL_WIDTHS["retrain" if bold else "posthoc"],
                    fill=0.0 if bold else 1.0,
                    hue={"order": order, "lang": lang}.get(mode, model_label(model)),
                    model_label=model_label(model), y=part["mean"].astype(float),
                    pct=part["fraction"].astype(float) * 100.0, low=low, high=high,
                    label=f"{model_label(model)} · {lang} · {order} · {protocol}",
                    seeds_range=_seeds_range(part, order, seeds),
                )
            )  # fmt: skip
    return pd.concat(parts, ignore_index=True)


#: what the curve layers read: Altair sanitises every column of a layer's frame on each
#: to_dict (half of a curves chart's serialisation time with the whole summary attached)
_DRAWN = (
    "x", "y", "low", "high", "ci_low", "ci_high", "series", "hue", "color", "dash", "width",
    "fill",
    "model", "model_label", "lang", "order_name", "protocol", "label", "pct", "heads_pruned",
    "seeds_range", "flops_saved", "params_saved", "speedup",
)  # fmt: skip


def _drawn_columns(points: pd.DataFrame) -> pd.DataFrame:
    return points[[c for c in _DRAWN if c in points.columns]]


def _seeds_range(part: pd.DataFrame, order: str, seeds: int) -> list[str]:
    if order != "random" or seeds <= 1:
        return [""] * len(part)
    return [f"{seeds} seeds: {lo:.4g} to {hi:.4g}" for lo, hi in zip(part["min"], part["max"],
                                                                      strict=True)]  # fmt: skip


def _point_tooltip(points: pd.DataFrame, *, y_label: str, fmt: str, relative: bool) -> list:
    unit = " (%)" if relative else ""
    tips = [
        alt.Tooltip("label:N", title="series"),
        alt.Tooltip("pct:Q", title="% of heads pruned", format=".0f"),
        alt.Tooltip("heads_pruned:Q", title="heads pruned"),
        alt.Tooltip("y:Q", title=f"{y_label}{unit}", format=fmt),
    ]
    if points["seeds_range"].str.len().gt(0).any():
        tips.append(alt.Tooltip("seeds_range:N", title="random seeds"))
    for column, title, number in (
        ("flops_saved", "% of encoder FLOPs saved", ".1f"),
        ("params_saved", "% of parameters saved", ".1f"),
        ("speedup", "measured speed-up (x)", ".2f"),
        ("ci_low", "95 % interval, low", fmt),
        ("ci_high", "95 % interval, high", fmt),
    ):
        if column in points.columns and points[column].notna().any():
            tips.append(alt.Tooltip(f"{column}:Q", title=title, format=number))
    return tips


def _pareto_rows(data: pd.DataFrame) -> pd.DataFrame:
    """Per model and language: the front over every order and protocol shown."""
    several = data[["model", "lang"]].drop_duplicates().shape[0] > 1
    parts = []
    for (model, lang), frame in data.groupby(["model", "lang"], sort=True):
        frame = frame.reset_index(drop=True)
        idx = pareto_front(frame["x"].to_numpy(dtype=float), frame["mean"].to_numpy(dtype=float))
        if len(idx) == 0:
            continue
        front = frame.iloc[idx]
        label = "Pareto front" + (f" · {model_label(model)} · {lang}" if several else "")
        parts.append(
            pd.DataFrame({
                "x": front["x"].to_numpy(dtype=float), "y": front["mean"].to_numpy(dtype=float),
                "front": label, "model": model, "lang": lang,
                "order_name": front["order_name"].to_numpy(),
                "protocol": front["protocol"].to_numpy(),
                "heads_pruned": front["heads_pruned"].fillna(-1).astype(int).to_numpy(),
            })
        )  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _pareto_layers(front: pd.DataFrame, *, x_enc, y_enc, x: str, y_label: str, fmt: str,
                   relative: bool) -> list[alt.Chart]:  # fmt: skip
    """A thick translucent step line through each front, and an open black ring on its points
    (`step-before`: vertical first, then horizontal, as Plotly's "vh")."""
    base = alt.Chart(front)
    step = base.mark_line(color="#141414", opacity=0.25, strokeWidth=6, interpolate="step-before")
    rings = base.mark_point(filled=False, size=170, color="#111111", strokeWidth=2)
    tooltip = [
        alt.Tooltip("front:N", title="Pareto front"),
        alt.Tooltip("order_name:N", title="order"),
        alt.Tooltip("protocol:N"),
        alt.Tooltip("heads_pruned:Q", title="heads pruned"),
        alt.Tooltip("x:Q", title=X_AXES[x][1], format=".2f"),
        alt.Tooltip("y:Q", title=f"{y_label}{' (%)' if relative else ''}", format=fmt),
    ]
    ends = front.sort_values("x").groupby("front", sort=False).tail(1)  # each front's last point
    label = alt.Chart(ends).mark_text(align="right", dx=-10, dy=-12, fontSize=11, color="#111111")
    return [
        role(step.encode(x=x_enc, y=y_enc, detail="front:N", order="x:Q"), "pareto"),
        role(rings.encode(x=x_enc, y=y_enc, tooltip=tooltip), "pareto_points"),
        role(label.encode(x=x_enc, y=y_enc, text="front:N"), "pareto_label"),
    ]


def _trace_name(model, lang, order, *, single: bool, mode: str, several_models: bool) -> str:
    bits = [] if single else ([model_label(model)] if several_models else [])
    if not single and mode == "lang":
        bits.append(lang)
    return " · ".join([*bits, order]) if bits else order


def _reference_layers(
    data: pd.DataFrame, *, relative: bool, mode: str, y_label: str, fmt: str, x_enc, y_enc,
    x_end: float,
) -> list[alt.Chart]:  # fmt: skip
    """Dotted horizontal rule(s) at the unpruned score, labelled "unpruned" when there is one."""
    if relative:
        rows = pd.DataFrame({"y": [100.0], "label": ["unpruned (100%)"],
                             "color": [REFERENCE_COLOR], "tip": ["unpruned score = 100%"]})  # fmt: skip
    else:
        bases = data.groupby(["model", "lang", "protocol"], sort=True)["base"].first().dropna()
        both = data["protocol"].nunique() > 1
        records = []
        for (model, lang, protocol), base in bases.items():
            color = {"lang": lang_color(lang), "model": model_color(model)}.get(
                mode, REFERENCE_COLOR
            )
            label = "unpruned" if len(bases) == 1 else f"unpruned {model_label(model)} · {lang}"
            label += f" · {protocol}" if both else ""
            records.append({"y": float(base), "label": label, "color": color,
                            "tip": f"{label}: {base:{fmt}} {y_label}"})  # fmt: skip
        rows = pd.DataFrame(records)
    if rows.empty:
        return []
    rule = alt.Chart(rows).mark_rule(strokeDash=dash_pattern("dot"), strokeWidth=1.3, opacity=0.9)
    out = [role(rule.encode(y=y_enc, stroke=own_colour("stroke"),
                            tooltip=alt.Tooltip("tip:N", title=None)), "reference")]  # fmt: skip
    if len(rows) == 1:  # one unpruned line: say so on the plot, at its right end
        text = alt.Chart(rows.assign(x=x_end)).mark_text(
            align="right", baseline="bottom", dy=-3, fontSize=11, color=REFERENCE_COLOR
        )
        out.append(role(text.encode(x=x_enc, y=y_enc, text="label:N"), "reference_label"))
    return out


CHANCE_COLOR = TEXT_COLOR  # near-black, long dashes: apart from the grey unpruned line


CHANCE_LABEL = "chance: uniform guess"


def chance_rows(data: pd.DataFrame, chance: float, *, relative: bool, fmt: str = ".4f"
                ) -> pd.DataFrame:  # fmt: skip
    """The chance level(s) to draw: one in metric units, or (relative) one per model, language
    and protocol at chance / unpruned score. `data` is the raw curve summary (base in metric
    units) with a protocol column. Columns: y, text (the on-plot label), tip, model, lang,
    protocol."""
    if relative:
        bases = data.groupby(["model", "lang", "protocol"], sort=True)["base"].first().dropna()
        levels = [(key, chance / base * 100.0) for key, base in bases.items() if abs(base) > 1e-12]
    else:
        levels = [(None, chance)]
    one_model = data["model"].nunique() == 1
    unit = "%" if relative else ""
    records = []
    for key, level in levels:
        where = "" if key is None else f" · {model_label(key[0])} · {key[1]}"
        tag = "" if len(levels) == 1 else (f" · {key[1]}" if one_model else where)
        records.append({
            "y": float(level),
            "text": f"{CHANCE_LABEL} ({chance:.3g})" if len(levels) == 1 else f"chance{tag}",
            "tip": f"chance level{where}: {level:{fmt}}{unit}"
                   f"{' of unpruned' if relative else ''} (uniform random guess)",
            "model": None if key is None else key[0],
            "lang": None if key is None else key[1],
            "protocol": None if key is None else key[2],
        })  # fmt: skip
    return pd.DataFrame(records)


def chance_layers(data: pd.DataFrame, chance: float, *, relative: bool, fmt: str, x_enc, y_enc,
                  x_min: float) -> list[alt.Chart]:  # fmt: skip
    """Long-dashed rule(s) at the chance level, each labelled at its left end."""
    rows = chance_rows(data, chance, relative=relative, fmt=fmt)
    if rows.empty:
        return []
    base = alt.Chart(rows)
    rule = base.mark_rule(color=CHANCE_COLOR, strokeDash=dash_pattern("longdash"),
                          strokeWidth=1.1)  # fmt: skip
    text = base.transform_calculate(x=f"{x_min}").mark_text(
        align="left", baseline="bottom", dx=4, dy=-3, fontSize=11, color=CHANCE_COLOR
    )
    return [
        role(rule.encode(y=y_enc, tooltip=alt.Tooltip("tip:N", title=None)), "chance"),
        role(text.encode(x=x_enc, y=y_enc, text="text:N"), "chance_label"),
    ]
