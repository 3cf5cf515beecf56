"""Read an Altair chart's Vega-Lite spec in tests: its named layers and the rows each one draws.

Builders name every layer by its role (`mbp.figures.layout.role`), e.g. "curve", "band",
"chance"; tests look layers up by that name instead of relying on their position.

    spec = chart.to_dict()
    (curve,) = layers(spec, "curve")
    rows(spec, curve)   # the curve's data rows (list of dicts)
    keys(spec)          # per layer, the encodings that draw a legend
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]


def _walk(node: Any, data: Any = None):
    """(unit spec, the data it inherits) for every unit spec (one with a mark) in the tree."""
    if not isinstance(node, dict):
        return
    data = node.get("data", data)
    if "mark" in node:
        yield node, data
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in node.get(key, []):
            yield from _walk(child, data)
    if "spec" in node:
        yield from _walk(node["spec"], data)


def units(spec: Spec) -> list[Spec]:
    """Every unit spec, depth first."""
    return [unit for unit, _ in _walk(spec)]


def layers(spec: Spec, name: str) -> list[Spec]:
    """The unit specs named `name` (a builder's role), in drawing order."""
    return [unit for unit in units(spec) if unit.get("name") == name]


def rows(spec: Spec, unit: Spec) -> list[dict[str, Any]]:
    """The data rows `unit` draws: its own inline values or its named dataset (own or
    inherited)."""
    for node, data in _walk(spec):
        if node is unit:
            if data is None:
                return []
            if "values" in data:
                return list(data["values"])
            return list(spec.get("datasets", {}).get(data["name"], []))
    raise ValueError("unit is not part of spec: pass a unit from layers(spec, ...)")


def mark_type(unit: Spec) -> str:
    mark = unit["mark"]
    return mark["type"] if isinstance(mark, dict) else mark


def scale_map(channel: Spec) -> dict[Any, Any]:
    """An encoding channel's explicit scale as {domain value: range value}."""
    scale = channel["scale"]
    return dict(zip(scale["domain"], scale["range"], strict=True))


LEGEND_CHANNELS = ("color", "fill", "stroke", "strokeDash", "strokeWidth", "shape", "size",
                   "opacity", "fillOpacity", "strokeOpacity")  # fmt: skip


def keys(spec: Spec) -> dict[str, list[tuple[str, str, str | None]]]:
    """Per layer name: (channel, field, legend title) of each encoding that draws a legend (a
    field, a scale, and a legend not turned off). Vega-Lite merges channels whose field,
    title and domain match into one key."""
    out: dict[str, list] = {}
    for unit in units(spec):
        for channel, enc in unit.get("encoding", {}).items():
            if channel not in LEGEND_CHANNELS or not isinstance(enc, dict) or "field" not in enc:
                continue
            if enc.get("scale", {}) is None or enc.get("legend", {}) is None:
                continue
            title = (enc.get("legend") or {}).get("title")
            out.setdefault(unit.get("name"), []).append((channel, enc["field"], title))
    return out


def own_colours_off_the_color_channel(spec: Spec) -> bool:
    """No layer draws each row's own colour (scale=None) on `color`: Vega-Lite 6.5 (Streamlit's)
    folds such layers into the colour scale, and the colour key then no longer merges with a
    dash key on the same field (two legends in the browser)."""
    return all(
        not (isinstance(enc := unit.get("encoding", {}).get("color"), dict)
             and "scale" in enc and enc["scale"] is None)
        for unit in units(spec)
    )  # fmt: skip
