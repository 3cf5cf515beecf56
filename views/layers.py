"""Layer importance: the drop when each layer (and the bottom/middle/top third) is removed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mbp.analysis.resampled import layer_draws
from mbp.analysis.tables import attach_layer_intervals, group_reliance
from mbp.figures import model_label, symmetric_limit
from views import _common as common

SORTS = {
    "XNLI order": None,
    "word order": "word_order",
    "morphology": "morphology",
    "family": "family",
    "pre-training size": "wiki_articles",
}


def body() -> None:
    available = common.query("layer_models")
    if available.empty:
        common.empty_state(
            "No layer-importance results stored yet.",
            "mbp layers --model e5-small --task xnli --lang all",
        )
        return
    sel = common.sidebar_state()
    options = [f"{m} · {t}" for m, t in zip(available["model"], available["task"], strict=True)]
    in_sidebar = sel.first_model_among(options, with_task=True)
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1.2], vertical_alignment="bottom")
    common.seed_picker("ly_run", options, in_sidebar, link=("lmodel", "ltask"))
    choice = c1.selectbox("Model · task", options, key="ly_run")
    model, task = choice.split(" · ")
    sort_default = common.param("sort", "word order", list(SORTS))
    sort = c2.selectbox("Sort and group languages by", list(SORTS), index=list(SORTS).index(sort_default),
                        key="ly_sort")  # fmt: skip
    value = c3.segmented_control(
        "Drop", ["points", "relative"], default=common.param("drop", "points", ["points", "relative"]),
        key="ly_value", required=True,
        help="points = metric x 100; relative = % of the unpruned score",
    ) or "points"  # fmt: skip
    with_ci = common.interval_toggle(
        c4, key="ly_ci",
        help="each drop's paired bootstrap interval over the evaluated examples (the same "
        "resampled examples for the model with and without the layer, from stored "
        "predictions); dashed outline: the interval includes 0, a drop within noise",
    )  # fmt: skip
    common.set_params(lmodel=model, ltask=task, sort=sort, drop=value,
                      ci="1" if with_ci else None)  # fmt: skip
    protocol = sel.protocols[0]
    if len(sel.protocols) > 1:  # "both" in the sidebar: one heatmap at a time, chosen here
        protocol = st.segmented_control(
            "Protocol", sel.protocols, default=sel.protocols[0], key="ly_protocol",
            format_func=common.PROTOCOL_LABELS.get, required=True, help=common.PROTOCOL_HELP,
        ) or sel.protocols[0]  # fmt: skip

    pinned = common.pinned_runs("ly_runs")
    drops = common.query("layer_drops", model=model, task=task, protocol=protocol, pinned=pinned)
    if drops.empty:
        flag = " --protocol retrain --targets thirds" if protocol == "retrain" else ""
        common.empty_state(
            f"No layer results for {model} on {task} under {common.PROTOCOL_LABELS[protocol]}.",
            f"mbp layers --model {model} --task {task} --lang all{flag}",
        )
        return
    if with_ci:
        intervals = common.query("layer_intervals", run_ids=sorted(drops["run_id"].unique()),
                                 metric=str(drops["metric"].iloc[0]))  # fmt: skip
        drops = attach_layer_intervals(drops, intervals)
        if drops["drop_low"].isna().all():
            st.caption("No intervals: these runs predate per-example outcomes (store schema 6); "
                       "re-running them with `--force` stores them.")  # fmt: skip
    if value == "relative":
        drops = drops.assign(drop=drops["relative_drop"])
        if with_ci:
            drops = drops.assign(drop_low=drops["relative_low"], drop_high=drops["relative_high"])
    meta = common.languages()
    order, labels = _language_order(sorted(drops["lang"].unique()), meta, SORTS[sort])
    unit = "% of unpruned" if value == "relative" else "points"
    fig = common.figure(
        "layer_heatmap",
        drops, lang_order=order, lang_labels=labels, zmax=symmetric_limit(drops["drop"]),
        value_name=f"{drops['metric'].iloc[0]} {'relative drop' if value == 'relative' else 'drop'}",
        unit=unit,
        title=f"Removing one layer's heads (left) or a third of the layers (right) · "
        f"{model_label(model)} on {task} · {protocol}",
    )  # fmt: skip
    common.chart(fig, f"layers-{model}-{task}-{protocol}")
    common.run_provenance(
        common.query("chart_runs", kind="layers", task=task, models=[model], protocol=protocol,
                     pinned=pinned),
        key="ly_runs",
    )  # fmt: skip
    st.caption(
        "Red = removing it hurt, blue = it helped; one colour scale for every language "
        f"(±{symmetric_limit(drops['drop']) * 100:.1f} {unit}). Layers count from 1 at the bottom."
    )
    if with_ci and drops["drop_low"].notna().any():
        known = drops["drop_low"].notna()
        st.caption(
            f"Dashed outline: {int(drops['within_noise'].sum())} of {int(known.sum())} drops "
            "with an interval are within noise (their 95 % paired bootstrap interval over the examples "
            "includes 0); hover a cell for its interval."
            + (f" {int((~known).sum())} cells have no stored outcomes." if (~known).any() else "")
        )

    draws = None
    if with_ci:  # reliance's paired interval: both thirds on the same resampled examples
        draws = _layer_draws(common.open_store()[1].path, common.token(), model, task, protocol,
                             tuple(pinned))  # fmt: skip
        if value == "relative":  # the drops' own units: % of the unpruned score, per resample
            draws = draws.assign(drop=draws["drop"] / draws["base_value"].where(
                draws["base_value"] != 0))  # fmt: skip
    reliance = group_reliance(drops, draws=draws)
    merged = reliance.merge(meta.reset_index(drop=True), on="lang", how="left")
    st.subheader("Who relies on the bottom layers?", anchor=False)
    group_by = (
        SORTS[sort] if SORTS[sort] in ("word_order", "morphology", "family") else "morphology"
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        common.chart(
            common.figure(
                "reliance_scatter",
                merged,
                group_by=group_by,
                title="Reliance vs pre-training size",
            ),
            f"reliance-{model}-{task}",
        )
    with right:
        st.markdown(
            "**reliance** = drop(bottom ⅓) − drop(top ⅓). Above 0 the bottom layers matter more; "
            "the paper expects that for agglutinative and low-resource languages, and the top "
            "layers to matter more for SVO languages like English. Marker shapes: "
            f"{group_by.replace('_', ' ')}."
        )
        if len(merged) and (merged["reliance"].dropna() < 0).all():
            st.caption(
                "Every language here is below 0: removing the top third costs more than the "
                "bottom third everywhere. The claim is read as a trend across languages (higher "
                "reliance for those groups), as on the Paper claims page."
            )
    # full width under the scatter: beside it, the table's columns scrolled off
    show = merged.set_index("lang").loc[order].reset_index()
    bounds = ["reliance_low", "reliance_high"] if "reliance_low" in show else []
    if bounds and show["reliance_low"].isna().all():
        st.caption("No reliance intervals: these runs predate per-example outcomes (store "
                   "schema 6); re-running them with `--force` stores them.")  # fmt: skip
    elif bounds:
        st.caption("reliance low/high: its 95 % paired bootstrap interval (both thirds' "
                   "drops on the same resampled examples).")  # fmt: skip
    st.dataframe(
        show[["lang", "name", "reliance", *bounds, "bottom", "top", "word_order",
              "morphology", "wiki_articles"]],
        hide_index=True,
        column_config={
            "reliance": st.column_config.NumberColumn(format="%+.2f"),
            "reliance_low": st.column_config.NumberColumn("reliance low", format="%+.2f"),
            "reliance_high": st.column_config.NumberColumn("reliance high", format="%+.2f"),
            "bottom": st.column_config.NumberColumn(format="%.2f"),
            "top": st.column_config.NumberColumn(format="%.2f"),
            "wiki_articles": st.column_config.NumberColumn("Wikipedia articles", format="localized"),
        },
    )  # fmt: skip


@st.cache_data(show_spinner=False, max_entries=16)
def _layer_draws(store_key: str, version: str, model: str, task: str, protocol: str,
                 pinned: tuple[str, ...]) -> pd.DataFrame:  # fmt: skip
    """The shown runs' layer thirds on resampled examples (`resampled.layer_draws`), cached
    until the store changes (`version`): scoring is the cost."""
    return layer_draws(common.open_store()[0], model=model, task=task, protocol=protocol,
                       pinned=list(pinned))  # fmt: skip


def _language_order(
    langs: list[str], meta: pd.DataFrame, column: str | None
) -> tuple[list[str], dict[str, str]]:
    """Languages sorted by a metadata column (size: largest first), labelled with it."""
    from mbp.tasks.registry import XNLI_LANGUAGES

    def xnli_pos(code: str) -> int:
        return XNLI_LANGUAGES.index(code) if code in XNLI_LANGUAGES else 99

    known = [lang for lang in langs if lang in meta.index]
    unknown = [lang for lang in langs if lang not in meta.index]
    if column is None:
        order = sorted(known, key=xnli_pos)
        labels = {lang: f"{lang} · {meta.loc[lang, 'name']}" for lang in known}
    elif column == "wiki_articles":
        order = sorted(known, key=lambda c: -int(meta.loc[c, column]))
        labels = {lang: f"{lang} · {int(meta.loc[lang, column]) / 1e6:.2f}M" for lang in known}
    else:
        order = sorted(known, key=lambda c: (str(meta.loc[c, column]), xnli_pos(c)))
        labels = {lang: f"{meta.loc[lang, column]} · {lang}" for lang in known}
    return order + unknown, labels


common.run_page("Layer importance", body)
