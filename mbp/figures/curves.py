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
) -> go.Figure:
    """Metric (or % of unpruned) vs what was pruned; random orders drawn as mean + band.

    `x`: % of heads pruned, or what the pruned model saves (% of encoder FLOPs per example,
    % of parameters; points without counts are left out). `pareto`: highlight, per model and
    language, the points no other order or protocol beats on both saving and score.
    Colour follows `color_mode`; dashes tell orders apart; marker symbols tell models apart
    when languages take the colour. A dotted line marks each unpruned score (relative: 100 %).
    `chance`: the metric's chance level (`mbp.tasks.scoring.chance_level`), drawn as a labelled
    long-dashed line (relative: as % of each unpruned score).
    """
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
    if pareto:
        traces += _pareto_traces(data, y_label=y_label, fmt=fmt, unit=unit, x=x)
    x_max = float(np.nanmax(data["x"])) if len(data) else 100.0
    x_min = 1.0 if x == "speedup" else 0.0
    traces += _reference_lines(data, relative=relative, mode=mode, y_label=y_label, fmt=fmt,
                               x_max=100.0 if x == "heads" else x_max, x_min=x_min)  # fmt: skip
    if chance is not None:  # from the raw summary: relative data no longer hold the base
        raw = summary if "protocol" in summary.columns else summary.assign(protocol="posthoc")
        traces += chance_lines(raw, chance, relative=relative, fmt=fmt, unit=unit,
                               x_min=x_min, x_max=100.0 if x == "heads" else x_max)  # fmt: skip
    span = x_max - x_min
    x_range = [-2, 102] if x == "heads" else [x_min - span * 0.02, x_max + span * 0.02]
    return assemble(
        traces,
        title=title,
        height=height,
        layout={
            "xaxis": {"title": {"text": X_AXES[x][1]}, "range": x_range,
                      "ticksuffix": "x" if x == "speedup" else "%"},
            "yaxis": {"title": {"text": y_label}, "ticksuffix": "%" if relative else ""},
        },
    )  # fmt: skip


def _pareto_traces(data: pd.DataFrame, *, y_label: str, fmt: str, unit: str, x: str) -> list[dict]:
    """Per model and language: the front over every order and protocol shown."""
    out = []
    several = data[["model", "lang"]].drop_duplicates().shape[0] > 1
    for (model, lang), frame in data.groupby(["model", "lang"], sort=True):
        frame = frame.reset_index(drop=True)
        idx = pareto_front(frame["x"].to_numpy(dtype=float), frame["mean"].to_numpy(dtype=float))
        if len(idx) == 0:
            continue
        front = frame.iloc[idx]
        label = "Pareto front" + (f" · {model_label(model)} · {lang}" if several else "")
        out.append(
            {
                "type": "scatter", "x": front["x"].to_numpy(dtype=float),
                "y": front["mean"].to_numpy(dtype=float), "mode": "lines+markers",
                "name": label,
                "line": {"color": "rgba(20,20,20,0.25)", "width": 6, "shape": "vh"},
                "marker": {"size": 13, "color": "rgba(0,0,0,0)",
                           "line": {"color": "#111111", "width": 2}},
                "customdata": np.column_stack([front["order_name"], front["protocol"],
                                               front["heads_pruned"].fillna(-1).astype(int)]),
                "hovertemplate": (
                    f"<b>Pareto front · {model_label(model)} · {lang}</b><br>"
                    "%{customdata[0]} · %{customdata[1]} · %{customdata[2]} heads pruned<br>"
                    f"{X_AXES[x][1]}: %{{x:.2f}}{'x' if x == 'speedup' else '%'}<br>"
                    f"{y_label}: %{{y:{fmt}}}{unit}<extra></extra>"
                ),
                "meta": {"role": "pareto", "model": model, "lang": lang},
            }
        )  # fmt: skip
    return out


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
    x = part["x"].to_numpy(dtype=float) if "x" in part else part["fraction"].to_numpy() * 100.0
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
    nan = np.full(len(part), np.nan)
    custom = np.column_stack(
        [
            part["heads_pruned"].fillna(-1).to_numpy(dtype=float).astype(int),
            mean,
            part["n_seeds"].to_numpy(dtype=float),
            part["min"].to_numpy(dtype=float),
            part["max"].to_numpy(dtype=float),
            part["fraction"].to_numpy(dtype=float) * 100.0,
            part["flops_saved"].to_numpy(dtype=float) if "flops_saved" in part else nan,
            part["params_saved"].to_numpy(dtype=float) if "params_saved" in part else nan,
            part["speedup"].to_numpy(dtype=float) if "speedup" in part else nan,
        ]
    )
    saved = (
        "<br>saves %{customdata[6]:.1f}% of encoder FLOPs, %{customdata[7]:.1f}% of parameters"
        if "flops_saved" in part and part["flops_saved"].notna().all()
        else ""
    )
    if "speedup" in part and part["speedup"].notna().all():
        saved += "<br>measured speed-up %{customdata[8]:.2f}x"
    spread = (
        f"<br>{seeds} seeds, range %{{customdata[3]:{fmt}}}-%{{customdata[4]:{fmt}}}{unit}"
        if order == "random" and seeds > 1
        else ""
    )
    error = {}
    if "ci_low" in part and part["ci_low"].notna().any():  # bootstrap interval over examples
        low, high = part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float)
        error = {"error_y": {"type": "data", "array": high - mean, "arrayminus": mean - low,
                             "color": color, "thickness": 1.2, "width": 3}}  # fmt: skip
    out.append(
        {
            **error,
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
                "%{customdata[5]:.0f}% of heads pruned (%{customdata[0]} heads)"
                f"{saved}<br>{y_label}: %{{customdata[1]:{fmt}}}{unit}{spread}<extra></extra>"
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
    data: pd.DataFrame, *, relative: bool, mode: str, y_label: str, fmt: str,
    x_max: float = 100.0, x_min: float = 0.0,
) -> list[dict]:  # fmt: skip
    """Dotted horizontal line(s) at the unpruned score."""
    if relative:
        return [
            {
                "type": "scatter", "x": [x_min, x_max], "y": [100, 100], "mode": "lines",
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
                "type": "scatter", "x": [x_min, x_max], "y": [float(base), float(base)],
                "mode": "lines", "name": label,
                "line": {"color": color, "dash": "dot", "width": 1.2}, "opacity": 0.8,
                "showlegend": len(bases) == 1,
                "hovertemplate": f"{label}: {base:{fmt}} {y_label}<extra></extra>",
                "meta": {"role": "reference", "model": model, "lang": lang},
            }
        )  # fmt: skip
    return out


CHANCE_COLOR = "#1F2430"  # near-black, long dashes: apart from the grey unpruned line


CHANCE_LABEL = "chance: uniform guess"


def chance_lines(
    data: pd.DataFrame, chance: float, *, relative: bool, fmt: str = ".4f", unit: str = "",
    x_min: float = 0.0, x_max: float = 100.0,
) -> list[dict]:  # fmt: skip
    """Long-dashed line(s) at the chance level: one in metric units, or (relative) one per model,
    language and protocol at chance / unpruned score, all under one legend entry. `data` is
    the raw curve summary (base in metric units) with a protocol column."""
    if relative:
        bases = data.groupby(["model", "lang", "protocol"], sort=True)["base"].first().dropna()
        levels = [(key, chance / base * 100.0) for key, base in bases.items() if abs(base) > 1e-12]
    else:
        levels = [(None, chance)]
    one_model = data["model"].nunique() == 1
    out = []
    for i, (key, level) in enumerate(levels):
        where = "" if key is None else f" · {model_label(key[0])} · {key[1]}"
        tag = "" if len(levels) == 1 else (f" · {key[1]}" if one_model else where)
        out.append(
            {
                "type": "scatter", "x": [x_min, x_max], "y": [level, level],
                "mode": "lines+text", "text": [f"chance{tag}", ""], "textposition": "top right",
                "textfont": {"size": 11, "color": CHANCE_COLOR},
                "name": f"{CHANCE_LABEL} ({chance:.3g})", "legendgroup": "chance",
                "showlegend": i == 0,
                "line": {"color": CHANCE_COLOR, "dash": "longdash", "width": 1.1},
                "hovertemplate": f"chance level{where}: {level:{fmt}}{unit}"
                f"{' of unpruned' if relative else ''} (uniform random guess)<extra></extra>",
                "meta": {"role": "chance", **({} if key is None else
                         {"model": key[0], "lang": key[1], "protocol": key[2]})},
            }
        )  # fmt: skip
    return out
