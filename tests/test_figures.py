"""Figure builders are pure functions: small frames in, Plotly figures out (no Streamlit)."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

from mbp.figures import (
    DIVERGING_SCALE,
    LANG_COLORS,
    MODEL_COLORS,
    ORDER_COLORS,
    claim1_figure,
    claim2_figure,
    claim2_highlights,
    claim3_figure,
    color_mode,
    head_difference_heatmap,
    head_heatmap,
    headline_curves,
    lang_color,
    layer_heatmap,
    model_color,
    model_label,
    plotly_config,
    pruning_curves,
    rank_correlation_heatmap,
    reliance_bars,
    reliance_scatter,
    target_order,
)
from mbp.tasks.registry import XNLI_LANGUAGES
from mbp.tasks.scoring import chance_level

GRID = [0.0, 0.25, 0.5, 0.75, 1.0]


def summary_frame(langs=("en",), models=("e5-small",), orders=("importance", "random")):
    """A curve summary like dashboard_data.curve_summary's, with a random band of 3 seeds."""
    rows = []
    for model in models:
        for lang in langs:
            base = 0.8 if lang == "en" else 0.7
            for order in orders:
                for f in GRID:
                    mean = base - (base - 0.33) * f ** (3 if order == "importance" else 1.5)
                    seeds = 3 if order == "random" else 1
                    spread = 0.02 if seeds > 1 and f > 0 else 0.0
                    rows.append(
                        {
                            "model": model,
                            "task": "xnli",
                            "lang": lang,
                            "order_name": order,
                            "fraction": f,
                            "heads_pruned": round(f * 144),
                            "n_seeds": seeds,
                            "mean": mean,
                            "std": spread / 2 if seeds > 1 else np.nan,
                            "min": mean - spread,
                            "max": mean + spread,
                            "base": base,
                            "n_examples": 500,
                            "metric": "accuracy",
                        }
                    )
    return pd.DataFrame(rows)


def traces(fig, role):
    return [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == role]


# ----------------------------------------------------------------------------- colours


def test_every_xnli_language_has_its_own_fixed_colour():
    assert set(LANG_COLORS) == set(XNLI_LANGUAGES)
    colours = [LANG_COLORS[code] for code in XNLI_LANGUAGES]
    assert len(set(colours)) == 15
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)
    assert lang_color("sw") == LANG_COLORS["sw"] == lang_color("sw")

    # unknown codes get a fallback colour that is the same in every process (no hash seed)
    import subprocess
    import sys

    from mbp.figures.palette import _FALLBACK

    script = "from mbp.figures.palette import lang_color; print(lang_color('xx'))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {lang_color("xx")} and lang_color("xx") in _FALLBACK


def test_models_and_orders_have_distinct_colours():
    assert len(set(MODEL_COLORS.values())) == len(MODEL_COLORS)
    assert len(set(ORDER_COLORS.values())) == len(ORDER_COLORS)
    assert model_color("/tmp/cache/tiny-bert") == MODEL_COLORS["tiny-bert"]
    assert model_label("/tmp/cache/tiny-bert") == "tiny-bert"
    assert model_label("e5-small") == "e5-small"


# ----------------------------------------------------------------------------- curves


def test_pruning_curves_single_series_colours_orders_and_draws_band_and_reference():
    fig = pruning_curves(summary_frame(), metric="accuracy", band="minmax")
    curves = traces(fig, "curve")
    assert [t.meta["order"] for t in curves] == ["importance", "random"]
    assert curves[0].line.color == ORDER_COLORS["importance"]
    assert curves[1].line.color == ORDER_COLORS["random"]
    assert curves[1].line.dash == "dash"
    (band,) = traces(fig, "band")
    assert band.fill == "toself"
    # band = max on the way out, min on the way back (min-max over seeds)
    data = summary_frame().query("order_name == 'random'")
    assert np.allclose(band.y[: len(GRID)], data["max"])
    assert np.allclose(band.y[len(GRID) :], data["min"][::-1])
    (ref,) = traces(fig, "reference")
    assert list(ref.y) == [0.8, 0.8]  # the unpruned score
    assert list(curves[0].x) == [0, 25, 50, 75, 100]
    assert "heads pruned" in curves[0].hovertemplate
    assert list(curves[0].customdata[:, 0]) == [0, 36, 72, 108, 144]  # heads pruned on hover
    assert fig.layout.xaxis.title.text == "% of attention heads pruned"


def test_pruning_curves_std_band_and_relative_scale():
    frame = summary_frame()
    fig = pruning_curves(frame, metric="accuracy", relative=True, band="std")
    (band,) = traces(fig, "band")
    random = frame.query("order_name == 'random'")
    upper = (random["mean"] + random["std"].fillna(0)) / random["base"] * 100
    assert np.allclose(band.y[: len(GRID)], upper)
    (ref,) = traces(fig, "reference")
    assert list(ref.y) == [100, 100]
    importance = traces(fig, "curve")[0]
    assert importance.y[0] == pytest.approx(100.0)
    assert fig.layout.yaxis.title.text == "% of unpruned accuracy"


def test_pruning_curves_several_languages_use_language_colours():
    frame = summary_frame(langs=("en", "sw", "tr"))
    assert color_mode(frame) == "lang"
    fig = pruning_curves(frame, metric="accuracy")
    for trace in traces(fig, "curve"):
        assert trace.line.color == LANG_COLORS[trace.meta["lang"]]
    assert {t.meta["lang"] for t in traces(fig, "band")} == {"en", "sw", "tr"}
    assert len(traces(fig, "reference")) == 3  # one unpruned line per language


def test_pruning_curves_several_models_use_model_colours():
    frame = summary_frame(models=("e5-small", "minilm-l6"), orders=("importance",))
    assert color_mode(frame) == "model"
    fig = pruning_curves(frame, metric="accuracy")
    colours = {t.meta["model"]: t.line.color for t in traces(fig, "curve")}
    assert colours == {"e5-small": MODEL_COLORS["e5-small"], "minilm-l6": MODEL_COLORS["minilm-l6"]}


def test_pruning_curves_chance_line_is_labelled_absolute_and_relative():
    frame = summary_frame()
    assert not traces(pruning_curves(frame, metric="accuracy"), "chance")  # only when given
    fig = pruning_curves(frame, metric="accuracy", chance=chance_level("xnli"))
    (line,) = traces(fig, "chance")
    assert list(line.y) == [pytest.approx(1 / 3)] * 2 and list(line.x) == [0, 100]
    assert line.name == "chance: uniform guess (0.333)" and line.showlegend
    assert list(line.text) == ["chance", ""]  # labelled on the chart, at the left end
    # relative: chance as % of each unpruned score (en 0.8 and sw 0.7), one legend entry
    two = summary_frame(langs=("en", "sw"))
    fig = pruning_curves(two, metric="accuracy", relative=True, chance=1 / 3)
    lines = traces(fig, "chance")
    levels = {t.meta["lang"]: t.y[0] for t in lines}
    assert levels == {"en": pytest.approx(100 / 3 / 0.8), "sw": pytest.approx(100 / 3 / 0.7)}
    assert [t.showlegend for t in lines].count(True) == 1
    assert {t.text[0] for t in lines} == {"chance · en", "chance · sw"}  # which line is whose


def test_chance_level_per_task_and_metric():
    assert chance_level("xnli") == pytest.approx(1 / 3)  # three NLI classes
    assert chance_level("sst2") == 0.5 and chance_level("mrpc", "accuracy") == 0.5
    assert chance_level("cola") == 0.0 and chance_level("stsb") == 0.0
    assert chance_level("mrpc") is None  # F1 depends on the label balance
    assert chance_level("no-such-task") is None


def test_pruning_curves_empty_and_malformed_input():
    empty = pruning_curves(summary_frame().iloc[0:0], metric="accuracy")
    assert len(empty.data) == 0 and "No pruning curves" in empty.layout.annotations[0].text
    with pytest.raises(ValueError, match="lacks columns"):
        pruning_curves(pd.DataFrame({"model": []}), metric="accuracy")


# ----------------------------------------------------------------------------- heatmaps


def layer_frame():
    rows = []
    for lang, sign in (("en", 1), ("sw", -1)):
        for i in range(4):
            rows.append({"lang": lang, "target": f"layer:{i}", "drop": 0.01 * (i + 1) * sign})
        for group, value in (("bottom", 0.05), ("middle", 0.02), ("top", -0.03)):
            rows.append({"lang": lang, "target": f"group:{group}", "drop": value})
    return pd.DataFrame(rows)


def test_target_order_puts_layers_by_number_then_groups():
    targets = ["group:top", "layer:10", "layer:2", "group:bottom", "layer:0", "group:middle"]
    assert target_order(targets) == [
        "layer:0", "layer:2", "layer:10", "group:bottom", "group:middle", "group:top",
    ]  # fmt: skip


def test_layer_heatmap_has_one_symmetric_diverging_scale():
    fig = layer_heatmap(layer_frame(), lang_order=["sw", "en"])
    (heat,) = fig.data
    assert heat.zmid == 0 and heat.zmin == -heat.zmax
    assert heat.zmax == pytest.approx(5.0)  # largest |drop| (0.05) in points
    assert list(heat.x) == ["L1", "L2", "L3", "L4", "bottom", "middle", "top"]
    assert heat.y[0].startswith("sw") and LANG_COLORS["sw"] in heat.y[0]
    assert heat.colorscale[0][1] == DIVERGING_SCALE[0][1]
    fixed = layer_heatmap(layer_frame(), zmax=0.2)
    assert fixed.data[0].zmax == pytest.approx(20.0) and fixed.data[0].zmin == pytest.approx(-20.0)


def test_layer_heatmap_labels_its_unit_points_or_relative():
    points = layer_heatmap(layer_frame(), value_name="accuracy drop").data[0]
    assert points.colorbar.title.text == "accuracy drop<br>(points)"
    assert "points" in points.hovertemplate
    relative = layer_heatmap(
        layer_frame(), value_name="accuracy relative drop", unit="% of unpruned"
    ).data[0]
    assert relative.colorbar.title.text == "accuracy relative drop<br>(% of unpruned)"
    assert "points" not in relative.colorbar.title.text + relative.hovertemplate
    assert "×100" not in relative.colorbar.title.text
    assert "% of unpruned" in relative.hovertemplate


def head_frame(seed=0, layers=3, heads=4):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [
            {"layer": layer, "head": head, "score": float(rng.gamma(2.0))}
            for layer in range(layers)
            for head in range(heads)
        ]
    )


def test_head_heatmaps():
    fig = head_heatmap(head_frame(), lang="en", zmax=5.0)
    (heat,) = fig.data
    assert np.asarray(heat.z).shape == (3, 4)
    assert heat.zmin == 0 and heat.zmax == 5.0
    assert list(heat.y) == ["1", "2", "3"] and list(heat.x) == ["1", "2", "3", "4"]
    diff = head_difference_heatmap(head_frame(0), head_frame(1), lang_a="en", lang_b="de").data[0]
    assert diff.zmid == 0 and diff.zmin == -diff.zmax
    assert np.nansum(np.asarray(diff.z, dtype=float)) == pytest.approx(0.0, abs=1e-9)


def test_rank_correlation_heatmap_colours_span_the_data_range():
    langs = ["en", "de", "sw"]
    values = [[1.0, 0.93, 0.81], [0.93, 1.0, 0.98], [0.81, 0.98, 1.0]]
    matrix = pd.DataFrame(values, index=langs, columns=langs)
    (heat,) = rank_correlation_heatmap(matrix).data
    # the off-diagonal range (the diagonal is 1 by definition), not -1..1
    assert (heat.zmin, heat.zmax) == (pytest.approx(0.81), pytest.approx(0.98))
    assert heat.zmid is None
    assert "0.81–0.98" in heat.colorbar.title.text and "data" in heat.colorbar.title.text
    # all pairs alike: widened so the scale is not degenerate
    pair = pd.DataFrame([[1.0, 0.9], [0.9, 1.0]], index=["en", "de"], columns=["en", "de"])
    (heat,) = rank_correlation_heatmap(pair).data
    assert heat.zmin < 0.9 < heat.zmax and heat.zmax - heat.zmin == pytest.approx(0.02)
    empty = rank_correlation_heatmap(pd.DataFrame())
    assert len(empty.data) == 0 and "two languages" in empty.layout.annotations[0].text


# ----------------------------------------------------------------------------- scatter & others


def reliance_frame():
    return pd.DataFrame(
        {
            "lang": ["en", "de", "tr", "sw"],
            "reliance": [-10.0, -3.0, 6.0, 12.0],
            "wiki_articles": [5_700_000, 2_200_000, 320_000, 50_000],
            "word_order": ["SVO", "no dominant order", "SOV", "SVO"],
            "morphology": ["fusional", "fusional", "agglutinative", "agglutinative"],
        }
    )


def test_reliance_scatter_log_x_language_colours_and_trend():
    fig = reliance_scatter(reliance_frame(), group_by="word_order")
    assert fig.layout.xaxis.type == "log"
    langs = traces(fig, "language")
    assert {t.meta["lang"]: t.marker.color for t in langs} == {
        code: LANG_COLORS[code] for code in ("en", "de", "tr", "sw")
    }
    (trend,) = traces(fig, "trend")
    assert trend.y[0] > trend.y[-1]  # fewer articles -> more reliance on bottom layers
    assert {t.name for t in traces(fig, "shape-key")} == {"SOV", "SVO", "no dominant order"}


def test_headline_and_bars():
    fig = headline_curves(summary_frame(langs=("en", "sw")))
    (line,) = traces(fig, "curve")
    assert line.y[0] == pytest.approx(100.0) and "mean of 2 languages" in line.name
    assert line.line.color == MODEL_COLORS["e5-small"]
    bars = reliance_bars(reliance_frame(), model="e5-small").data[0]
    assert list(bars.marker.color) == [LANG_COLORS[c] for c in ("en", "de", "tr", "sw")]


def test_claim_figures():
    table = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "task": ["sst2"] * 4,
            "fraction": [0.1, 0.2, 0.1, 0.2],
            "relative_drop": [0.01, 0.02, 0.012, 0.03],
        }
    )
    assert len(traces(claim1_figure(table, tolerance=0.05), "curve")) == 2
    t2 = pd.DataFrame(
        {
            "series": ["XNLI en", "XNLI en", "GLUE sst2", "GLUE sst2"],
            "task": ["xnli", "xnli", "sst2", "sst2"],
            "lang": ["en", "en", "en", "en"],
            "fraction": [0.1, 0.2, 0.1, 0.2],
            "relative_drop": [0.02, 0.05, 0.01, 0.02],
        }
    )
    fig = claim2_figure(t2)
    assert len(traces(fig, "xnli")) == 1 and len(traces(fig, "glue")) == 1
    assert len(traces(fig, "xnli-mean")) == 1
    assert claim3_figure(reliance_frame()).layout.xaxis.type == "log"


def claim1_table(tasks=("mnli", "mrpc", "qnli", "sst2")):
    rows = [
        {"model": model, "task": task, "fraction": f, "relative_drop": 0.01 * i * f}
        for task in tasks
        for i, model in enumerate(("e5-small", "minilm-l6"), start=1)
        for f in (0.1, 0.2, 0.3, 0.4, 0.5)
    ]
    return pd.DataFrame(rows)


def test_claim1_panels_share_one_x_title_so_titles_cannot_overlap():
    fig = claim1_figure(claim1_table(), tolerance=0.05)
    axes = [fig.layout[name] for name in fig.layout if name.startswith("xaxis")]
    assert len(axes) == 4
    assert all(not (axis.title and axis.title.text) for axis in axes)  # no per-panel x titles
    titles = [a for a in fig.layout.annotations if a.text == "% of heads pruned"]
    assert len(titles) == 1 and titles[0].x == 0.5 and titles[0].yanchor == "top"
    # panel names sit at distinct positions, and ticks do not rotate into the title
    assert len({a.x for a in fig.layout.annotations}) == len(fig.layout.annotations)
    assert all(axis.tickangle == 0 for axis in axes)
    y_titled = [fig.layout[n] for n in fig.layout if n.startswith("yaxis")]
    assert sum(bool(a.title and a.title.text) for a in y_titled) == 1


def claim2_table(langs=XNLI_LANGUAGES, tasks=("mnli", "mrpc", "qnli", "sst2")):
    rows = []
    for i, lang in enumerate(langs):
        for f in (0.1, 0.2, 0.3):
            rows.append({"series": f"XNLI {lang}", "task": "xnli", "lang": lang, "fraction": f,
                         "relative_drop": 0.001 * i * f * 10})  # fmt: skip
    for task in tasks:
        for f in (0.1, 0.2, 0.3):
            rows.append({"series": f"GLUE {task}", "task": task, "lang": "en", "fraction": f,
                         "relative_drop": 0.01 * f})  # fmt: skip
    return pd.DataFrame(rows)


def test_claim2_is_a_mean_with_a_band_a_few_languages_and_distinct_glue_lines():
    fig = claim2_figure(claim2_table())
    assert len(fig.data) <= 9  # was 15 languages + mean + 4 GLUE lines
    names = [t.name for t in fig.data]
    assert len(set(names)) == len(names)
    (band,) = traces(fig, "xnli-band")
    assert band.fill == "toself" and "15 languages" in band.name
    (mean,) = traces(fig, "xnli-mean")
    assert mean.y[-1] == pytest.approx(np.mean([0.003 * i for i in range(15)]) * 100)
    # English plus the languages losing the most and the least
    assert [t.meta["lang"] for t in traces(fig, "xnli")] == ["en", "ur"]  # en is also least
    small = claim2_table(langs=("fr", "en", "sw", "de"))  # drops grow in this order
    assert claim2_highlights(small[small["task"] == "xnli"]) == ["en", "de", "fr"]
    for t in traces(fig, "xnli"):
        assert t.line.color == LANG_COLORS[t.meta["lang"]]
    glue = traces(fig, "glue")
    assert [t.name for t in glue] == ["GLUE mnli", "GLUE mrpc", "GLUE qnli", "GLUE sst2"]
    styles = {(t.line.dash, t.marker.symbol, t.line.color) for t in glue}
    assert len(styles) == 4  # no two GLUE lines look alike
    labels = {a.text for a in fig.layout.annotations}
    assert {"mnli", "mrpc", "qnli", "sst2"} <= labels  # each labelled at its end


def test_plotly_config_downloads_png_or_svg():
    png = plotly_config("curves xnli/en", "png")
    assert png["toImageButtonOptions"]["format"] == "png"
    assert png["toImageButtonOptions"]["filename"] == "curves-xnli-en"
    assert plotly_config("x", "svg")["toImageButtonOptions"]["format"] == "svg"
    with pytest.raises(ValueError):
        plotly_config("x", "gif")


def test_example_intervals_become_error_bars_scaled_with_the_curve():
    summary = summary_frame(orders=("importance",))
    summary = summary.assign(ci_low=summary["mean"] - 0.02, ci_high=summary["mean"] + 0.03)
    (curve,) = traces(pruning_curves(summary, metric="accuracy"), "curve")
    assert np.allclose(curve.error_y.array, 0.03) and np.allclose(curve.error_y.arrayminus, 0.02)
    (relative,) = traces(pruning_curves(summary, metric="accuracy", relative=True), "curve")
    assert np.allclose(relative.error_y.array, 0.03 / 0.8 * 100)  # % of the unpruned 0.8
    (plain,) = traces(pruning_curves(summary_frame(orders=("importance",)), metric="accuracy"),
                      "curve")  # fmt: skip
    assert plain.error_y.array is None


def test_layer_heatmap_hatches_drops_within_noise_and_hovers_their_interval():
    frame = layer_frame()
    frame["drop_low"] = frame["drop"] - 0.015  # half-width 1.5 points around each drop
    frame["drop_high"] = frame["drop"] + 0.015
    frame.loc[frame["target"] == "group:top", ["drop_low", "drop_high"]] = np.nan  # none stored
    frame["within_noise"] = (frame["drop_low"] <= 0) & (frame["drop_high"] >= 0)
    fig = layer_heatmap(frame, lang_order=["en", "sw"])
    heat, marks = fig.data
    assert marks.meta["role"] == "within_noise" and fig.layout.showlegend
    # |drop| <= 0.015: L1 of en and sw (0.01) only; group:top has no interval, so no mark
    assert sorted(zip(marks.x, [y[:2] for y in marks.y], strict=True)) == [("L1", "en"),
                                                                           ("L1", "sw")]  # fmt: skip
    assert "95 % interval" in heat.hovertemplate
    assert heat.customdata[0][0] == "[-0.50, +2.50]"  # en L1: 1 point +- 1.5, in points
    assert heat.customdata[0][-1] == "none (no stored outcomes)"
    plain = layer_heatmap(layer_frame())  # no interval columns: the figure as before
    assert len(plain.data) == 1 and "interval" not in plain.data[0].hovertemplate
