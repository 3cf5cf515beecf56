"""Label placement (mbp.figures.labels) and the charts that use it: the reliance scatter's
language labels and claim 2's end labels. Overlap is checked here on pixel boxes recomputed
from each chart's spec (domains, offsets) at several plot sizes, not by the placement's own
test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from mbp.figures import claim2_figure, reliance_scatter
from mbp.figures.labels import Axis, PlotAxes, label_size, leaders, place_labels, spread
from tests.chart_spec import layers, rows

AXES = PlotAxes(Axis((0.0, 10.0), (300.0, 600.0)), Axis((0.0, 10.0), (200.0, 400.0)))
RADIUS, FONT = 8.0, 12.0

#: The shipped layer-wise results (e5-small, XNLI, retrain): es and ru on one spot, hi by ur.
SHIPPED = pd.DataFrame(
    {
        "lang": ["sw", "hi", "th", "ur", "el", "bg", "tr", "ar", "zh", "vi", "ru", "es", "fr",
                 "de", "en"],
        "wiki_articles": [50e3, 130e3, 130e3, 140e3, 160e3, 250e3, 320e3, 620e3, 1.0e6, 1.2e6,
                          1.5e6, 1.5e6, 2.0e6, 2.2e6, 5.7e6],
        "reliance": [1.4, -6.4, -12.6, -4.4, -8.0, -9.6, -5.8, -4.6, -10.6, -11.2, -7.6, -7.6,
                     -6.0, -7.6, -15.2],
        "morphology": ["agglutinative", "fusional", "isolating", "fusional", "fusional",
                       "fusional", "agglutinative", "fusional", "isolating", "isolating",
                       "fusional", "fusional", "fusional", "fusional", "fusional"],
    }
)  # fmt: skip


def only(spec: dict, name: str) -> dict:
    (unit,) = layers(spec, name)
    return unit


def boxes(fx, fy, offsets, sizes, width, height):
    """Pixel boxes (x0, x1, y0, y1) of labels centred at each point + (dx, dy)."""
    return [
        (x * width + dx - w / 2, x * width + dx + w / 2,
         y * height + dy - h / 2, y * height + dy + h / 2)
        for x, y, (dx, dy), (w, h) in zip(fx, fy, offsets, sizes, strict=True)
    ]  # fmt: skip


def overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def clashes(fx, fy, offsets, texts, radius, sizes_px) -> list[tuple]:
    """(width, height, what) for every label that overlaps another label or any marker."""
    found = []
    for width, height in sizes_px:
        labels = boxes(fx, fy, offsets, [label_size(t, FONT) for t in texts], width, height)
        markers = [(x * width - radius, x * width + radius, y * height - radius,
                    y * height + radius) for x, y in zip(fx, fy, strict=True)]  # fmt: skip
        for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
            if overlaps(a, b):
                found.append((width, height, texts[i], texts[j]))
        for (i, a), (j, m) in itertools.product(enumerate(labels), enumerate(markers)):
            if overlaps(a, m):
                found.append((width, height, texts[i], f"marker {texts[j]}"))
    return found


def sizes_between(axes: PlotAxes) -> list[tuple[float, float]]:
    xs = np.linspace(*axes.x.pixels, 5)
    ys = np.linspace(*axes.y.pixels, 5)
    return [(float(w), float(h)) for w in xs for h in ys]


def test_points_apart_keep_their_default_label_above_the_marker():
    x, y, texts = [1.0, 5.0, 9.0], [2.0, 8.0, 4.0], ["en", "de", "sw"]
    placed = place_labels(x, y, texts, AXES, marker_radius=RADIUS, font_size=FONT)
    default_dy = -(RADIUS + 2 + label_size("en", FONT)[1] / 2)
    assert placed["dx"].tolist() == [0.0, 0.0, 0.0]
    assert placed["dy"].tolist() == pytest.approx([default_dy] * 3)


def test_labels_of_points_on_one_spot_are_separated_and_clear_of_the_markers():
    x, y, texts = [5.0, 5.0, 5.0, 1.0], [5.0, 5.0, 5.1, 1.0], ["es", "ru", "pt", "en"]
    placed = place_labels(x, y, texts, AXES, marker_radius=RADIUS, font_size=FONT)
    offsets = list(zip(placed["dx"], placed["dy"], strict=True))
    assert len(set(offsets[:3])) == 3  # three different places
    assert offsets[3] == offsets[0] or offsets[3][0] == 0  # en, far away, stays above
    fx, fy = AXES.x.fraction(x), 1 - AXES.y.fraction(y)
    assert clashes(fx, fy, offsets, texts, RADIUS, sizes_between(AXES)) == []


def test_a_label_moves_off_an_error_bar_above_its_marker():
    x, y, texts = [5.0], [5.0], ["hi"]
    free = place_labels(x, y, texts, AXES, marker_radius=RADIUS, font_size=FONT)
    barred = place_labels(x, y, texts, AXES, marker_radius=RADIUS, font_size=FONT,
                          rules=[(5.0, 4.0, 8.0)])  # fmt: skip
    assert free["dx"].iloc[0] == 0 and free["dy"].iloc[0] < 0  # above
    assert barred["dx"].iloc[0] != 0  # beside the bar, not on it
    assert abs(barred["dx"].iloc[0]) >= RADIUS + label_size("hi", FONT)[0] / 2


def test_only_labels_pushed_away_from_their_marker_get_a_leader_to_their_box():
    texts = ["en", "de", "sw", "es"]
    w, h = label_size("en", FONT)
    near = RADIUS + 2  # where place_labels puts a label next to its marker
    offsets = pd.DataFrame(
        {"dx": [0.0, -(near + w / 2), near + w / 2, 0.0],  # above, left, upper right: next
         "dy": [-(near + h / 2), 0.0, -(near + h / 2), near + 3 * h]}  # to it; far below
    )  # fmt: skip
    lines = leaders(offsets, texts, marker_radius=RADIUS, font_size=FONT)
    assert lines.iloc[:3].isna().all().all()
    x0, y0, x1, y1 = lines.iloc[3]
    assert (x0, x1) == (0, 0) and y0 == pytest.approx(RADIUS + 1)  # from the marker's edge
    assert y1 == pytest.approx(offsets["dy"].iloc[3] - h / 2 - 1)  # to just above the label


def test_spread_keeps_order_and_moves_only_close_labels():
    axis = Axis((0.0, 100.0), (100.0, 400.0))  # 1 px per unit at the smallest size
    values = np.array([50.0, 51.0, 90.0, 10.0, 50.5])
    offsets = spread(values, axis, 12.0)
    assert offsets[2] == 0 and offsets[3] == 0  # nothing near: unmoved
    for size in axis.pixels:
        at = values * size / 100 + offsets
        cluster = np.sort(at[[0, 4, 1]])
        assert np.all(np.diff(cluster) >= 12.0 - 1e-9)
        assert list(np.argsort(at)) == list(np.argsort(values, kind="stable"))  # order kept
    assert np.mean(values[[0, 1, 4]] + offsets[[0, 1, 4]]) == pytest.approx(
        np.mean(values[[0, 1, 4]])
    )  # spread around the run's mean


def scatter_layout(frame: pd.DataFrame, group_by: str | None = None):
    spec = reliance_scatter(frame, group_by=group_by).to_dict()
    label = only(spec, "language_label")
    enc = label["encoding"]
    xs, ys = enc["x"]["scale"]["domain"], enc["y"]["scale"]["domain"]
    drawn = pd.DataFrame(rows(spec, label))
    fx = (np.log10(drawn["wiki_articles"]) - math.log10(xs[0])) / math.log10(xs[1] / xs[0])
    fy = 1 - (drawn["reliance"] - ys[0]) / (ys[1] - ys[0])
    offsets = list(zip(drawn["label_dx"], drawn["label_dy"], strict=True))
    return spec, label, drawn, fx.to_numpy(), fy.to_numpy(), offsets


def test_shipped_languages_labels_clear_each_other_and_every_marker_at_any_plot_size():
    spec, label, drawn, fx, fy, offsets = scatter_layout(SHIPPED, group_by="morphology")
    assert label["mark"]["dx"] == {"expr": "datum.label_dx"}  # each row's own offset
    assert label["mark"]["dy"] == {"expr": "datum.label_dy"}
    assert spec["layer"][-1]["name"] == "language_label"  # drawn last: no line over a label
    texts = drawn["lang"].tolist()
    by_lang = dict(zip(texts, offsets, strict=True))
    assert by_lang["es"] != by_lang["ru"]  # one spot, two places
    radius = math.sqrt(170 / math.pi) + 1
    # the dashboard's fitted plot (about 230 x 465 px) up to an image's 640 x 440
    sizes = [(w, h) for w in (360.0, 465.0, 640.0, 900.0) for h in (200.0, 230.0, 440.0)]
    assert clashes(fx, fy, offsets, texts, radius, sizes) == []


def test_scatter_labels_apart_stay_above_their_markers():
    frame = SHIPPED[SHIPPED["lang"].isin(["sw", "ar", "en"])]
    _, _, drawn, *_ = scatter_layout(frame)
    assert drawn["label_dx"].tolist() == [0.0, 0.0, 0.0]
    assert drawn["label_dy"].nunique() == 1 and drawn["label_dy"].iloc[0] < -8


def claim2_lines(glue_drops: dict[str, float]) -> pd.DataFrame:
    rows_ = []
    for f in (0.25, 0.5):
        for lang, d in (("en", 0.3), ("fr", 0.2)):
            rows_.append({"series": f"XNLI {lang}", "task": "xnli", "lang": lang, "fraction": f,
                          "relative_drop": d})  # fmt: skip
        for task, d in glue_drops.items():
            rows_.append({"series": f"GLUE {task}", "task": task, "lang": "en", "fraction": f,
                          "relative_drop": d * f / 0.5})  # fmt: skip
    return pd.DataFrame(rows_)


def test_claim2_end_labels_of_close_line_ends_are_moved_apart():
    # the shipped retrain case: sst2 and mnli end 0.8 points apart, qnli well below
    spec = claim2_figure(claim2_lines({"mnli": 0.216, "qnli": 0.12, "sst2": 0.224})).to_dict()
    label = only(spec, "end-label")
    assert label["mark"]["dy"] == {"expr": "datum.label_dy"}
    ends = {r["task"]: (r["y"], r["label_dy"]) for r in rows(spec, label)}
    # at the smallest plot the axis is at most 1.5 x (30 % - 0 %) over 120 px
    px_per_point = 120 / (1.5 * 30)
    lowest = {t: -y * px_per_point + dy for t, (y, dy) in ends.items()}  # pixels, down
    assert lowest["mnli"] - lowest["sst2"] >= 13 - 0.11  # a label apart (0.1 px rounding)
    assert ends["qnli"][1] == 0  # far from the others: where it was


def test_claim2_end_labels_of_lines_ending_on_one_value_stack_in_order():
    spec = claim2_figure(claim2_lines(dict.fromkeys(("mnli", "mrpc", "qnli", "sst2"), 0.1)))
    spec = spec.to_dict()
    ends = sorted(rows(spec, only(spec, "end-label")), key=lambda r: r["label_dy"])
    steps = np.diff([r["label_dy"] for r in ends])
    assert np.all(steps >= 13 - 0.11)  # rounded to 0.1 px
    assert sum(r["label_dy"] for r in ends) == pytest.approx(0, abs=0.3)  # around the ends


#: The browser pass's case (posthoc reliance with intervals): th and hi on one x, ur by them,
#: es and ru on one spot, en and sw far from every other point.
CROWDED = SHIPPED.assign(
    reliance=[-11.4, -19.8, -18.8, -18.4, -22.6, -17.6, -16.0, -15.6, -19.8, -20.4, -16.2,
              -21.6, -19.4, -17.0, -27.0],
    reliance_low=[-16.0, -25.0, -23.6, -22.8, -28.0, -22.6, -21.0, -20.2, -24.8, -25.4, -21.2,
                  -27.0, -24.2, -22.2, -32.0],
    reliance_high=[-6.4, -15.0, -14.0, -14.0, -17.2, -12.4, -11.2, -11.0, -14.8, -15.4, -11.4,
                   -16.2, -14.4, -12.0, -22.2],
)  # fmt: skip


def test_crowded_labels_are_told_apart_joined_to_their_markers_and_outlined():
    spec, label, drawn, fx, fy, offsets = scatter_layout(CROWDED, group_by="morphology")
    texts = drawn["lang"].tolist()
    by_lang = dict(zip(texts, offsets, strict=True))
    assert len({by_lang[c] for c in ("th", "hi", "ur")}) == 3  # close points, three places
    radius = math.sqrt(170 / math.pi) + 1
    sizes = [(w, h) for w in (360.0, 465.0, 640.0) for h in (200.0, 230.0, 440.0)]
    assert clashes(fx, fy, offsets, texts, radius, sizes) == []
    # a label further from its marker than a label's height gets a line to it; the others none
    far = {t for t, (dx, dy) in by_lang.items()
           if math.hypot(dx, dy) > radius + 2 * label_size(t, FONT)[1] + 2}  # fmt: skip
    assert far  # the crowd pushes some labels out
    lines = rows(spec, only(spec, "label_leader"))
    assert {r["lang"] for r in lines} >= far
    assert {r["lang"] for r in lines} <= set(texts) - {"en", "sw"}  # alone: next to the marker
    for r in lines:  # along the way to the label, starting at the marker's edge
        start, end = (r["lead_x0"], r["lead_y0"]), (r["lead_x1"], r["lead_y1"])
        assert math.hypot(*start) == pytest.approx(radius + 1, abs=0.1)
        assert math.hypot(*end) < math.hypot(r["label_dx"], r["label_dy"])
        assert np.sign(end[0]) == np.sign(r["label_dx"]) and np.sign(end[1]) == np.sign(
            r["label_dy"]
        )
    leader = only(spec, "label_leader")["mark"]
    assert leader["xOffset"] == {"expr": "datum.lead_x0"}
    assert leader["y2Offset"] == {"expr": "datum.lead_y1"}
    # a white outline under each label, with the same text and offsets, drawn just before it
    names = [unit.get("name") for unit in spec["layer"]]
    assert names[-2:] == ["language_label_halo", "language_label"]
    halo = only(spec, "language_label_halo")
    assert halo["mark"]["stroke"] == "white" and halo["mark"]["dx"] == label["mark"]["dx"]
    assert halo["encoding"]["text"] == label["encoding"]["text"]
