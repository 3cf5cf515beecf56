"""Figure builders: pure functions from small DataFrames to Altair (Vega-Lite) charts, no
Streamlit. Charts carry their data inline; `chart_image` renders one as PNG or SVG.

    from mbp.figures import chart_image, pruning_curves
    chart = pruning_curves(summary, metric="accuracy", relative=True)
    png = chart_image(chart, "png")

One fixed colour per XNLI language, model and prune order (`palette`); heatmaps of drops use one
diverging scale symmetric around 0.
"""

from mbp.figures.claims import (
    claim1_figure,
    claim2_figure,
    claim2_highlights,
    claim3_figure,
    claim3_groups_figure,
)
from mbp.figures.curves import color_mode, pruning_curves, relative_values
from mbp.figures.heatmaps import (
    head_difference_heatmap,
    head_heatmap,
    layer_heatmap,
    rank_correlation_heatmap,
    symmetric_limit,
    target_label,
    target_order,
)
from mbp.figures.layout import chart_image, empty_figure, safe_filename, style
from mbp.figures.overview import headline_curves, reliance_bars
from mbp.figures.palette import (
    DASH_PATTERNS,
    DIVERGING_SCALE,
    LANG_COLORS,
    MODEL_COLORS,
    ORDER_COLORS,
    ORDER_DASH,
    ORDER_LABELS,
    SEQUENTIAL_SCHEME,
    dash_pattern,
    lang_color,
    model_color,
    model_label,
    order_color,
    order_dash,
)
from mbp.figures.scatter import reliance_scatter
from mbp.figures.seeds import curves_with_training_seeds

__all__ = [
    "DASH_PATTERNS",
    "DIVERGING_SCALE",
    "LANG_COLORS",
    "MODEL_COLORS",
    "ORDER_COLORS",
    "ORDER_DASH",
    "ORDER_LABELS",
    "SEQUENTIAL_SCHEME",
    "chart_image",
    "claim1_figure",
    "claim2_figure",
    "claim2_highlights",
    "claim3_figure",
    "claim3_groups_figure",
    "color_mode",
    "curves_with_training_seeds",
    "dash_pattern",
    "empty_figure",
    "head_difference_heatmap",
    "head_heatmap",
    "headline_curves",
    "lang_color",
    "layer_heatmap",
    "model_color",
    "model_label",
    "order_color",
    "order_dash",
    "pruning_curves",
    "rank_correlation_heatmap",
    "relative_values",
    "reliance_bars",
    "reliance_scatter",
    "safe_filename",
    "style",
    "symmetric_limit",
    "target_label",
    "target_order",
]
