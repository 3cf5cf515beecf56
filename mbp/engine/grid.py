"""Grids of pruned fractions: the one parser and validator (torch-free).

parse_grid("0:1:0.1")   # 0, 0.1, ..., 1 (stop included when on the grid, never passed)
parse_grid("0,0.3,0.6") # the same rules for a list
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from mbp.errors import MbpError

DEFAULT_GRID_TEXT = "0:1:0.1"
MAX_GRID_POINTS = 10_000


def split_list(values: str | Iterable[Any]) -> list[str]:
    """'0,1,2', '0 1 2', ['0,1', '2'] -> ['0', '1', '2']: list options read the same way
    everywhere (flags, form fields, URL values)."""
    parts = [values] if isinstance(values, str) else list(values)
    return [p for part in parts for p in re.split(r"[,\s]+", str(part).strip()) if p]


def parse_grid(text: str | Iterable[Any]) -> tuple[float, ...]:
    """Pruned fractions: '0,0.3,0.6', 'start:stop:step', or numbers -> sorted, unique, in
    [0, 1]."""
    if isinstance(text, str) and ":" in text:
        return _range_grid(text.strip())
    return check_grid(split_list(text) if isinstance(text, str) else list(text))


def _range_grid(text: str) -> tuple[float, ...]:
    try:
        start, stop, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise MbpError(f"grid {text!r} is not start:stop:step: e.g. --grid 0:1:0.1") from None
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise MbpError(f"grid {text!r} has a non-finite number: e.g. --grid 0:1:0.1")
    if step <= 0:
        raise MbpError(f"grid step {step:g} must be positive: e.g. --grid 0:1:0.1")
    if stop < start:
        raise MbpError(f"grid {text!r} stops before it starts: e.g. --grid 0:1:0.1")
    # the points start + i*step that do not pass stop (1e-9: 0.3/0.1 is 2.9999999999999996)
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_GRID_POINTS:
        raise MbpError(f"grid {text!r} has {count} points: use a larger step, e.g. 0.1")
    return check_grid([start + i * step for i in range(count)])


def check_grid(grid: Iterable[Any]) -> tuple[float, ...]:
    """Validate pruned fractions; returns them sorted, de-duplicated, rounded to 1e-6."""
    values = set()
    for value in grid:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise MbpError(
                f"grid value {value!r} is not a number: use fractions like 0,0.1,0.5"
            ) from None
        if f != f or not 0.0 <= f <= 1.0 + 1e-9:
            raise MbpError(
                f"grid value {value} is outside [0, 1]: give pruned fractions, e.g. 0.3 for 30%"
            )
        values.add(round(min(f, 1.0), 6))
    if not values:
        raise MbpError("the grid is empty: give at least one fraction, e.g. --grid 0,0.5,1")
    return tuple(sorted(values))


def format_grid(grid: Iterable[float]) -> str:
    return ",".join(f"{f:g}" for f in grid)


DEFAULT_GRID: tuple[float, ...] = parse_grid(DEFAULT_GRID_TEXT)
