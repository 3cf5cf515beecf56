"""Pruning curves: metric vs % of heads pruned, one line per order, random seeds as a band.

Input is the small aggregated frame `mbp.dashboard_data.curve_summary` returns (one row per
model, language, order and grid fraction; random seeds already reduced to mean/std/min/max in
SQL), never raw points.

    fig = pruning_curves(summary, metric="accuracy", relative=True, band="minmax")
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import empty_figure, style
from mbp.figures.palette import (
    REFERENCE_COLOR,
    hex_to_rgba,
    lang_color,
    model_color,
    model_label,
    order_color,
    order_dash,
)

Band = Literal["minmax", "std"]
SUMMARY_COLUMNS = (
    "model", "lang", "order_name", "fraction", "heads_pruned", "n_seeds",
    "mean", "std", "min", "max", "base",
)  # fmt: skip
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")
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
    for column in ("mean", "std", "min", "max"):
        out[column] = out[column] / base * 100.0
    out["base"] = 100.0
    return out


def _order_key(order: str) -> tuple[int, str]:
    return (ORDER_SEQUENCE.index(order) if order in ORDER_SEQUENCE else 99, order)


def pruning_curves(
    summary: pd.DataFrame,
    *,
    metric: str,
    relative: bool = False,
    band: Band = "minmax",
    title: str | None = None,
    height: int = 460,
) -> go.Figure:
    """Metric (or % of unpruned) vs % heads pruned; random orders drawn as mean + band.

    Colour follows `color_mode`; dashes tell orders apart; marker symbols tell models apart
    when languages take the colour. A dotted line marks each unpruned score (relative: 100 %).
    """
    _check(summary)
    if summary.empty:
        return empty_figure("No pruning curves for this selection")
    data = relative_values(summary) if relative else summary
    mode = color_mode(summary)
    models = sorted(summary["model"].unique())
    fig = go.Figure()
    y_label = f"% of unpruned {metric}" if relative else metric
    fmt = ".1f" if relative else ".4f"
    unit = "%" if relative else ""
    series = data.groupby(["model", "lang"], sort=True)
    for (model, lang), frame in series:
        single = series.ngroups == 1
        for order in sorted(frame["order_name"].unique(), key=_order_key):
            part = frame[frame["order_name"] == order].sort_values("fraction")
            color = {"order": order_color(order), "lang": lang_color(lang)}.get(
                mode, model_color(model)
            )
            name_bits = [] if single else ([model_label(model)] if len(models) > 1 else [])
            if not single and mode == "lang":
                name_bits.append(lang)
            name = " · ".join([*name_bits, order]) if name_bits else order
            group = f"{model}|{lang}|{order}"
            x = part["fraction"].to_numpy() * 100.0
            seeds = int(part["n_seeds"].max())
            if order == "random" and seeds > 1:
                if band == "std":
                    upper = part["mean"] + part["std"].fillna(0)
                    lower = part["mean"] - part["std"].fillna(0)
                    band_name = "±1 std"
                else:
                    upper, lower = part["max"], part["min"]
                    band_name = "min-max"
                fig.add_trace(
                    go.Scatter(
                        x=np.concatenate([x, x[::-1]]),
                        y=np.concatenate([upper.to_numpy(), lower.to_numpy()[::-1]]),
                        fill="toself",
                        fillcolor=hex_to_rgba(color, 0.16),
                        line={"width": 0},
                        hoverinfo="skip",
                        name=f"{name} {band_name} band ({seeds} seeds)",
                        legendgroup=group,
                        showlegend=False,
                        meta={"role": "band", "order": order, "model": model, "lang": lang},
                    )
                )
            custom = np.column_stack(
                [
                    part["heads_pruned"].fillna(-1).astype(int).to_numpy(),
                    part["mean"].to_numpy(),
                    part["n_seeds"].to_numpy(),
                    part["min"].to_numpy(),
                    part["max"].to_numpy(),
                ]
            )
            spread = (
                f"<br>{seeds} seeds, range %{{customdata[3]:{fmt}}}-%{{customdata[4]:{fmt}}}{unit}"
                if order == "random" and seeds > 1
                else ""
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=part["mean"],
                    mode="lines+markers",
                    name=name,
                    legendgroup=group,
                    line={"color": color, "dash": order_dash(order), "width": 2.2},
                    marker={
                        "size": 6,
                        "color": color,
                        "symbol": _SYMBOLS[models.index(model) % len(_SYMBOLS)],
                    },
                    customdata=custom,
                    hovertemplate=(
                        f"<b>{model_label(model)} · {lang} · {order}</b><br>"
                        "%{x:.0f}% of heads pruned (%{customdata[0]} heads)<br>"
                        f"{y_label}: %{{customdata[1]:{fmt}}}{unit}{spread}<extra></extra>"
                    ),
                    meta={"role": "curve", "order": order, "model": model, "lang": lang},
                )
            )
    _reference_lines(fig, data, relative=relative, mode=mode, y_label=y_label, fmt=fmt)
    style(fig, title=title, height=height)
    fig.update_xaxes(title_text="% of attention heads pruned", range=[-2, 102], ticksuffix="%")
    fig.update_yaxes(title_text=y_label, ticksuffix="%" if relative else "")
    return fig


def _reference_lines(
    fig: go.Figure, data: pd.DataFrame, *, relative: bool, mode: str, y_label: str, fmt: str
) -> None:
    """Dotted horizontal line(s) at the unpruned score."""
    if relative:
        fig.add_trace(
            go.Scatter(
                x=[0, 100], y=[100, 100], mode="lines", name="unpruned (100%)",
                line={"color": REFERENCE_COLOR, "dash": "dot", "width": 1.5},
                hovertemplate="unpruned score = 100%<extra></extra>",
                meta={"role": "reference"},
            )
        )  # fmt: skip
        return
    bases = data.groupby(["model", "lang"], sort=True)["base"].first().dropna()
    for (model, lang), base in bases.items():
        color = {"lang": lang_color(lang), "model": model_color(model)}.get(mode, REFERENCE_COLOR)
        label = "unpruned" if len(bases) == 1 else f"unpruned {model_label(model)} · {lang}"
        fig.add_trace(
            go.Scatter(
                x=[0, 100], y=[base, base], mode="lines", name=label,
                line={"color": color, "dash": "dot", "width": 1.2},
                opacity=0.8, showlegend=len(bases) == 1,
                hovertemplate=f"{label}: {base:{fmt}} {y_label}<extra></extra>",
                meta={"role": "reference", "model": model, "lang": lang},
            )
        )  # fmt: skip
