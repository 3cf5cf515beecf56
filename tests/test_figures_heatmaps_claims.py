"""Heatmap and claim charts (mbp.figures.heatmaps, mbp.figures.claims): small frames in, Altair
charts out, checked on their Vega-Lite spec (`chart.to_dict()`), no Streamlit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mbp.figures import (
    DIVERGING_SCALE,
    LANG_COLORS,
    MODEL_COLORS,
    SEQUENTIAL_SCHEME,
    claim1_figure,
    claim2_figure,
    claim2_highlights,
    claim3_figure,
    claim3_groups_figure,
    head_difference_heatmap,
    head_heatmap,
    layer_heatmap,
    rank_correlation_heatmap,
    target_label,
    target_order,
)
from mbp.figures.claims import GROUP_COLORS, X_TITLE, Y_TITLE
from mbp.figures.heatmaps import NOISE_LABEL
from mbp.tasks.registry import XNLI_LANGUAGES
from tests.chart_spec import (
    keys,
    layers,
    mark_type,
    own_colours_off_the_color_channel,
    rows,
    scale_map,
    units,
)


def only(spec: dict, name: str) -> dict:
    (unit,) = layers(spec, name)
    return unit


def empty_message(chart) -> str:
    spec = chart.to_dict()
    (text,) = rows(spec, only(spec, "empty"))
    return text["message"]


# ----------------------------------------------------------------------------- heatmaps


def layer_frame():
    rows_ = []
    for lang, sign in (("en", 1), ("sw", -1)):
        for i in range(4):
            rows_.append({"lang": lang, "target": f"layer:{i}", "drop": 0.01 * (i + 1) * sign})
        for group, value in (("bottom", 0.05), ("middle", 0.02), ("top", -0.03)):
            rows_.append({"lang": lang, "target": f"group:{group}", "drop": value})
    return pd.DataFrame(rows_)


def test_target_order_puts_layers_by_number_then_groups():
    targets = ["group:top", "layer:10", "layer:2", "group:bottom", "layer:0", "group:middle"]
    assert target_order(targets) == [
        "layer:0", "layer:2", "layer:10", "group:bottom", "group:middle", "group:top",
    ]  # fmt: skip
    assert [target_label(t) for t in ("layer:0", "layer:11", "group:top")] == ["L1", "L12", "top"]


def test_layer_heatmap_has_one_symmetric_diverging_scale():
    spec = layer_heatmap(layer_frame(), lang_order=["sw", "en"]).to_dict()
    heat = only(spec, "heat")
    assert mark_type(heat) == "rect"
    scale = heat["encoding"]["color"]["scale"]
    # the palette's 9 stops spread over -5..5 points (largest |drop| 0.05), white at 0
    assert scale["domain"] == pytest.approx(np.linspace(-5.0, 5.0, 9).tolist())
    assert scale["range"] == [color for _, color in DIVERGING_SCALE]
    assert scale_map(heat["encoding"]["color"])[0.0] == "#F7F7F7"
    assert heat["encoding"]["x"]["sort"] == ["L1", "L2", "L3", "L4", "bottom", "middle", "top"]
    assert heat["encoding"]["y"]["sort"] == ["sw", "en"]  # the order asked for, top down
    # each language label is drawn in its own colour
    assert LANG_COLORS["sw"] in heat["encoding"]["y"]["axis"]["labelColor"]["expr"]
    cells = {(r["language"], r["target"]): r["value"] for r in rows(spec, heat)}
    assert len(cells) == 14 and cells[("sw", "L3")] == pytest.approx(-3.0)
    assert cells[("en", "bottom")] == pytest.approx(5.0)
    # the rule between single layers and thirds sits at the end of L4's band
    separator = only(spec, "separator")["encoding"]["x"]
    assert separator["bandPosition"] == 1 and rows(spec, only(spec, "separator")) == [
        {"target": "L4"}
    ]
    fixed = only(layer_heatmap(layer_frame(), zmax=0.2).to_dict(), "heat")
    assert fixed["encoding"]["color"]["scale"]["domain"][::8] == pytest.approx([-20.0, 20.0])


def test_layer_heatmap_labels_its_unit_points_or_relative():
    def legend_and_tooltips(**kwargs):
        heat = only(layer_heatmap(layer_frame(), **kwargs).to_dict(), "heat")
        tips = [t.get("title", t["field"]) for t in heat["encoding"]["tooltip"]]
        return heat["encoding"]["color"]["legend"]["title"], " ".join(tips)

    title, tips = legend_and_tooltips(value_name="accuracy drop")
    assert title == ["accuracy drop", "(points)"] and "accuracy drop (points)" in tips
    title, tips = legend_and_tooltips(value_name="accuracy relative drop", unit="% of unpruned")
    assert title == ["accuracy relative drop", "(% of unpruned)"]
    assert "points" not in " ".join(title) + tips and "×100" not in " ".join(title)
    assert "% of unpruned" in tips


def test_layer_heatmap_marks_drops_within_noise_and_tooltips_their_interval():
    frame = layer_frame()
    frame["drop_low"] = frame["drop"] - 0.015  # half-width 1.5 points around each drop
    frame["drop_high"] = frame["drop"] + 0.015
    frame.loc[frame["target"] == "group:top", ["drop_low", "drop_high"]] = np.nan  # none stored
    frame["within_noise"] = (frame["drop_low"] <= 0) & (frame["drop_high"] >= 0)
    spec = layer_heatmap(frame, lang_order=["en", "sw"]).to_dict()
    marks = only(spec, "within_noise")
    assert marks["transform"] == [{"filter": "datum.within_noise"}]
    assert marks["mark"]["fillOpacity"] == 0 and marks["mark"]["strokeDash"]
    assert marks["encoding"]["stroke"]["legend"]["orient"] == "bottom"  # its legend entry
    cells = {(r["language"], r["target"]): r for r in rows(spec, marks)}
    # |drop| <= 0.015: L1 of en and sw (0.01) only; group:top has no interval, so no mark
    assert sorted(k for k, r in cells.items() if r["within_noise"]) == [("en", "L1"), ("sw", "L1")]
    assert {r["noise"] for r in cells.values()} == {NOISE_LABEL}
    heat = only(spec, "heat")
    assert "95 % interval (points)" in [t.get("title") for t in heat["encoding"]["tooltip"]]
    assert cells[("en", "L1")]["interval"] == "[-0.50, +2.50]"  # 1 point +- 1.5, in points
    assert cells[("en", "top")]["interval"] == "none (no stored outcomes)"
    plain = layer_heatmap(layer_frame()).to_dict()  # no interval columns: no marks, no interval
    assert not layers(plain, "within_noise")
    assert all("interval" not in r for r in rows(plain, only(plain, "heat")))


def test_layer_heatmap_noise_legend_swatch_is_an_outline_not_a_blue_cell():
    """The compiled legend swatch of "within noise" is white (an empty dashed square), not
    Vega-Lite's default blue fill, which reads as a blue cell (= removing it helped)."""
    import vl_convert as vlc

    frame = layer_frame()
    frame["drop_low"], frame["drop_high"] = frame["drop"] - 0.015, frame["drop"] + 0.015
    frame["within_noise"] = (frame["drop_low"] <= 0) & (frame["drop_high"] >= 0)
    legends = vlc.vegalite_to_vega(layer_heatmap(frame).to_dict())["legends"]
    (noise,) = [leg for leg in legends if leg.get("stroke")]
    fill = noise.get("encode", {}).get("symbols", {}).get("update", {}).get("fill", {})
    assert fill.get("value", noise.get("symbolFillColor")) == "white"


def head_frame(seed=0, layers_=3, heads=4):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [
            {"layer": layer, "head": head, "score": float(rng.gamma(2.0))}
            for layer in range(layers_)
            for head in range(heads)
        ]
    )


def test_head_heatmap_names_its_values_in_legend_and_tooltip():
    def named(spec: dict) -> tuple:
        encoding = only(spec, "heat")["encoding"]
        value_tip = next(t for t in encoding["tooltip"] if t["field"] == "value")
        return encoding["color"]["legend"]["title"], value_tip["title"]

    assert named(head_heatmap(head_frame(), lang="en").to_dict()) == ("importance", "importance")
    shares = head_heatmap(head_frame(), lang="en", value_title=["share of total", "importance"])
    assert named(shares.to_dict()) == (
        ["share of total", "importance"],
        "share of total importance",
    )


def test_head_heatmaps_number_layers_and_heads_from_one():
    spec = head_heatmap(head_frame(), lang="en", zmax=5.0, title="en").to_dict()
    heat = only(spec, "heat")
    cells = rows(spec, heat)
    assert len(cells) == 12
    assert {r["layer"] for r in cells} == {1, 2, 3} and {r["head"] for r in cells} == {1, 2, 3, 4}
    scale = heat["encoding"]["color"]["scale"]
    assert scale["scheme"] == SEQUENTIAL_SCHEME and scale["domain"] == [0.0, 5.0]
    assert heat["encoding"]["y"]["sort"] == "descending"  # layer 1 at the bottom
    assert spec["title"]["text"] == "en"
    assert (
        head_heatmap(head_frame(), lang="en").to_dict()["encoding"]["color"]["scale"]["domainMin"]
        == 0.0
    )
    diff_spec = head_difference_heatmap(
        head_frame(0), head_frame(1), lang_a="en", lang_b="de"
    ).to_dict()
    diff = rows(diff_spec, only(diff_spec, "heat"))
    assert sum(r["value"] for r in diff) == pytest.approx(0.0, abs=1e-9)  # both sum to 1
    domain = only(diff_spec, "heat")["encoding"]["color"]["scale"]["domain"]
    assert domain[0] == -domain[-1] == pytest.approx(-max(abs(r["value"]) for r in diff))
    assert "No head-importance scores for de" in empty_message(head_heatmap(pd.DataFrame(),
                                                                            lang="de"))  # fmt: skip


def test_rank_correlation_heatmap_colours_span_the_data_range():
    langs = ["en", "de", "sw"]
    values = [[1.0, 0.93, 0.81], [0.93, 1.0, 0.98], [0.81, 0.98, 1.0]]
    spec = rank_correlation_heatmap(pd.DataFrame(values, index=langs, columns=langs)).to_dict()
    heat = only(spec, "heat")
    scale = heat["encoding"]["color"]["scale"]
    # the off-diagonal range (the diagonal is 1 by definition), not -1..1
    assert scale["domain"] == pytest.approx([0.81, 0.98]) and scale["clamp"] is True
    assert "0.81–0.98" in heat["encoding"]["color"]["legend"]["title"]
    assert len(rows(spec, heat)) == 9 and layers(spec, "values")
    pair = pd.DataFrame([[1.0, 0.9], [0.9, 1.0]], index=["en", "de"], columns=["en", "de"])
    low, high = only(rank_correlation_heatmap(pair).to_dict(), "heat")["encoding"]["color"][
        "scale"
    ]["domain"]
    assert low < 0.9 < high and high - low == pytest.approx(0.02)  # widened, not degenerate
    assert "two languages" in empty_message(rank_correlation_heatmap(pd.DataFrame()))


# ----------------------------------------------------------------------------- claims


def claim1_table(tasks=("mnli", "mrpc", "qnli", "sst2")):
    rows_ = [
        {"model": model, "task": task, "fraction": f, "relative_drop": 0.01 * i * f}
        for task in tasks
        for i, model in enumerate(("e5-small", "minilm-l6"), start=1)
        for f in (0.1, 0.2, 0.3, 0.4, 0.5)
    ]
    return pd.DataFrame(rows_)


def test_claim1_one_panel_per_task_shared_y_and_one_x_title():
    spec = claim1_figure(claim1_table(), tolerance=0.05).to_dict()
    assert spec["title"]["text"] == "Relative drop per GLUE task (tolerance 5%)"
    column = spec["facet"]["column"]
    assert column["field"] == "task" and column["sort"] == ["mnli", "mrpc", "qnli", "sst2"]
    # one x title for every panel (the facet's, below them); none per panel
    assert column["title"] == X_TITLE and column["header"]["titleOrient"] == "bottom"
    curve = only(spec, "curve")
    assert curve["encoding"]["x"]["title"] is None
    assert curve["encoding"]["y"]["title"] == Y_TITLE
    assert spec.get("resolve", {}).get("scale", {}).get("y", "shared") == "shared"
    assert scale_map(curve["encoding"]["color"]) == {
        "e5-small": MODEL_COLORS["e5-small"], "minilm-l6": MODEL_COLORS["minilm-l6"],
    }  # fmt: skip
    points = rows(spec, curve)
    assert len(points) == 40
    mnli = [p for p in points if p["task"] == "mnli" and p["series"] == "minilm-l6"]
    assert [p["x"] for p in mnli] == pytest.approx([10, 20, 30, 40, 50])
    assert mnli[-1]["y"] == pytest.approx(0.02 * 0.5 * 100)  # % of unpruned
    assert not layers(spec, "interval")  # no interval columns: no error bars
    assert "No matched GLUE" in empty_message(claim1_figure(pd.DataFrame(), tolerance=0.05))


def test_claim1_draws_error_bars_from_the_tables_interval():
    table = claim1_table()
    table = table.assign(relative_drop_low=table["relative_drop"] - 0.01,
                         relative_drop_high=table["relative_drop"] + 0.02)  # fmt: skip
    spec = claim1_figure(table, tolerance=0.05).to_dict()
    bars = only(spec, "interval")
    assert mark_type(bars) == "errorbar"
    assert bars["encoding"]["y"]["field"] == "low" and bars["encoding"]["y2"]["field"] == "high"
    point = next(p for p in rows(spec, bars) if p["task"] == "sst2" and p["x"] == 50
                 and p["series"] == "e5-small")  # fmt: skip
    assert (point["low"], point["y"], point["high"]) == pytest.approx((-0.5, 0.5, 2.5))
    # a column of NaN (no stored outcomes) is no interval
    empty = table.assign(relative_drop_low=np.nan, relative_drop_high=np.nan)
    assert not layers(claim1_figure(empty, tolerance=0.05).to_dict(), "interval")


def claim2_table(langs=XNLI_LANGUAGES, tasks=("mnli", "mrpc", "qnli", "sst2")):
    rows_ = []
    for i, lang in enumerate(langs):
        for f in (0.1, 0.2, 0.3):
            rows_.append({"series": f"XNLI {lang}", "task": "xnli", "lang": lang, "fraction": f,
                          "relative_drop": 0.001 * i * f * 10})  # fmt: skip
    for task in tasks:
        for f in (0.1, 0.2, 0.3):
            rows_.append({"series": f"GLUE {task}", "task": task, "lang": "en", "fraction": f,
                          "relative_drop": 0.01 * f})  # fmt: skip
    return pd.DataFrame(rows_)


def series_of(spec: dict, name: str) -> list[str]:
    return list(dict.fromkeys(r["series"] for r in rows(spec, only(spec, name))
                              if r["role"] == name))  # fmt: skip


def test_claim2_is_a_mean_with_a_band_a_few_languages_and_distinct_glue_lines():
    spec = claim2_figure(claim2_table()).to_dict()
    band = only(spec, "xnli-band")
    assert mark_type(band) == "area"
    assert rows(spec, band)[0]["band"] == "XNLI range (min-max of 15 languages)"
    assert [r["high"] for r in rows(spec, band)] == pytest.approx([1.4, 2.8, 4.2])  # ur
    mean = [r for r in rows(spec, only(spec, "xnli-mean")) if r["role"] == "xnli-mean"]
    assert mean[-1]["y"] == pytest.approx(np.mean([0.003 * i for i in range(15)]) * 100)
    # English plus the languages losing the most and the least (en is also the least)
    assert series_of(spec, "xnli") == ["XNLI en", "XNLI ur"]
    small = claim2_table(langs=("fr", "en", "sw", "de"))  # drops grow in this order
    assert claim2_highlights(small[small["task"] == "xnli"]) == ["en", "de", "fr"]
    color = scale_map(only(spec, "xnli")["encoding"]["color"])
    assert color["XNLI en"] == LANG_COLORS["en"] and color["XNLI ur"] == LANG_COLORS["ur"]
    glue = series_of(spec, "glue")
    assert glue == ["GLUE mnli", "GLUE mrpc", "GLUE qnli", "GLUE sst2"]
    dash = scale_map(only(spec, "glue")["encoding"]["strokeDash"])
    marker = {r["series"]: r["marker"] for r in rows(spec, only(spec, "markers"))}
    styles = {(str(dash[s]), marker[s], color[s]) for s in glue}
    assert len(styles) == 4  # no two GLUE lines look alike
    assert not {color[s] for s in glue} & set(LANG_COLORS.values())  # no language hue
    assert len(color) <= 8  # was 15 languages + mean + 4 GLUE lines
    # one key of the lines (colour and dash on one field, title and legend: merged, so each
    # entry shows its line's dash) plus the band's; markers and labels add none and keep off
    # `color` (Vega-Lite 6.5 would then split the lines' key in two)
    line_key = [("color", "series", None), ("strokeDash", "series", None)]
    assert keys(spec) == {"xnli-band": [("fill", "band", None)], "xnli-mean": line_key,
                          "xnli": line_key, "glue": line_key}  # fmt: skip
    assert own_colours_off_the_color_channel(spec)
    glue_enc = only(spec, "glue")["encoding"]
    assert glue_enc["color"]["legend"] == glue_enc["strokeDash"]["legend"]
    assert only(spec, "markers")["encoding"]["fill"]["scale"] is None
    assert "opacity" not in only(spec, "markers")["mark"]  # would darken the band's key symbol
    ends = rows(spec, only(spec, "end-label"))
    assert sorted(e["task"] for e in ends) == ["mnli", "mrpc", "qnli", "sst2"]
    assert all(e["x"] == pytest.approx(30) for e in ends)  # each labelled at its end
    assert not layers(spec, "interval")
    assert "Needs XNLI" in empty_message(claim2_figure(pd.DataFrame()))


def test_claim2_draws_error_bars_from_the_tables_interval():
    table = claim2_table(langs=("en", "de"), tasks=("sst2",))
    table = table.assign(relative_drop_low=table["relative_drop"] - 0.004,
                         relative_drop_high=table["relative_drop"] + 0.006)  # fmt: skip
    spec = claim2_figure(table).to_dict()
    bars = only(spec, "interval")
    assert mark_type(bars) == "errorbar" and "isValid(datum.low)" in bars["transform"][0]["filter"]
    drawn = [r for r in rows(spec, bars) if r["series"] == "GLUE sst2"]
    assert [r["low"] for r in drawn] == pytest.approx([-0.3, -0.2, -0.1])  # 0.1-0.3 % - 0.4
    assert [r["high"] for r in drawn] == pytest.approx([0.7, 0.8, 0.9])  # + 0.6
    mean = [r for r in rows(spec, bars) if r["role"] == "xnli-mean"]
    assert mean and all(r.get("low") is None for r in mean)  # the mean has none: not drawn


def reliance_frame():
    return pd.DataFrame(
        {
            "lang": ["en", "de", "tr", "sw"],
            "reliance": [-10.0, -3.0, 6.0, 12.0],
            "wiki_articles": [5_700_000, 2_200_000, 320_000, 50_000],
            "morphology": ["fusional", "fusional", "agglutinative", "agglutinative"],
        }
    )


def test_claim3_is_the_reliance_scatter_on_a_log_x():
    spec = claim3_figure(reliance_frame()).to_dict()
    scales = [
        u["encoding"]["x"].get("scale", {}) for u in units(spec) if "x" in u.get("encoding", {})
    ]
    assert {"type": "log"} in [{"type": s.get("type")} for s in scales]
    assert spec["title"]["text"] == "Bottom-layer reliance vs pre-training size"


def test_the_groups_chart_stacks_each_languages_shares_to_100_percent():
    groups = pd.DataFrame({"lang": ["sw", "hi", "en"], "reliance": [9.0, 4.0, -8.0],
                           "bottom-reliant share": [0.97, 0.4, 0.0],
                           "top-reliant share": [0.0, 0.1, 1.0]})  # fmt: skip
    spec = claim3_groups_figure(groups).to_dict()
    bars = only(spec, "group-share")
    assert mark_type(bars) == "bar" and bars["encoding"]["x"]["stack"] == "zero"
    assert bars["encoding"]["y"]["sort"] == ["sw", "hi", "en"]  # the most bottom-reliant on top
    assert scale_map(bars["encoding"]["color"]) == GROUP_COLORS
    shares = pd.DataFrame(rows(spec, bars)).pivot(index="lang", columns="group", values="share")
    assert shares.sum(axis=1).tolist() == pytest.approx([100.0, 100.0, 100.0])
    assert shares.loc[["en", "hi", "sw"], "neither"].tolist() == pytest.approx([0.0, 50.0, 3.0])
    assert "no resamples" in empty_message(claim3_groups_figure(pd.DataFrame()))
