"""Read an Altair chart's Vega-Lite spec in tests: its named layers and the rows each one draws.

Builders name every layer by its role (`mbp.figures.layout.role`), e.g. "curve", "band",
"chance"; tests look layers up by that name instead of relying on their position.

    spec = chart.to_dict()
    (curve,) = layers(spec, "curve")
    rows(spec, curve)   # the curve's data rows (list of dicts)
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
