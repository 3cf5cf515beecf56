"""Where to put text labels so they overlap neither each other nor the markers they name.

Vega-Lite draws a text mark at its data point plus a fixed pixel offset (`dx`, `dy`) and has no
collision avoidance of its own. These helpers pick each label's offset in pandas before the chart
is built, in pixels, from the data-to-pixel mapping of the plot (`Axis`).

The plot's size in pixels is not one number: an image (vl-convert) draws the plot at the spec's
width and height, the dashboard fits the whole chart, axes and legends included, into its column
and height, which leaves the plot a good deal smaller. So each axis carries the range of sizes it
may get, and a placement is kept only if it is clear at both ends of that range: a box's extent
along an axis is linear in the axis size (data fraction x size + a fixed pixel offset), so two
boxes apart in the same order at both ends are apart at every size between.

    axes = PlotAxes(Axis((1e4, 1e7), (360, 640), log=True), Axis((-16, 4), (200, 440)))
    offsets = place_labels(x, y, ["en", "es"], axes, marker_radius=8, font_size=12)
    offsets["dx"], offsets["dy"]   # pixels from each point to its label's centre
    leaders(offsets, ["en", "es"], marker_radius=8, font_size=12)  # lines to far labels
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Pixels between a label and what it must clear.
GAP = 2.0
#: Width of one character in ems: a conservative mean for short lowercase codes, bold included.
CHAR_EM = 0.65
#: Directions tried in turn, after the default (above): below, right, left, the diagonals.
_DIRECTIONS = ((0, -1), (0, 1), (1, 0), (-1, 0), (1, -1), (-1, -1), (1, 1), (-1, 1))
_RINGS = 3  # the directions again, each ring one label height further out


@dataclass(frozen=True)
class Axis:
    """One position axis: its data `domain` (as drawn, log10 taken when `log`) and the plot's
    extent along it, in pixels, (smallest, largest) it may be drawn at."""

    domain: tuple[float, float]
    pixels: tuple[float, float]
    log: bool = False

    def fraction(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Where `values` fall along the axis, 0 at the domain's start and 1 at its end."""
        v = np.asarray(values, dtype=float)
        lo, hi = self.domain
        if self.log:
            v, lo, hi = np.log10(v), math.log10(lo), math.log10(hi)
        return (v - lo) / ((hi - lo) or 1.0)


@dataclass(frozen=True)
class PlotAxes:
    """The plot's x and y axes (pixels grow rightwards and downwards)."""

    x: Axis
    y: Axis


@dataclass(frozen=True)
class _Span:
    """An extent along one axis at size S: [lo_frac * S + lo_px, hi_frac * S + hi_px]."""

    lo_frac: float
    hi_frac: float
    lo_px: float
    hi_px: float

    def at(self, size: float) -> tuple[float, float]:
        return self.lo_frac * size + self.lo_px, self.hi_frac * size + self.hi_px


def _apart(a: _Span, b: _Span, sizes: tuple[float, float]) -> bool:
    """Whether a and b do not overlap, in the same order, at both ends of `sizes`."""
    ends = [(a.at(s), b.at(s)) for s in sizes]
    return all(ea[1] <= eb[0] for ea, eb in ends) or all(eb[1] <= ea[0] for ea, eb in ends)


def _inside(a: _Span, sizes: tuple[float, float]) -> bool:
    return all(lo >= 0 and hi <= s for s in sizes for lo, hi in [a.at(s)])


Box = tuple[_Span, _Span]  # (x, y)


def _overlap(a: Box, b: Box, axes: PlotAxes) -> bool:
    return not (_apart(a[0], b[0], axes.x.pixels) or _apart(a[1], b[1], axes.y.pixels))


def _candidates(radius: float, half_w: float, half_h: float) -> list[tuple[float, float]]:
    """(dx, dy) of a label's centre, the default (above the marker) first."""
    out = []
    for ring in range(_RINGS):
        extra = ring * (2 * half_h + GAP)
        for ux, uy in _DIRECTIONS:
            dx = ux * (radius + GAP + half_w + extra)
            dy = uy * (radius + GAP + half_h + extra)
            out.append((dx, dy))
    return out


def label_size(text: str, font_size: float) -> tuple[float, float]:
    """A label's (width, height) in pixels, estimated from its length (no font metrics here)."""
    return max(len(text), 1) * CHAR_EM * font_size + 2, font_size + 2


def place_labels(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    texts: Sequence[str],
    axes: PlotAxes,
    *,
    marker_radius: float,
    font_size: float,
    rules: Sequence[tuple[float, float, float]] = (),
) -> pd.DataFrame:
    """Each label's centre offset from its point, in pixels (columns dx, dy; y grows down).

    Every label starts above its marker. One whose default box is clear of every marker, every
    other label's default box and the plot's edges keeps it; the others, in the given order,
    take the first of the candidates (below, right, left, the diagonals, then the same further
    out) clear of every marker, every `rules` segment (x, y_low, y_high: an error bar) and the
    labels placed so far, or, when none is, the one with the fewest overlaps.
    """
    fx, fy = axes.x.fraction(x), 1.0 - axes.y.fraction(y)
    n = len(texts)
    markers: list[Box] = [
        (_Span(fx[i], fx[i], -marker_radius, marker_radius),
         _Span(fy[i], fy[i], -marker_radius, marker_radius))
        for i in range(n)
    ]  # fmt: skip
    for rx, low, high in rules:
        rfx = float(axes.x.fraction([rx])[0])
        top, bottom = 1.0 - axes.y.fraction([high, low])
        markers.append((_Span(rfx, rfx, -1, 1), _Span(float(top), float(bottom), 0, 0)))
    sizes = [label_size(str(t), font_size) for t in texts]
    options = [_candidates(marker_radius, w / 2, h / 2) for w, h in sizes]

    def box(i: int, offset: tuple[float, float]) -> Box:
        (w, h), (dx, dy) = sizes[i], offset
        return (_Span(fx[i], fx[i], dx - w / 2, dx + w / 2),
                _Span(fy[i], fy[i], dy - h / 2, dy + h / 2))  # fmt: skip

    def clashes(i: int, b: Box, others: list[Box]) -> int:
        edge = 0 if _inside(b[0], axes.x.pixels) and _inside(b[1], axes.y.pixels) else 1
        return edge + sum(_overlap(b, o, axes) for o in markers + others)

    defaults = [box(i, options[i][0]) for i in range(n)]
    chosen: dict[int, tuple[float, float]] = {}
    for i in range(n):  # clear of everything at its default: stays
        if not clashes(i, defaults[i], [d for j, d in enumerate(defaults) if j != i]):
            chosen[i] = options[i][0]
    placed = [defaults[i] for i in chosen]
    for i in range(n):
        if i in chosen:
            continue
        scored = [(clashes(i, box(i, o), placed), k) for k, o in enumerate(options[i])]
        best = next((k for c, k in scored if c == 0), min(scored)[1])
        chosen[i] = options[i][best]
        placed.append(box(i, chosen[i]))
    return pd.DataFrame([chosen[i] for i in range(n)], columns=["dx", "dy"])


def leaders(
    offsets: pd.DataFrame, texts: Sequence[str], *, marker_radius: float, font_size: float
) -> pd.DataFrame:
    """A short line from each marker's edge to its label's box, in pixels from the point
    (columns x0, y0, x1, y1), for labels `place_labels` moved further from their marker than a
    label's height: in a crowded cluster such a label sits beside another marker, and the line
    says whose it is. NaN where the label is next to its own marker.
    """
    out = np.full((len(texts), 4), np.nan)
    for i, (text, dx, dy) in enumerate(zip(texts, offsets["dx"], offsets["dy"], strict=True)):
        w, h = label_size(str(text), font_size)
        dist = math.hypot(dx, dy)
        if dist == 0:
            continue
        ux, uy = dx / dist, dy / dist
        # from the label's centre back along the line to its box's edge
        inside = min(w / 2 / abs(ux) if ux else math.inf, h / 2 / abs(uy) if uy else math.inf)
        if dist - inside - marker_radius <= h:
            continue
        start, end = marker_radius + 1, dist - inside - 1
        out[i] = (ux * start, uy * start, ux * end, uy * end)
    return pd.DataFrame(out, columns=["x0", "y0", "x1", "y1"])


def spread(values: Sequence[float] | np.ndarray, axis: Axis, size_px: float) -> np.ndarray:
    """Pixel offsets along `axis` that keep labels at `values` at least `size_px` apart (one
    dimension: end labels stacked beside a column of line ends), each moved as little as it can.
    Offsets point the way the data grow: on a y axis, a label's `dy` is minus its offset.

    Labels keep their order; a run of labels closer than `size_px` is spread evenly around its
    mean. Worked out at the smallest axis size: a larger plot only moves them further apart.
    """
    pos = axis.fraction(values) * axis.pixels[0]
    order = np.argsort(pos, kind="stable")
    clusters: list[list[int]] = []  # runs of labels in order, each laid out around its mean

    def start(run: list[int]) -> float:
        return float(np.mean(pos[run])) - size_px * (len(run) - 1) / 2

    for i in order:
        clusters.append([int(i)])
        while len(clusters) > 1 and start(clusters[-2]) + size_px * len(clusters[-2]) > start(
            clusters[-1]
        ):
            last = clusters.pop()
            clusters[-1].extend(last)
    out = np.zeros(len(pos))
    for run in clusters:
        first = start(run)
        for k, i in enumerate(run):
            out[i] = first + k * size_px - pos[i]
    return out
