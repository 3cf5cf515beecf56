"""Pruning curves: metric vs % of heads pruned, one line per order, random seeds as a band.

Input is the small aggregated frame `mbp.analysis.tables.curve_summary` returns (one row per
model, language, order and grid fraction; random seeds already reduced to mean/std/min/max in
SQL), never raw points.

    fig = pruning_curves(summary, metric="accuracy", relative=True, band="minmax")
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mbp.figures.layout import assemble, empty_figure
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
    y_label = f"% of unpruned {metric}" if relative else metric
    fmt = ".1f" if relative else ".4f"
    unit = "%" if relative else ""
    traces: list[dict] = []
    if "protocol" not in data.columns:
        data = data.assign(protocol="posthoc")
    both = data["protocol"].nunique() > 1  # overlay: retrain drawn bolder, with open markers
    groups = list(data.groupby(["model", "lang"], sort=True))
    for (model, lang), frame in groups:
        series = frame[["protocol", "order_name"]].drop_duplicates().itertuples(index=False)
        for protocol, order in sorted(series, key=lambda t: (t[0] != "retrain", _order_key(t[1]))):
            part = frame[(frame["order_name"] == order) & (frame["protocol"] == protocol)]
            color = {"order": order_color(order), "lang": lang_color(lang)}.get(
                mode, model_color(model)
            )
            name = _trace_name(model, lang, order, single=len(groups) == 1, mode=mode,
                               several_models=len(models) > 1)  # fmt: skip
            symbol = _SYMBOLS[models.index(model) % len(_SYMBOLS)]
            traces += _series_traces(
                part.sort_values("fraction"), model=model, lang=lang, order=order, color=color,
                band=band, name=f"{name} · {protocol}" if both else name,
                symbol=f"{symbol}-open" if both and protocol == "retrain" else symbol,
                y_label=y_label, fmt=fmt, unit=unit, protocol=protocol,
                width=3.4 if both and protocol == "retrain" else 2.2,
            )  # fmt: skip
    traces += _reference_lines(data, relative=relative, mode=mode, y_label=y_label, fmt=fmt)
    return assemble(
        traces,
        title=title,
        height=height,
        layout={
            "xaxis": {"title": {"text": "% of attention heads pruned"}, "range": [-2, 102],
                      "ticksuffix": "%"},
            "yaxis": {"title": {"text": y_label}, "ticksuffix": "%" if relative else ""},
        },
    )  # fmt: skip


def _trace_name(model, lang, order, *, single: bool, mode: str, several_models: bool) -> str:
    bits = [] if single else ([model_label(model)] if several_models else [])
    if not single and mode == "lang":
        bits.append(lang)
    return " · ".join([*bits, order]) if bits else order


def _series_traces(part: pd.DataFrame, *, model: str, lang: str, order: str, color: str,
                   band: Band, name: str, symbol: str, y_label: str, fmt: str,
                   unit: str, protocol: str = "posthoc", width: float = 2.2) -> list[dict]:  # fmt: skip
    """The mean line of one (model, language, protocol, order) and, for random orders, its
    band."""
    group = f"{model}|{lang}|{protocol}|{order}"
    x = part["fraction"].to_numpy(dtype=float) * 100.0
    mean = part["mean"].to_numpy(dtype=float)
    seeds = int(part["n_seeds"].max())
    out: list[dict] = []
    if order == "random" and seeds > 1:
        if band == "std":
            std = part["std"].fillna(0).to_numpy(dtype=float)
            upper, lower, band_name = mean + std, mean - std, "±1 std"
        else:
            upper = part["max"].to_numpy(dtype=float)
            lower = part["min"].to_numpy(dtype=float)
            band_name = "min-max"
        out.append(
            {
                "type": "scatter",
                "x": np.concatenate([x, x[::-1]]),
                "y": np.concatenate([upper, lower[::-1]]),
                "fill": "toself",
                "fillcolor": hex_to_rgba(color, 0.16),
                "line": {"width": 0},
                "hoverinfo": "skip",
                "name": f"{name} {band_name} band ({seeds} seeds)",
                "legendgroup": group,
                "showlegend": False,
                "meta": {
                    "role": "band",
                    "order": order,
                    "model": model,
                    "lang": lang,
                    "protocol": protocol,
                },
            }
        )
    custom = np.column_stack(
        [
            part["heads_pruned"].fillna(-1).to_numpy(dtype=float).astype(int),
            mean,
            part["n_seeds"].to_numpy(dtype=float),
            part["min"].to_numpy(dtype=float),
            part["max"].to_numpy(dtype=float),
        ]
    )
    spread = (
        f"<br>{seeds} seeds, range %{{customdata[3]:{fmt}}}-%{{customdata[4]:{fmt}}}{unit}"
        if order == "random" and seeds > 1
        else ""
    )
    out.append(
        {
            "type": "scatter",
            "x": x,
            "y": mean,
            "mode": "lines+markers",
            "name": name,
            "legendgroup": group,
            "line": {"color": color, "dash": order_dash(order), "width": width},
            "marker": {"size": 6, "color": color, "symbol": symbol},
            "customdata": custom,
            "hovertemplate": (
                f"<b>{model_label(model)} · {lang} · {order} · {protocol}</b><br>"
                "%{x:.0f}% of heads pruned (%{customdata[0]} heads)<br>"
                f"{y_label}: %{{customdata[1]:{fmt}}}{unit}{spread}<extra></extra>"
            ),
            "meta": {
                "role": "curve",
                "order": order,
                "model": model,
                "lang": lang,
                "protocol": protocol,
            },
        }
    )
    return out


def _reference_lines(
    data: pd.DataFrame, *, relative: bool, mode: str, y_label: str, fmt: str
) -> list[dict]:
    """Dotted horizontal line(s) at the unpruned score."""
    if relative:
        return [
            {
                "type": "scatter", "x": [0, 100], "y": [100, 100], "mode": "lines",
                "name": "unpruned (100%)",
                "line": {"color": REFERENCE_COLOR, "dash": "dot", "width": 1.5},
                "hovertemplate": "unpruned score = 100%<extra></extra>",
                "meta": {"role": "reference"},
            }
        ]  # fmt: skip
    bases = data.groupby(["model", "lang", "protocol"], sort=True)["base"].first().dropna()
    both = data["protocol"].nunique() > 1
    out = []
    for (model, lang, protocol), base in bases.items():
        color = {"lang": lang_color(lang), "model": model_color(model)}.get(mode, REFERENCE_COLOR)
        label = "unpruned" if len(bases) == 1 else f"unpruned {model_label(model)} · {lang}"
        label += f" · {protocol}" if both else ""
        out.append(
            {
                "type": "scatter", "x": [0, 100], "y": [float(base), float(base)],
                "mode": "lines", "name": label,
                "line": {"color": color, "dash": "dot", "width": 1.2}, "opacity": 0.8,
                "showlegend": len(bases) == 1,
                "hovertemplate": f"{label}: {base:{fmt}} {y_label}<extra></extra>",
                "meta": {"role": "reference", "model": model, "lang": lang},
            }
        )  # fmt: skip
    return out
