"""Pruning curves of lines fine-tuned with several training seeds, drawn on the Pruning curves
chart itself: each seed's curve thin, their mean, and the hierarchical interval (training seeds,
then examples) around it.

    from mbp.figures.seeds import curves_with_training_seeds
    chart = curves_with_training_seeds(summary, curves, intervals, metric="accuracy")

`summary` is `tables.curve_summary`, `curves` `tables.training_seed_curves`, `intervals`
`tables.training_seed_intervals` (mbp.analysis.training_seeds.seed_line_intervals; for a
relative chart, `training_seeds.relative_seed_intervals` of it); layers are named seed-curve,
seed-points, seed-interval, seed-mean and seed-mean-points.
"""

from __future__ import annotations

import json
from typing import Any

import altair as alt
import pandas as pd

from mbp.figures.curves import CurveAxes, pruning_curves
from mbp.figures.layout import TEXT_COLOR, legend, own_colour, role
from mbp.figures.palette import dash_pattern, model_label, order_dash

_LINE_KEYS = ["model", "lang", "protocol", "order_name"]
CURVE_COLUMNS = (*_LINE_KEYS, "training_seed", "fraction", "value")
INTERVAL_COLUMNS = (*_LINE_KEYS, "seed", "fraction", "training_seeds", "value", "low", "high")
#: the overlay's key (on `opacity`, which no curve layer keys): each seed faint, the mean solid
SEED_OPACITY, MEAN_OPACITY = 0.45, 0.95
#: line widths of each seed's curve and of their mean
SEED_WIDTH, MEAN_WIDTH = 1.1, 1.8
#: the band's fill, and its key entry's (a filled square: darker, to read at its small size)
BAND_OPACITY, BAND_KEY_OPACITY = 0.14, 0.3
BAND_KEY = "95 % interval (training seeds, then examples)"
#: key symbols (SVG paths in a -1..1 box) like the chart's marks: a stroke through a small dot
#: (each seed), a stroke through an open ring (the mean)
SEED_SYMBOL = "M-1,0H1M0.16,0A0.16,0.16 0 1,1 -0.16,0A0.16,0.16 0 1,1 0.16,0Z"
MEAN_SYMBOL = "M-1,0H-0.28M0.28,0H1M0.28,0A0.28,0.28 0 1,1 -0.28,0A0.28,0.28 0 1,1 0.28,0Z"


def curves_with_training_seeds(
    summary: pd.DataFrame, seed_curves: pd.DataFrame, seed_intervals: pd.DataFrame,
    **curve_args: Any,
) -> alt.LayerChart | alt.Chart:  # fmt: skip
    """`mbp.figures.curves.pruning_curves(summary, **curve_args)` with `training_seed_layers`
    of the two training-seed frames under its curves, on its axes."""
    return pruning_curves(
        summary, under=lambda axes: training_seed_layers(seed_curves, seed_intervals, axes),
        **curve_args,
    )  # fmt: skip


def training_seed_layers(
    curves: pd.DataFrame, intervals: pd.DataFrame, axes: CurveAxes
) -> list[alt.Chart]:
    """Layers for a pruning-curves chart (`axes`: its `CurveAxes`): per line with several
    training seeds, each seed's curve (thin, faint, with small dots), their mean (with open
    rings) and its hierarchical 95 % band (a filled area, where `intervals` has the line), in
    the line's colour and its order's dash; a key "training seeds" on `opacity` (no curve layer
    keys it) whose entries look like what they name. Relative: each seed's curve as % of its
    own unpruned score, the mean as % of the seed-mean unpruned score, and `intervals` must be
    in % already (`training_seeds.relative_seed_intervals`)."""
    _check(curves, intervals, relative=axes.relative)
    if axes.x_axis != "heads":
        raise ValueError(
            f"training-seed lines have no {axes.x_axis!r} figures: draw them with x='heads'"
        )  # fmt: skip
    if curves.empty:
        return []
    seeds = _seed_rows(curves, axes)
    band = _band_rows(_line_band(intervals), axes) if len(intervals) else pd.DataFrame()
    mean = _mean_rows(curves, axes)
    seed_keys = [f"training seed {s}" for s in sorted(seeds["training_seed"].unique())]
    mean_key = "mean of training seeds"
    entries = [*seed_keys, mean_key, *([BAND_KEY] if len(band) else [])]
    seeds = seeds.assign(key=seeds["training_seed"].map(lambda s: f"training seed {s}"))
    mean = mean.assign(key=mean_key)
    # ordinal: one opacity per entry (Vega-Lite's default "point" scale spreads the range
    # between its ends, which drew the mean as faint as the seeds)
    scale = alt.Scale(type="ordinal", domain=entries,
                      range=[SEED_OPACITY] * len(seed_keys) + [MEAN_OPACITY]
                      + [BAND_KEY_OPACITY] * (len(entries) - len(seed_keys) - 1))  # fmt: skip
    opacity = alt.Opacity("key:N", legend=_key(seed_keys, mean_key, len(entries)), scale=scale)
    # the other layers share the scale but not the key: one key, drawn from the seed curves
    unkeyed = alt.Opacity("key:N", legend=None, scale=scale)
    x_enc, fmt = axes.x, axes.fmt
    out: list[alt.Chart] = []
    if len(band):
        area = alt.Chart(band).mark_area(fillOpacity=BAND_OPACITY, interpolate="linear")
        out.append(role(area.encode(
            x=x_enc, y=axes.y("low"), y2="high:Q", fill=own_colour("fill"), detail="line:N",
            tooltip=[alt.Tooltip("line:N", title="series"),
                     alt.Tooltip("x:Q", title="% of heads pruned", format=".0f"),
                     alt.Tooltip("low:Q", title="95 % interval, low", format=fmt),
                     alt.Tooltip("high:Q", title="95 % interval, high", format=fmt),
                     alt.Tooltip("training_seeds:Q", title="training seeds")],
        ), "seed-interval"))  # fmt: skip
    for frame, width, name, keyed in ((seeds, SEED_WIDTH, "seed-curve", opacity),
                                      (mean, MEAN_WIDTH, "seed-mean", unkeyed)):  # fmt: skip
        for order, part in frame.groupby("order_name", sort=True):
            line = alt.Chart(part).mark_line(strokeWidth=width,
                                             strokeDash=dash_pattern(order_dash(order)))  # fmt: skip
            out.append(role(line.encode(x=x_enc, y=axes.y("y"), stroke=own_colour("stroke"),
                                        opacity=keyed, detail="line:N", order="x:Q"), name))  # fmt: skip
    value = alt.Tooltip("y:Q", title=axes.y_title + (" (%)" if axes.relative else ""), format=fmt)
    dots = alt.Chart(seeds).mark_point(filled=True, size=22)
    out.append(_points(dots, "fill", unkeyed, axes, value, ("training_seed", "training seed"),
                       "seed-points"))  # fmt: skip
    rings = alt.Chart(mean).mark_point(filled=False, size=36, strokeWidth=1.5)
    out.append(_points(rings, "stroke", unkeyed, axes, value, ("seeds", "mean of training seeds"),
                       "seed-mean-points"))  # fmt: skip
    return out


def _key(seed_keys: list[str], mean_key: str, entries: int) -> alt.Legend:
    """The "training seeds" key: each seed a thin faint stroke through a dot, the mean a bolder
    one through an open ring, the band a filled square, as the chart draws them (a legend on
    one line layer would draw every entry as the same stroke)."""

    def by_entry(seed: Any, mean: Any, band: Any) -> alt.ExprRef:
        """One value per kind of entry (Vega evaluates legend expressions per entry)."""
        seeds = " || ".join(f"datum.value === {json.dumps(k)}" for k in seed_keys)
        return alt.ExprRef(f"({seeds}) ? {json.dumps(seed)} : datum.value === "
                           f"{json.dumps(mean_key)} ? {json.dumps(mean)} : {json.dumps(band)}")  # fmt: skip

    key = legend("training seeds", symbolType=by_entry(SEED_SYMBOL, MEAN_SYMBOL, "square"),
                 symbolFillColor=by_entry(TEXT_COLOR, "transparent", TEXT_COLOR),
                 symbolSize=by_entry(400, 400, 150), symbolStrokeColor=TEXT_COLOR)  # fmt: skip
    key.symbolStrokeWidth = by_entry(SEED_WIDTH, MEAN_WIDTH, 0)  # the house 2.5 for all
    key.columns = entries
    return key


def _points(
    chart: alt.Chart,
    channel: str,
    opacity: alt.Opacity,
    axes: CurveAxes,
    value: alt.Tooltip,
    count: tuple[str, str],
    name: str,
) -> alt.Chart:
    """A point layer on the curve axes, in each row's colour on `channel` (fill: dots, stroke:
    rings), whose tooltip gives the series, `count` (field, title), the % pruned and `value`."""
    return role(chart.encode(
        x=axes.x, y=axes.y("y"), opacity=opacity, **{channel: own_colour(channel)},
        tooltip=[alt.Tooltip("line:N", title="series"),
                 alt.Tooltip(f"{count[0]}:Q", title=count[1]),
                 alt.Tooltip("x:Q", title="% of heads pruned", format=".0f"), value],
    ), name)  # fmt: skip


def _check(curves: pd.DataFrame, intervals: pd.DataFrame, *, relative: bool) -> None:
    missing = sorted(set(CURVE_COLUMNS) - set(curves.columns))
    if missing:
        raise ValueError(f"curves lack columns {missing}: pass tables.training_seed_curves")
    if not len(intervals):
        return
    missing = sorted(set(INTERVAL_COLUMNS) - set(intervals.columns))
    if missing:
        raise ValueError(
            f"intervals lack columns {missing}: pass tables.training_seed_intervals"
        )  # fmt: skip
    if relative != ("unpruned" in intervals.columns):
        fix = "relative_seed_intervals of them" if relative else "them as they are"
        raise ValueError(
            f"a {'relative' if relative else 'absolute'} chart needs intervals "
            f"{'in' if relative else 'not in'} % of the seed-mean unpruned score: pass "
            f"tables.training_seed_intervals' rows, {fix} (mbp.analysis.training_seeds)"
        )  # fmt: skip


def _line_band(intervals: pd.DataFrame) -> pd.DataFrame:
    """The interval rows of lines with one order seed: a random order's rows (one per order
    seed) are left out, as its seeds' band is the curves' own."""
    return intervals.groupby([*_LINE_KEYS, "fraction"]).filter(lambda g: g["seed"].nunique() == 1)


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
    """low/high of each interval row, in the chart's units as the analysis gave them."""
    if band.empty:
        return band
    out = _styled(band, axes)
    columns = ["x", "low", "high", "line", "color", "training_seeds"]
    return out.loc[out["low"].notna(), columns].sort_values(["line", "x"], ignore_index=True)
