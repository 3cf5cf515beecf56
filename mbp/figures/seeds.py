"""Pruning curves of lines fine-tuned with several training seeds: each seed's curve thin,
their mean, and the hierarchical interval (training seeds, then examples) around it; drawn on
the Pruning curves chart itself (`curves_with_training_seeds`) or on their own
(`training_seed_curves`).

    from mbp.figures.seeds import curves_with_training_seeds
    chart = curves_with_training_seeds(summary, curves, intervals, metric="accuracy")

`summary` is `tables.curve_summary`, `curves` `tables.training_seed_curves`, `intervals`
`tables.training_seed_intervals` (mbp.analysis.training_seeds.seed_line_intervals); layers are
named seed-curve, seed-points, seed-interval, seed-mean (and seed-mean-points on the overlay).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from mbp.figures.curves import Band, CurveAxes, CurveLayers, XAxis, curve_layers, finish_curves
from mbp.figures.layout import TEXT_COLOR, empty_figure, legend, own_colour, role, style
from mbp.figures.palette import dash_pattern, model_label, order_dash

_LINE_KEYS = ["model", "lang", "protocol", "order_name"]
CURVE_COLUMNS = (*_LINE_KEYS, "training_seed", "fraction", "value")
INTERVAL_COLUMNS = (*_LINE_KEYS, "seed", "fraction", "training_seeds", "value", "low", "high",
                    "drop_low", "drop_high")  # fmt: skip
#: the overlay's key (on `opacity`, which no curve layer keys): each seed faint, the mean solid
SEED_OPACITY, MEAN_OPACITY = 0.45, 0.95


def _label(frame: pd.DataFrame) -> pd.Series:
    """'model · lang · order' (protocol added for retrain lines)."""
    return frame.apply(
        lambda r: (
            f"{model_label(r['model'])} · {r['lang']} · {r['order_name']}"
            + ("" if r["protocol"] == "posthoc" else f" · {r['protocol']}")
        ),
        axis=1,
    )


def training_seed_curves(
    curves: pd.DataFrame,
    intervals: pd.DataFrame,
    *,
    metric: str,
    title: str | None = None,
    height: int = 420,
) -> alt.LayerChart | alt.Chart:
    """Metric vs % of heads pruned per training seed (thin), the mean over seeds (bold) and,
    where `intervals` has the line's points, its 95 % band. Interval rows of random orders
    (one per order seed) are left out: their seeds' band is the Pruning curves chart's."""
    _check(curves, intervals)
    if curves.empty:
        return empty_figure("No curves of several training seeds for this selection")
    data = curves.assign(line=_label(curves), x=100 * curves["fraction"])
    data["seed_label"] = "seed " + data["training_seed"].astype(str)
    mean = data.groupby(["line", "x"], as_index=False).agg(
        value=("value", "mean"), seeds=("training_seed", "nunique")
    )  # fmt: skip
    x_enc = alt.X("x:Q", title="% heads pruned", scale=alt.Scale(domain=[-2, 102], nice=False),
                  axis=alt.Axis(labelExpr="datum.label + '%'"))  # fmt: skip

    def y_of(field: str) -> alt.Y:
        return alt.Y(f"{field}:Q", title=metric, scale=alt.Scale(zero=False))

    color = alt.Color("line:N", legend=legend("line · mean over training seeds"))
    layers = []
    if len(intervals):
        band = _line_band(intervals)
        if len(band):
            band = band.assign(line=_label(band), x=100 * band["fraction"])
            area = alt.Chart(band).mark_area(opacity=0.18)
            layers.append(role(area.encode(
                x=x_enc, y=y_of("low"), y2="high:Q", color=alt.Color("line:N", legend=None),
                tooltip=[alt.Tooltip("line:N"), alt.Tooltip("x:Q", title="% pruned"),
                         alt.Tooltip("low:Q", format=".4f", title="95 % low"),
                         alt.Tooltip("high:Q", format=".4f", title="95 % high"),
                         alt.Tooltip("training_seeds:Q", title="training seeds")],
            ), "seed-interval"))  # fmt: skip
    per_seed = alt.Chart(data).mark_line(strokeWidth=1, opacity=0.55, strokeDash=[3, 2])
    layers.append(role(per_seed.encode(
        x=x_enc, y=y_of("value"), color=alt.Color("line:N", legend=None), detail="seed_label:N",
        tooltip=[alt.Tooltip("line:N"), alt.Tooltip("seed_label:N", title="training seed"),
                 alt.Tooltip("x:Q", title="% pruned"), alt.Tooltip("value:Q", format=".4f")],
    ), "seed-curve"))  # fmt: skip
    bold = alt.Chart(mean).mark_line(strokeWidth=2.5, point=True)
    layers.append(role(bold.encode(
        x=x_enc, y=y_of("value"), color=color,
        tooltip=[alt.Tooltip("line:N"), alt.Tooltip("x:Q", title="% pruned"),
                 alt.Tooltip("value:Q", format=".4f", title="mean"),
                 alt.Tooltip("seeds:Q", title="training seeds")],
    ), "seed-mean"))  # fmt: skip
    return style(alt.layer(*layers), title=title, height=height)


def _check(curves: pd.DataFrame, intervals: pd.DataFrame) -> None:
    missing = sorted(set(CURVE_COLUMNS) - set(curves.columns))
    if missing:
        raise ValueError(f"curves lack columns {missing}: pass tables.training_seed_curves")
    missing = sorted(set(INTERVAL_COLUMNS) - set(intervals.columns)) if len(intervals) else []
    if missing:
        raise ValueError(
            f"intervals lack columns {missing}: pass tables.training_seed_intervals"
        )  # fmt: skip


def _line_band(intervals: pd.DataFrame) -> pd.DataFrame:
    """The interval rows of lines with one order seed: a random order's rows (one per order
    seed) are left out, as its seeds' band is the curves' own."""
    return intervals.groupby([*_LINE_KEYS, "fraction"]).filter(lambda g: g["seed"].nunique() == 1)


def curves_with_training_seeds(
    summary: pd.DataFrame,
    seed_curves: pd.DataFrame,
    seed_intervals: pd.DataFrame,
    *,
    metric: str,
    relative: bool = False,
    band: Band = "minmax",
    title: str | None = None,
    height: int = 460,
    x: XAxis = "heads",
    pareto: bool = False,
    chance: float | None = None,
) -> alt.LayerChart | alt.Chart:
    """`mbp.figures.curves.pruning_curves` with `training_seed_layers` under its curves, on
    its axes (same arguments, plus the two training-seed frames)."""
    parts = curve_layers(summary, metric=metric, relative=relative, band=band, x=x,
                         pareto=pareto, chance=chance)  # fmt: skip
    if not isinstance(parts, CurveLayers):
        return parts
    extra = training_seed_layers(seed_curves, seed_intervals, parts.axes)
    return finish_curves(parts, extra, title=title, height=height)


def training_seed_layers(
    curves: pd.DataFrame, intervals: pd.DataFrame, axes: CurveAxes
) -> list[alt.Chart]:
    """Layers for a pruning-curves chart (`axes`: `curve_layers(...).axes`): per line with
    several training seeds, each seed's curve (thin, faint), their mean (with its hierarchical
    95 % band where `intervals` has the line), in the line's colour and its order's dash; a key
    "training seeds" on `opacity` (no curve layer keys it), and points whose tooltip gives the
    seed and value. Relative: each seed's curve as % of its own unpruned score, the mean and
    band as % of the seed-mean unpruned score (the band from the paired drop, as
    `training_seeds.relative_seed_drops`)."""
    _check(curves, intervals)
    if axes.x_axis != "heads":
        raise ValueError(
            f"training-seed lines have no {axes.x_axis!r} figures: draw them with x='heads'"
        )  # fmt: skip
    if curves.empty:
        return []
    seeds = _seed_rows(curves, axes)
    band = _band_rows(_line_band(intervals), axes) if len(intervals) else pd.DataFrame()
    mean = _mean_rows(curves, axes)
    mean_key = "mean of training seeds" + (" ± 95 % interval" if len(band) else "")
    keys = [f"training seed {s}" for s in sorted(seeds["training_seed"].unique())]
    seeds = seeds.assign(key=seeds["training_seed"].map(lambda s: f"training seed {s}"))
    mean = mean.assign(key=mean_key)
    key = legend("training seeds", symbolType="stroke", symbolSize=400,
                 symbolStrokeColor=TEXT_COLOR)  # fmt: skip
    key.columns = len(keys) + 1
    scale = alt.Scale(domain=[*keys, mean_key], range=[SEED_OPACITY] * len(keys) + [MEAN_OPACITY])
    opacity = alt.Opacity("key:N", legend=key, scale=scale)
    x_enc, fmt = axes.x, axes.fmt
    # the points share the scale but not the key: a key on a filled-point layer draws its
    # symbols filled, and a stroke symbol then shows nothing
    unkeyed = alt.Opacity("key:N", legend=None, scale=scale)
    out: list[alt.Chart] = []
    if len(band):
        area = alt.Chart(band).mark_area(fillOpacity=0.14, interpolate="linear")
        out.append(role(area.encode(
            x=x_enc, y=axes.y("low"), y2="high:Q", fill=own_colour("fill"), detail="line:N",
            tooltip=[alt.Tooltip("line:N", title="series"),
                     alt.Tooltip("x:Q", title="% of heads pruned", format=".0f"),
                     alt.Tooltip("low:Q", title="95 % interval, low", format=fmt),
                     alt.Tooltip("high:Q", title="95 % interval, high", format=fmt),
                     alt.Tooltip("training_seeds:Q", title="training seeds")],
        ), "seed-interval"))  # fmt: skip
    for frame, width, name in ((seeds, 1.1, "seed-curve"), (mean, 1.8, "seed-mean")):
        for order, part in frame.groupby("order_name", sort=True):
            line = alt.Chart(part).mark_line(strokeWidth=width,
                                             strokeDash=dash_pattern(order_dash(order)))  # fmt: skip
            out.append(role(line.encode(x=x_enc, y=axes.y("y"), stroke=own_colour("stroke"),
                                        opacity=opacity, detail="line:N", order="x:Q"), name))  # fmt: skip
    value = alt.Tooltip("y:Q", title=axes.y_title + (" (%)" if axes.relative else ""), format=fmt)
    dots = alt.Chart(seeds).mark_point(filled=True, size=22)
    out.append(role(dots.encode(
        x=x_enc, y=axes.y("y"), fill=own_colour("fill"), opacity=unkeyed,
        tooltip=[alt.Tooltip("line:N", title="series"),
                 alt.Tooltip("training_seed:Q", title="training seed"),
                 alt.Tooltip("x:Q", title="% of heads pruned", format=".0f"), value],
    ), "seed-points"))  # fmt: skip
    rings = alt.Chart(mean).mark_point(filled=False, size=36, strokeWidth=1.5)
    out.append(role(rings.encode(
        x=x_enc, y=axes.y("y"), stroke=own_colour("stroke"), opacity=unkeyed,
        tooltip=[alt.Tooltip("line:N", title="series"),
                 alt.Tooltip("seeds:Q", title="mean of training seeds"),
                 alt.Tooltip("x:Q", title="% of heads pruned", format=".0f"), value],
    ), "seed-mean-points"))  # fmt: skip
    return out


def _line_label(frame: pd.DataFrame) -> pd.Series:
    """The curves' own series label: 'model · lang · order · protocol'."""
    return frame.apply(
        lambda r: f"{model_label(r['model'])} · {r['lang']} · {r['order_name']} · {r['protocol']}",
        axis=1,
    )


def _styled(frame: pd.DataFrame, axes: CurveAxes) -> pd.DataFrame:
    """x (% of heads pruned), the line's label and its colour on the curves chart."""
    colours = [axes.colour(m, lang, o) for m, lang, o in
               zip(frame["model"], frame["lang"], frame["order_name"], strict=True)]  # fmt: skip
    return frame.assign(x=100.0 * frame["fraction"], line=_line_label(frame), color=colours)


def _unpruned(frame: pd.DataFrame, keys: list[str], column: str = "value") -> pd.Series:
    """Each row's unpruned (fraction 0) `column` of the same `keys`; NaN where none is stored
    or it is 0."""
    base = frame[frame["fraction"] == 0].set_index(keys)[column]
    found = frame.join(base.rename("unpruned"), on=keys)["unpruned"]
    return found.where(found.abs() > 1e-12)


def _seed_rows(curves: pd.DataFrame, axes: CurveAxes) -> pd.DataFrame:
    """One row per seed and point; relative: % of that seed's own unpruned score."""
    keys = [*_LINE_KEYS, "training_seed"]
    y = curves["value"] / _unpruned(curves, keys) * 100.0 if axes.relative else curves["value"]
    out = _styled(curves.assign(y=y.astype(float)), axes)
    return out[out["y"].notna()].sort_values([*keys, "fraction"], ignore_index=True)


def _mean_rows(curves: pd.DataFrame, axes: CurveAxes) -> pd.DataFrame:
    """The mean over training seeds per line and point (seeds: how many); relative: % of the
    seed-mean unpruned score."""
    mean = curves.groupby([*_LINE_KEYS, "fraction"], as_index=False).agg(
        value=("value", "mean"), seeds=("training_seed", "nunique")
    )  # fmt: skip
    mean = mean[mean["seeds"] > 1]
    y = mean["value"] / _unpruned(mean, _LINE_KEYS) * 100.0 if axes.relative else mean["value"]
    out = _styled(mean.assign(y=y.astype(float)), axes)
    return out[out["y"].notna()].reset_index(drop=True)


def _band_rows(band: pd.DataFrame, axes: CurveAxes) -> pd.DataFrame:
    """low/high of each interval row; relative: 100 - the paired drop's interval in % of the
    seed-mean unpruned score of the same line and order seed."""
    if band.empty:
        return band
    if axes.relative:
        base = _unpruned(band, [*_LINE_KEYS, "seed"])
        band = band.assign(low=(base - band["drop_high"]) / base * 100.0,
                           high=(base - band["drop_low"]) / base * 100.0)  # fmt: skip
    out = _styled(band, axes)
    columns = ["x", "low", "high", "line", "color", "training_seeds"]
    return out.loc[out["low"].notna(), columns].sort_values(["line", "x"], ignore_index=True)
