"""The chart that tests each paper claim, drawn from a `mbp.analysis.claims.ClaimResult.table`.

Altair (Vega-Lite) charts; every layer is named by its role (`layout.role`). Where the table
carries `relative_drop_low` / `relative_drop_high` (a 95 % interval, same units as
`relative_drop`), claims 1 and 2 draw them as error bars (role "interval").

    chart = claim1_figure(result.table, tolerance=0.05)
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from mbp.figures.labels import Axis, spread
from mbp.figures.layout import TEXT_COLOR, empty_figure, legend, own_colour, role, style
from mbp.figures.palette import dash_pattern, lang_color, model_color, model_label
from mbp.figures.scatter import reliance_scatter

X_TITLE = "% of heads pruned"
Y_TITLE = "relative drop (% of unpruned)"
INTERVAL = ("relative_drop_low", "relative_drop_high")
_PERCENT = "datum.value + '%'"


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    """x, y (and low, high where the table has intervals) in %, from a claim table's rows."""
    out = pd.DataFrame(
        {
            "x": (rows["fraction"].to_numpy(dtype=float) * 100).round(6),
            "y": (rows["relative_drop"].to_numpy(dtype=float) * 100).round(6),
        },
        index=rows.index,
    )
    if set(INTERVAL) <= set(rows.columns):
        out["low"] = (rows[INTERVAL[0]].to_numpy(dtype=float) * 100).round(6)
        out["high"] = (rows[INTERVAL[1]].to_numpy(dtype=float) * 100).round(6)
    return out


def _has_interval(table: pd.DataFrame) -> bool:
    return set(INTERVAL) <= set(table.columns) and bool(table[list(INTERVAL)].notna().any().all())


def _x(title: str | None = X_TITLE) -> alt.X:
    return alt.X("x:Q", title=title, axis=alt.Axis(labelExpr=_PERCENT, labelAngle=0, tickCount=5))


def _y() -> alt.Y:
    return alt.Y("y:Q", title=Y_TITLE, axis=alt.Axis(labelExpr=_PERCENT))


def _interval_bars(base: alt.Chart, color: alt.Color | alt.Stroke) -> alt.Chart:
    """A 95 % interval as an error bar at each point that has one, coloured by `color` (the
    lines' scale) or each row's own colour (`own_colour("stroke")`)."""
    channel = "stroke" if isinstance(color, alt.Stroke) else "color"
    bars = (
        base.transform_filter("isValid(datum.low) && isValid(datum.high)")
        .mark_errorbar(ticks=True, thickness=1.5)
        .encode(
            x="x:Q",
            y=alt.Y("low:Q", title=Y_TITLE),
            y2="high:Q",
            **{channel: color},
            tooltip=[
                alt.Tooltip("series:N", title="line"),
                alt.Tooltip("x:Q", title="% pruned", format=".0f"),
                alt.Tooltip("low:Q", title="95 % interval from (%)", format=".1f"),
                alt.Tooltip("high:Q", title="to (%)", format=".1f"),
            ],
        )
    )
    return role(bars, "interval")


def claim1_figure(table: pd.DataFrame, *, tolerance: float) -> alt.TopLevelMixin:
    """Relative drop vs % pruned per GLUE task (one panel each, shared y), one line per model,
    with the interval of each point as an error bar where the table has one."""
    if table.empty:
        return empty_figure("No matched GLUE curves of both models")
    rows = table.sort_values(["task", "model", "fraction"])
    data = _points(rows).assign(
        task=rows["task"].astype(str).to_numpy(),
        model=rows["model"].astype(str).to_numpy(),
        series=[model_label(m) for m in rows["model"]],
    )
    models = sorted(data["model"].unique())
    color = alt.Color(
        "series:N",
        scale=alt.Scale(domain=[model_label(m) for m in models],
                        range=[model_color(m) for m in models]),
        legend=legend(None),
    )  # fmt: skip
    base = alt.Chart()
    # no per-panel x title: side by side in a narrow column they ran into each other; the
    # facet's header title below the panels is the one shared x title
    curves = base.mark_line(point=True, strokeWidth=2.4).encode(
        x=_x(None), y=_y(), color=color,
        tooltip=[alt.Tooltip("series:N", title="model"), alt.Tooltip("task:N"),
                 alt.Tooltip("x:Q", title="% pruned", format=".0f"),
                 alt.Tooltip("y:Q", title="relative drop (%)", format=".1f")],
    )  # fmt: skip
    layers = [role(curves, "curve")]
    if _has_interval(table):
        layers.append(_interval_bars(base, color))
    tasks = sorted(data["task"].unique())
    # panels narrow enough that four fit the page's chart column (~520 px) with the y axis
    width = int(min(240, max(80, 380 / len(tasks))))
    chart = (
        alt.layer(*layers, data=data)
        .properties(width=width, height=260)
        .facet(
            column=alt.Column(
                "task:N", sort=tasks, title=X_TITLE,
                header=alt.Header(labelOrient="top", labelFontWeight="bold", labelFontSize=13,
                                  titleOrient="bottom", titleFontSize=13,
                                  titleFontWeight="normal"),
            ),
            spacing=14,
        )
    )  # fmt: skip
    return style(chart, title=f"Relative drop per GLUE task (tolerance {tolerance:.0%})")


#: GLUE lines on claim 2: told apart by dash, marker and an end label (no hue, so the
#: language colours keep their meaning).
_GLUE_STYLES = (
    ("dash", "square", "#4B5563"),
    ("dot", "diamond", "#6B7280"),
    ("dashdot", "triangle-up", "#374151"),
    ("longdash", "cross", "#9CA3AF"),
)
_MEAN_COLOR = TEXT_COLOR


def claim2_highlights(xnli: pd.DataFrame, n: int = 3) -> list[str]:
    """The XNLI languages claim 2 draws on their own: English, then the languages with the
    largest and the smallest mean relative drop, up to `n`."""
    means = xnli.groupby("lang")["relative_drop"].mean().sort_values()
    picks = ["en"] if "en" in means.index else []
    for lang in (means.index[-1:].tolist() + means.index[:1].tolist()) if len(means) else []:
        if lang not in picks:
            picks.append(lang)
    return picks[:n]


def _claim2_lines(xnli: pd.DataFrame, glue: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple]]:
    """Every line claim 2 draws (columns series, role, task, lang, x, y[, low, high], and its
    look: color, marker, width) and each line's (series, colour, dash, marker, width), in
    legend order."""
    frames, styles = [], []
    if len(xnli):
        stats = xnli.groupby("fraction", as_index=False)["relative_drop"].mean()
        name = f"XNLI mean of {xnli['lang'].nunique()} language(s)"
        frames.append(_points(stats).assign(series=name, role="xnli-mean", task="xnli", lang=""))
        styles.append((name, _MEAN_COLOR, "solid", "circle", 3.2))
        for lang in claim2_highlights(xnli):
            rows = xnli[xnli["lang"] == lang].sort_values("fraction")
            name = f"XNLI {lang}"
            frames.append(_points(rows).assign(series=name, role="xnli", task="xnli", lang=lang))
            styles.append((name, lang_color(lang), "solid", "circle", 1.8))
    for i, (series, rows) in enumerate(glue.groupby("series", sort=True)):
        dash, marker, color = _GLUE_STYLES[i % len(_GLUE_STYLES)]
        rows = rows.sort_values("fraction")
        task = str(rows["task"].iloc[0])
        frames.append(_points(rows).assign(series=series, role="glue", task=task, lang=""))
        styles.append((series, color, dash, marker, 2.4))
    looks = pd.DataFrame(styles, columns=["series", "color", "dash", "marker", "width"])
    lines = pd.concat(frames, ignore_index=True)
    return lines.merge(looks.drop(columns="dash"), on="series", how="left"), styles


def claim2_figure(table: pd.DataFrame) -> alt.TopLevelMixin:
    """XNLI as its mean over languages with a min-max band, a few languages highlighted
    (`claim2_highlights`), and each GLUE task as its own dashed, marked and end-labelled
    line; error bars where the table has intervals."""
    if table.empty:
        return empty_figure("Needs XNLI and GLUE curves of the multilingual model")
    xnli = table[table["series"].str.startswith("XNLI")]
    glue = table[table["series"].str.startswith("GLUE")]
    lines, styles = _claim2_lines(xnli, glue)
    names = [s[0] for s in styles]
    colors = alt.Scale(domain=names, range=[s[1] for s in styles])
    key = legend(None, symbolType="stroke", symbolSize=300)  # strokes show each line's dash
    key.columns = 2  # long labels: two a row fit the page's chart column
    color = alt.Color("series:N", sort=names, legend=key, scale=colors)
    # the same field and legend on dash: Vega-Lite merges the two into one key whose strokes
    # show each line's colour and dash
    dash = alt.StrokeDash("series:N", sort=names, legend=key, scale=alt.Scale(
        domain=names, range=[dash_pattern(s[2]) for s in styles]))  # fmt: skip
    # markers, widths, error bars and end labels take each row's own look (scale=None), on
    # fill/stroke, never on color (`own_colour`): the lines' key stays the only one
    width = alt.StrokeWidth("width:Q", scale=None)
    tooltip = [alt.Tooltip("series:N", title="line"),
               alt.Tooltip("x:Q", title="% pruned", format=".0f"),
               alt.Tooltip("y:Q", title="relative drop (%)", format=".1f")]  # fmt: skip
    base = alt.Chart(lines)
    layers = []
    n_langs = xnli["lang"].nunique()
    if n_langs > 1:
        layers.append(_claim2_band(xnli, n_langs))
    for name in ("xnli-mean", "xnli", "glue"):
        if (lines["role"] == name).any():
            part = base.transform_filter(alt.datum.role == name)
            layers.append(role(part.mark_line().encode(
                x=_x(), y=_y(), color=color, strokeDash=dash, strokeWidth=width, tooltip=tooltip
            ), name))  # fmt: skip
    marked = lines[lines["role"].isin(["xnli-mean", "glue"])]
    if len(marked):  # markers on the mean and on the GLUE lines (a shape per task)
        # full fill/stroke opacity, not `opacity`: a mark's opacity would carry over to the
        # band's fill key (the markers' fill shares its channel) and darken that symbol
        points = base.transform_filter("datum.role != 'xnli'").mark_point(
            filled=True, size=55, fillOpacity=1, strokeOpacity=1
        ).encode(
            x=_x(), y=_y(), fill=own_colour("fill"), stroke=own_colour("stroke"),
            shape=alt.Shape("marker:N", scale=None),
            tooltip=tooltip,
        )  # fmt: skip
        layers.append(role(points, "markers"))
    if _has_interval(table):
        layers.append(_interval_bars(base, own_colour("stroke")))
    if len(glue):  # the task's name at the end of its line, moved apart where ends are close
        ends = lines[lines["role"] == "glue"].sort_values("x").groupby("series").tail(1)
        ends = ends.assign(label_dy=_end_label_dy(ends["y"], table))
        labels = (
            alt.Chart(ends)
            .mark_text(align="left", baseline="middle", dx=6, fontSize=_END_LABEL_FONT,
                       dy=alt.expr("datum.label_dy"))
            .encode(x="x:Q", y="y:Q", text="task:N", fill=own_colour("fill"))
        )  # fmt: skip
        layers.append(role(labels, "end-label"))
    # room for the end labels; the width is a default for images (the page stretches it)
    chart = alt.layer(*layers).properties(width=560, padding={"right": 48})
    return style(chart, title="Relative drop: XNLI languages vs GLUE", height=420)


_END_LABEL_FONT = 11
#: The plot's height in pixels, (smallest, largest): the dashboard fits title, both legends and
#: the axis into the chart's 420 px, which leaves the plot about 140 (measured in Chromium).
_CLAIM2_PLOT_HEIGHT = (120.0, 420.0)


def _end_label_dy(ends: pd.Series, table: pd.DataFrame) -> list[float]:
    """Each end label's dy (pixels) so that no two overlap at any plot height the chart may get
    (`mbp.figures.labels.spread`). The y axis spans the drawn values and 0 (Vega's default), and
    its `nice` rounding can widen that by up to about half: reckoned at the widest, labels can
    come out a little further apart than needed, never closer."""
    columns = ["relative_drop", *[c for c in INTERVAL if c in table]]  # lines, band, bars
    drawn = table[columns].stack().dropna() * 100
    lo, hi = min(float(drawn.min()), 0.0), max(float(drawn.max()), 0.0)
    axis = Axis((lo, lo + 1.5 * ((hi - lo) or 1.0)), _CLAIM2_PLOT_HEIGHT)
    return [round(-float(v), 1) for v in spread(ends, axis, _END_LABEL_FONT + 2)]


def _claim2_band(xnli: pd.DataFrame, n_langs: int) -> alt.Chart:
    """The min-max range of the XNLI languages at each % pruned, with its own legend entry."""
    stats = xnli.groupby("fraction")["relative_drop"].agg(["min", "max"]).reset_index()
    label = f"XNLI range (min-max of {n_langs} languages)"
    band = pd.DataFrame(
        {
            "x": (stats["fraction"].to_numpy(dtype=float) * 100).round(6),
            "low": (stats["min"].to_numpy(dtype=float) * 100).round(6),
            "high": (stats["max"].to_numpy(dtype=float) * 100).round(6),
            "band": label,
        }
    )
    key = legend(None, symbolOpacity=0.25)
    key.orient = "top"  # above the plot: beside the lines' legend it would push that off the page
    area = alt.Chart(band).mark_area(opacity=0.12).encode(
        x=_x(), y=alt.Y("low:Q", title=Y_TITLE), y2="high:Q",
        fill=alt.Fill("band:N", scale=alt.Scale(domain=[label], range=[_MEAN_COLOR]),
                      legend=key),
        tooltip=[alt.Tooltip("x:Q", title="% pruned", format=".0f"),
                 alt.Tooltip("low:Q", title="least drop (%)", format=".1f"),
                 alt.Tooltip("high:Q", title="largest drop (%)", format=".1f")],
    )  # fmt: skip
    return role(area, "xnli-band")


def claim3_figure(table: pd.DataFrame) -> alt.TopLevelMixin:
    """Reliance on bottom layers vs Wikipedia size, symbols by morphology."""
    return reliance_scatter(
        table, group_by="morphology", title="Bottom-layer reliance vs pre-training size"
    )


#: Claim 3's groups under resampling: warm for the bottom layers, cool for the top, grey for
#: neither (no language hue, so the language colours keep their meaning elsewhere).
GROUP_COLORS = {"bottom-reliant": "#B45309", "top-reliant": "#1D4ED8", "neither": "#D1D5DB"}


def claim3_groups_figure(groups: pd.DataFrame) -> alt.TopLevelMixin:
    """Per language, the share of resamples of the examples that put it among the most
    bottom-reliant, among the most top-reliant, or in neither group (stacked to 100 %):
    `ClaimResult.groups` of claim 3, the most bottom-reliant language on top."""
    if groups.empty:
        return empty_figure("No per-example outcomes behind the layer-wise runs: no resamples")
    langs = groups["lang"].astype(str).tolist()
    bottom = groups["bottom-reliant share"].to_numpy(dtype=float)
    top = groups["top-reliant share"].to_numpy(dtype=float)
    shares = {"bottom-reliant": bottom, "top-reliant": top,
              "neither": (1.0 - bottom - top).clip(0, 1)}  # fmt: skip
    data = pd.DataFrame(
        [
            {"lang": lang, "group": name, "rank": rank, "share": round(float(v) * 100, 6)}
            for rank, (name, values) in enumerate(shares.items())
            for lang, v in zip(langs, values, strict=True)
        ]
    )
    names = list(GROUP_COLORS)
    bars = alt.Chart(data).mark_bar().encode(
        y=alt.Y("lang:N", sort=langs, title=None),
        x=alt.X("share:Q", stack="zero", title="% of resamples of the evaluated examples",
                scale=alt.Scale(domain=[0, 100]), axis=alt.Axis(labelExpr=_PERCENT)),
        color=alt.Color("group:N", sort=names, legend=legend(None),
                        scale=alt.Scale(domain=names, range=list(GROUP_COLORS.values()))),
        order=alt.Order("rank:Q"),
        tooltip=[alt.Tooltip("lang:N", title="language"), alt.Tooltip("group:N"),
                 alt.Tooltip("share:Q", title="% of resamples", format=".0f")],
    )  # fmt: skip
    return style(
        role(bars, "group-share").properties(height=alt.Step(22)),
        title="Claim 3 under resampling: how often each language is in each group",
        height=None,
    )
