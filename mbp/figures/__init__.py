"""Figure builders: pure functions from small DataFrames to Plotly figures (no Streamlit).

    from mbp.figures import pruning_curves, plotly_config
    fig = pruning_curves(summary, metric="accuracy", relative=True)

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
from mbp.figures.layout import empty_figure, plotly_config, style
from mbp.figures.overview import headline_curves, reliance_bars
from mbp.figures.palette import (
    DIVERGING_SCALE,
    LANG_COLORS,
    MODEL_COLORS,
    ORDER_COLORS,
    ORDER_DASH,
    ORDER_LABELS,
    lang_color,
    model_color,
    model_label,
    order_color,
    order_dash,
)
from mbp.figures.scatter import reliance_scatter

__all__ = [
    "DIVERGING_SCALE",
    "LANG_COLORS",
    "MODEL_COLORS",
    "ORDER_COLORS",
    "ORDER_DASH",
    "ORDER_LABELS",
    "claim1_figure",
    "claim2_figure",
    "claim2_highlights",
    "claim3_figure",
    "claim3_groups_figure",
    "color_mode",
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
    "plotly_config",
    "pruning_curves",
    "rank_correlation_heatmap",
    "relative_values",
    "reliance_bars",
    "reliance_scatter",
    "style",
    "symmetric_limit",
    "target_label",
    "target_order",
]
