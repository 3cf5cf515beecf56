"""Figure builders are pure functions: small frames in, Altair charts out (no Streamlit), checked
on their Vega-Lite spec (`chart.to_dict()`). Heatmaps and claim charts: test_figures_heatmaps_claims.py."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

from mbp.figures import (
    DASH_PATTERNS,
    LANG_COLORS,
    MODEL_COLORS,
    ORDER_COLORS,
    chart_image,
    color_mode,
    dash_pattern,
    empty_figure,
    headline_curves,
    lang_color,
    model_color,
    model_label,
    pruning_curves,
    reliance_bars,
    reliance_scatter,
    safe_filename,
)
from mbp.tasks.registry import XNLI_LANGUAGES
from mbp.tasks.scoring import chance_level
from tests.chart_spec import (
    keys,
    layers,
    mark_type,
    own_colours_off_the_color_channel,
    rows,
    scale_map,
    units,
)

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


def only(spec: dict, name: str) -> dict:
    (unit,) = layers(spec, name)
    return unit


def drawn(chart, name: str) -> tuple[dict, list[dict]]:
    """The spec, and the rows of its one layer called `name`."""
    spec = chart.to_dict()
    return spec, rows(spec, only(spec, name))


def by_series(table: list[dict], field: str = "y") -> dict[str, list]:
    out: dict[str, list] = {}
    for row in table:
        out.setdefault(row["series"], []).append(row[field])
    return out


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


def test_dash_names_map_to_vega_lite_patterns():
    assert dash_pattern("solid") == [1, 0] and dash_pattern("dash") == DASH_PATTERNS["dash"]
    with pytest.raises(ValueError, match="unknown dash 'wavy'"):
        dash_pattern("wavy")


# ----------------------------------------------------------------------------- curves


def test_pruning_curves_single_series_colours_orders_and_draws_band_and_reference():
    chart = pruning_curves(summary_frame(), metric="accuracy", band="minmax")
    spec, points = drawn(chart, "curve")
    curve = only(spec, "curve")
    assert mark_type(curve) == "line"
    colours = scale_map(curve["encoding"]["color"])
    assert colours == {"importance": ORDER_COLORS["importance"], "random": ORDER_COLORS["random"]}
    dashes = scale_map(curve["encoding"]["strokeDash"])
    assert dashes == {"importance": DASH_PATTERNS["solid"], "random": DASH_PATTERNS["dash"]}
    assert list(by_series(points)) == ["importance", "random"]  # importance first
    assert by_series(points, "x")["importance"] == [0, 25, 50, 75, 100]
    assert by_series(points, "heads_pruned")["importance"] == [0, 36, 72, 108, 144]
    # the band spans min..max over seeds, random order only
    _, band = drawn(chart, "band")
    data = summary_frame().query("order_name == 'random'")
    assert {r["series"] for r in band} == {"random"}
    assert np.allclose([r["high"] for r in band], data["max"])
    assert np.allclose([r["low"] for r in band], data["min"])
    assert mark_type(only(spec, "band")) == "area"
    _, (ref,) = drawn(chart, "reference")
    assert ref["y"] == 0.8 and ref["label"] == "unpruned"  # the unpruned score
    tips = {t["title"] for t in only(spec, "points")["encoding"]["tooltip"]}
    assert {"% of heads pruned", "heads pruned", "accuracy", "random seeds"} <= tips
    assert only(spec, "curve")["encoding"]["x"]["title"] == "% of attention heads pruned"
    assert spec["height"] == 460


def test_pruning_curves_std_band_and_relative_scale():
    frame = summary_frame()
    chart = pruning_curves(frame, metric="accuracy", relative=True, band="std")
    spec, band = drawn(chart, "band")
    random = frame.query("order_name == 'random'")
    upper = (random["mean"] + random["std"].fillna(0)) / random["base"] * 100
    assert np.allclose([r["high"] for r in band], upper)
    _, (ref,) = drawn(chart, "reference")
    assert ref["y"] == 100
    _, points = drawn(chart, "curve")
    assert by_series(points)["importance"][0] == pytest.approx(100.0)
    y = only(spec, "curve")["encoding"]["y"]
    assert y["title"] == "% of unpruned accuracy" and "'%'" in y["axis"]["labelExpr"]


def test_pruning_curves_several_languages_use_language_colours():
    frame = summary_frame(langs=("en", "sw", "tr"))
    assert color_mode(frame) == "lang"
    chart = pruning_curves(frame, metric="accuracy")
    spec = chart.to_dict()
    colours = scale_map(only(spec, "curve")["encoding"]["color"])
    for series, colour in colours.items():
        assert colour == LANG_COLORS[series.split(" · ")[0]]
    assert {r["lang"] for r in rows(spec, only(spec, "band"))} == {"en", "sw", "tr"}
    _, refs = drawn(chart, "reference")
    assert sorted(r["color"] for r in refs) == sorted(LANG_COLORS[c] for c in ("en", "sw", "tr"))
    assert not layers(spec, "reference_label")  # three lines: their tooltips say whose


def test_pruning_curves_several_models_use_model_colours_and_marker_shapes():
    frame = summary_frame(models=("e5-small", "minilm-l6"), orders=("importance",))
    assert color_mode(frame) == "model"
    spec = pruning_curves(frame, metric="accuracy").to_dict()
    colours = scale_map(only(spec, "curve")["encoding"]["color"])
    assert colours == {"e5-small": MODEL_COLORS["e5-small"],
                       "minilm-l6": MODEL_COLORS["minilm-l6"]}  # fmt: skip
    assert keys(spec) == {"curve": [("color", "hue", "model"),
                                    ("strokeDash", "order_name", "order")]}  # fmt: skip
    shapes = scale_map(only(spec, "points")["encoding"]["shape"])
    assert shapes == {"e5-small": "circle", "minilm-l6": "square"}


def test_pruning_curves_overlaid_protocols_draw_retrain_bolder_with_open_markers():
    frame = pd.concat(
        [summary_frame(orders=("importance",)).assign(protocol=p) for p in ("posthoc", "retrain")]
    )
    _, points = drawn(pruning_curves(frame, metric="accuracy"), "curve")
    width = {r["series"]: (r["width"], r["fill"]) for r in points}
    assert width == {"importance · retrain": (3.4, 0.0), "importance · posthoc": (2.2, 1.0)}
    # the widths are keyed by protocol, beside the order's colour-and-dash key
    spec = pruning_curves(frame, metric="accuracy").to_dict()
    assert keys(spec) == {"curve": [("color", "order_name", "order"),
                                    ("strokeDash", "order_name", "order"),
                                    ("strokeWidth", "protocol", "protocol")]}  # fmt: skip
    width_key = only(spec, "curve")["encoding"]["strokeWidth"]
    assert scale_map(width_key) == {"posthoc": 2.2, "retrain": 3.4}


def test_pruning_curves_key_has_one_meaningful_field_per_channel_in_every_colour_mode():
    # one language: colour and dash both on the order, one key of the orders
    spec = pruning_curves(summary_frame(), metric="accuracy").to_dict()
    assert keys(spec) == {"curve": [("color", "order_name", "order"),
                                    ("strokeDash", "order_name", "order")]}  # fmt: skip
    assert own_colours_off_the_color_channel(spec)
    # four languages x three orders: a key of 4 languages and one of 3 orders, not 12 lines
    frame = summary_frame(
        langs=("en", "de", "sw", "ur"), orders=("importance", "reverse", "random")
    )
    chart = pruning_curves(frame, metric="accuracy", chance=1 / 3)
    spec = chart.to_dict()
    assert keys(spec) == {"curve": [("color", "hue", "language"),
                                    ("strokeDash", "order_name", "order")]}  # fmt: skip
    curve = only(spec, "curve")["encoding"]
    assert scale_map(curve["color"]) == {c: LANG_COLORS[c] for c in ("de", "en", "sw", "ur")}
    assert scale_map(curve["strokeDash"]) == {"importance": DASH_PATTERNS["solid"],
                                              "reverse": DASH_PATTERNS["dot"],
                                              "random": DASH_PATTERNS["dash"]}  # fmt: skip
    assert curve["strokeDash"]["legend"]["symbolStrokeColor"] == "#1F2430"  # dark, not a hue
    assert curve["detail"]["field"] == "series"  # still one line per language and order
    assert len({r["series"] for r in rows(spec, only(spec, "curve"))}) == 12
    # band, points, interval and reference rules colour each row on fill/stroke, not color
    assert own_colours_off_the_color_channel(spec)
    assert only(spec, "band")["encoding"]["fill"] == {"field": "color", "scale": None,
                                                      "type": "nominal"}  # fmt: skip
    assert only(spec, "points")["encoding"]["stroke"]["scale"] is None
    # the tooltip still names the whole series
    tips = only(spec, "points")["encoding"]["tooltip"]
    assert tips[0] == {"field": "label", "title": "series", "type": "nominal"}
    labels = {r["label"] for r in rows(spec, only(spec, "points"))}
    assert "e5-small · sw · reverse · posthoc" in labels
    # vl-convert draws the keys it is given: language, order
    import vl_convert as vlc

    legends = vlc.vegalite_to_vega(spec)["legends"]
    assert sorted(leg["title"] for leg in legends) == ["language", "order"]
    # two models and two languages: the models' marker shapes get the third key
    two = summary_frame(models=("e5-small", "minilm-l6"), langs=("en", "de"))
    spec = pruning_curves(two, metric="accuracy").to_dict()
    assert keys(spec) == {"curve": [("color", "hue", "language"),
                                    ("strokeDash", "order_name", "order")],
                          "points": [("shape", "model_label", "model")]}  # fmt: skip


def test_pruning_curves_chance_line_is_labelled_absolute_and_relative():
    frame = summary_frame()
    assert not layers(
        pruning_curves(frame, metric="accuracy").to_dict(), "chance"
    )  # only when given
    chart = pruning_curves(frame, metric="accuracy", chance=chance_level("xnli"))
    spec, (line,) = drawn(chart, "chance")
    assert line["y"] == pytest.approx(1 / 3)
    assert only(spec, "chance")["mark"]["strokeDash"] == DASH_PATTERNS["longdash"]
    _, (label,) = drawn(chart, "chance_label")  # labelled on the chart, at the left end
    assert label["text"] == "chance: uniform guess (0.333)"
    assert only(spec, "chance_label")["transform"] == [{"calculate": "0.0", "as": "x"}]
    # relative: chance as % of each unpruned score (en 0.8 and sw 0.7), each line named
    two = summary_frame(langs=("en", "sw"))
    _, lines = drawn(pruning_curves(two, metric="accuracy", relative=True, chance=1 / 3), "chance")
    levels = {r["lang"]: r["y"] for r in lines}
    assert levels == {"en": pytest.approx(100 / 3 / 0.8), "sw": pytest.approx(100 / 3 / 0.7)}
    assert {r["text"] for r in lines} == {"chance · en", "chance · sw"}  # which line is whose


def test_chance_level_per_task_and_metric():
    assert chance_level("xnli") == pytest.approx(1 / 3)  # three NLI classes
    assert chance_level("sst2") == 0.5 and chance_level("mrpc", "accuracy") == 0.5
    assert chance_level("cola") == 0.0 and chance_level("stsb") == 0.0
    assert chance_level("mrpc") is None  # F1 depends on the label balance
    assert chance_level("no-such-task") is None


def empty_message(chart) -> str:
    _, (row,) = drawn(chart, "empty")
    return row["message"]


def test_pruning_curves_empty_and_malformed_input():
    empty = pruning_curves(summary_frame().iloc[0:0], metric="accuracy")
    assert "No pruning curves" in empty_message(empty)
    assert [u["name"] for u in units(empty.to_dict())] == ["empty"]  # no axes, no curves
    with pytest.raises(ValueError, match="lacks columns"):
        pruning_curves(pd.DataFrame({"model": []}), metric="accuracy")


def test_example_intervals_become_error_bars_scaled_with_the_curve():
    summary = summary_frame(orders=("importance",))
    summary = summary.assign(ci_low=summary["mean"] - 0.02, ci_high=summary["mean"] + 0.03)
    spec, bars = drawn(pruning_curves(summary, metric="accuracy"), "interval")
    assert mark_type(only(spec, "interval")) == "rule"
    assert np.allclose([r["ci_high"] - r["y"] for r in bars], 0.03)
    assert np.allclose([r["y"] - r["ci_low"] for r in bars], 0.02)
    _, relative = drawn(pruning_curves(summary, metric="accuracy", relative=True), "interval")
    assert np.allclose([r["ci_high"] - r["y"] for r in relative], 0.03 / 0.8 * 100)  # % of 0.8
    plain = pruning_curves(summary_frame(orders=("importance",)), metric="accuracy").to_dict()
    assert not layers(plain, "interval")


def test_a_note_under_the_title_says_what_the_bars_and_band_are_only_when_drawn():
    def title(summary: pd.DataFrame, **args) -> dict:
        return (
            pruning_curves(summary, metric="accuracy", title="xnli", **args).to_dict().get("title")
        )

    plain = summary_frame(orders=("importance",))  # one seed, no intervals: nothing to explain
    assert "subtitle" not in title(plain)
    bars = plain.assign(ci_low=plain["mean"] - 0.02, ci_high=plain["mean"] + 0.03)
    assert title(bars)["subtitle"] == ["bars: 95 % interval over resampled evaluated examples"]
    assert title(bars)["text"] == "xnli"
    both = summary_frame()  # random over 3 seeds: a band; importance with bars
    both = both.assign(ci_low=(both["mean"] - 0.02).where(both["n_seeds"] == 1),
                       ci_high=(both["mean"] + 0.02).where(both["n_seeds"] == 1))  # fmt: skip
    assert title(both)["subtitle"] == [
        "bars: 95 % interval over resampled evaluated examples",
        "band: lowest to highest over 3 random-order seeds",
    ]
    # the seed count and the band's kind come from the data and the band option
    more = summary_frame(orders=("random",), langs=("en", "sw"))
    more.loc[more["lang"] == "sw", "n_seeds"] = 5
    assert title(more, band="std")["subtitle"] == ["band: mean ± 1 std over 3-5 random-order seeds"]
    # no title: the note is the chart's only title (Vega draws no subtitle under an empty one)
    untitled = pruning_curves(bars, metric="accuracy").to_dict()["title"]
    assert untitled["text"] == ["bars: 95 % interval over resampled evaluated examples"]
    assert "title" not in pruning_curves(plain, metric="accuracy").to_dict()


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


def with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(reliance_low=frame["reliance"] - 2.0, reliance_high=frame["reliance"] + 3.0)


def test_reliance_scatter_log_x_language_colours_and_trend():
    chart = reliance_scatter(reliance_frame(), group_by="word_order")
    spec, langs = drawn(chart, "language")
    enc = only(spec, "language")["encoding"]
    assert enc["x"]["scale"]["type"] == "log"
    assert {r["lang"]: r["color"] for r in langs} == {
        code: LANG_COLORS[code] for code in ("en", "de", "tr", "sw")
    }
    assert enc["color"]["scale"] is None  # the language's own colour, as given
    _, trend = drawn(chart, "trend")
    assert trend[0]["reliance"] > trend[-1]["reliance"]  # fewer articles -> more reliance
    shapes = scale_map(enc["shape"])  # one shape per word order, with a key
    assert shapes == {"SOV": "circle", "SVO": "square", "no dominant order": "diamond"}
    assert enc["shape"]["legend"]["title"] == "word order"
    assert not layers(spec, "interval")  # no interval columns: no error bars


def test_reliance_scatter_and_bars_draw_error_bars_from_reliance_intervals():
    frame = with_intervals(reliance_frame())
    frame.loc[frame["lang"] == "de", ["reliance_low", "reliance_high"]] = np.nan  # none known
    spec, bars = drawn(reliance_scatter(frame), "interval")
    assert mark_type(only(spec, "interval")) == "rule"
    assert {r["lang"]: (r["reliance_low"], r["reliance_high"]) for r in bars} == {
        "en": (-12.0, -7.0), "tr": (4.0, 9.0), "sw": (10.0, 15.0)
    }  # fmt: skip
    y_domain = only(spec, "language")["encoding"]["y"]["scale"]["domain"]
    assert y_domain[0] < -12.0 and y_domain[1] > 15.0  # the whiskers fit
    spec, whiskers = drawn(reliance_bars(frame, model="e5-small"), "interval")
    assert mark_type(only(spec, "interval")) == "errorbar" and len(whiskers) == 3
    tips = {t["title"] for t in only(spec, "bars")["encoding"]["tooltip"]}
    assert "95 % interval, low" in tips
    assert not layers(reliance_bars(reliance_frame(), model="e5-small").to_dict(), "interval")


def test_headline_and_bars():
    chart = headline_curves(summary_frame(langs=("en", "sw")))
    spec, points = drawn(chart, "curve")
    (series,) = {r["series"] for r in points}
    assert "mean of 2 languages" in series
    assert points[0]["mean"] == pytest.approx(100.0)
    assert scale_map(only(spec, "curve")["encoding"]["color"]) == {
        "e5-small": MODEL_COLORS["e5-small"]
    }
    # a key of models (colour) and one of tasks (dash), each line kept apart by its series
    two = pd.concat([summary_frame(langs=("en", "sw")).assign(task="xnli"),
                     summary_frame(models=("minilm-l6",)).assign(task="sst2")])  # fmt: skip
    spec = headline_curves(two).to_dict()
    assert keys(spec) == {"curve": [("color", "model_label", "model"),
                                    ("strokeDash", "task_label", "task")]}  # fmt: skip
    curve = only(spec, "curve")["encoding"]
    assert scale_map(curve["strokeDash"]) == {
        "sst2": DASH_PATTERNS["solid"],
        "xnli (mean of 2 languages)": DASH_PATTERNS["dash"],
    }
    assert curve["detail"]["field"] == "series" and curve["tooltip"][0]["field"] == "series"
    spec, bars = drawn(reliance_bars(reliance_frame(), model="e5-small"), "bars")
    assert [r["color"] for r in bars] == [LANG_COLORS[c] for c in ("en", "de", "tr", "sw")]
    assert spec["title"]["text"] == "Bottom vs top layers · e5-small on XNLI"
    # both signs read off the axis: shipped e5-small data is below 0 in every language
    assert only(spec, "bars")["encoding"]["x"]["title"][1] == (
        "> 0: the bottom layers matter more, < 0: the top layers"
    )


def test_reliance_bars_axis_reaches_0_with_a_tick_when_every_language_is_below():
    """Shipped e5-small reliance is below 0 everywhere (-21 to -9): the axis used to stop at
    its last drawn label, -2, beside the rule at 0."""
    import re

    frame = reliance_frame().assign(reliance=[-21.3, -15.4, -12.0, -9.8])
    chart = reliance_bars(frame, model="e5-small")
    x = only(chart.to_dict(), "bars")["encoding"]["x"]
    assert x["scale"]["domain"] == [-25.0, 0.0] and x["scale"]["nice"] is False
    assert x["axis"]["values"] == [-25.0, -20.0, -15.0, -10.0, -5.0, 0.0]
    # at the Overview column's width Vega hid every other label, 0 among them (opacity 0)
    svg = chart_image(chart.properties(width=300), "svg").decode()
    assert re.findall(r'opacity="1">(−?\d+)</text>', svg) == ["−25", "−20", "−15", "−10", "−5", "0"]
    wide = with_intervals(reliance_frame())  # whiskers beyond the bars stay inside the axis
    spec = reliance_bars(wide, model="e5-small").to_dict()
    low, high = only(spec, "bars")["encoding"]["x"]["scale"]["domain"]
    assert low <= wide["reliance_low"].min() and high >= wide["reliance_high"].max()
    assert only(spec, "interval")["encoding"]["x"]["scale"]["domain"] == [low, high]


def test_empty_figure_says_why_and_charts_render_to_png_and_svg():
    assert empty_message(empty_figure("nothing stored")) == "nothing stored"
    chart = pruning_curves(summary_frame(), metric="accuracy", chance=1 / 3)
    svg = chart_image(chart, "svg").decode()
    assert svg.startswith("<svg") and "% of attention heads pruned" in svg
    assert chart_image(chart, "png", scale=1)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="'gif'"):
        chart_image(chart, "gif")  # type: ignore[arg-type]
    assert (
        safe_filename("curves xnli/en") == "curves-xnli-en" and safe_filename("//") == "mbp-chart"
    )


def test_charts_carry_their_data_inline():
    spec = pruning_curves(summary_frame(), metric="accuracy").to_dict()
    assert spec["datasets"] and all("url" not in (u.get("data") or {}) for u in units(spec))
