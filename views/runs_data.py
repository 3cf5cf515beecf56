"""Runs & data: every stored run with filters, and downloads of the selected results."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from mbp.analysis.export import download_frame
from views import _common as common

TABLES = {
    "curve points": "curve_points",
    "head importance": "head_importance",
    "layer importance": "layer_importance",
    "layer reliance": "layer_reliance",  # derived: reliance per layer-wise run, with intervals
    "runs": "runs",
}


def _replace_shipped() -> None:
    """The button's callback (before the rerun draws the sidebar, so its notice goes at once)."""
    try:
        replaced = common.replace_stale_export()
    except Exception as err:  # a broken export or a locked store: say so, change nothing
        st.session_state["rd_replace_result"] = ("error", f"Nothing was replaced: {err}")
        return
    st.session_state["rd_replace_result"] = (
        "success",
        f"Replaced {replaced} shipped run(s) with the current {common.precomputed_dir().name}/; "
        "your own runs stayed.",
    )


def stale_export_offer() -> None:
    """While the store holds an older precomputed/: the fix as a button (never in the demo)."""
    kind, text = st.session_state.pop("rd_replace_result", (None, ""))
    if kind:
        getattr(st, kind)(text)
    if common.settings().demo or not common.stale_export_notice():
        return
    st.caption(  # the notice itself is in the sidebar: one notice, here the fix
        f"{common.precomputed_dir().name}/ changed since this store was filled from it: its "
        "shipped runs below still show the old numbers."
    )
    st.button(
        "Replace the shipped runs with the current precomputed/",
        key="rd_replace", on_click=_replace_shipped, icon=":material/update:",
        help="Deletes the store's copies of the runs precomputed/ holds and imports its current "
        "version, in one transaction; runs precomputed/ does not hold (your own) stay",
    )  # fmt: skip


def body() -> None:
    stale_export_offer()
    runs = common.query("runs_frame")
    if runs.empty:
        common.empty_state("No runs stored yet.", "mbp sweep --model e5-small --task sst2")
        return
    c1, c2, c3, c4, c5 = st.columns(5)
    kinds = c1.multiselect("Kind", sorted(runs["kind"].unique()), key="rd_kind")
    models = c2.multiselect("Model", sorted(runs["model"].unique()), key="rd_model")
    tasks = c3.multiselect("Task", sorted(runs["task"].unique()), key="rd_task")
    langs = c4.multiselect("Language", sorted(runs["lang"].dropna().unique()), key="rd_lang")
    statuses = c5.multiselect("Status", sorted(runs["status"].unique()), key="rd_status")
    shown = runs
    for column, chosen in (("kind", kinds), ("model", models), ("task", tasks), ("lang", langs),
                           ("status", statuses)):  # fmt: skip
        if chosen:
            shown = shown[shown[column].isin(chosen)]
    shown = shown.reset_index(drop=True)
    total = shown["cells_total"].where(shown["cells_total"] > 0)
    shown.insert(8, "progress", (shown["cells_done"] / total).fillna(0.0).clip(0, 1))
    # which runs can have 95 % intervals: the store's one definition of "has outcomes"
    with_outcomes = shown["run_id"].isin(common.store().outcome_run_ids(shown["run_id"].tolist()))
    shown.insert(8, "outcomes", with_outcomes)
    st.caption(f"{len(shown)} of {len(runs)} runs · {int(with_outcomes.sum())} with per-example "
               "outcomes (95 % intervals) · select rows to download only those runs")  # fmt: skip
    event = st.dataframe(
        shown,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key="rd_table",
        column_config={
            "run_id": st.column_config.TextColumn(
                "run", width="medium", help="the id `mbp` commands take (e.g. `mbp latency`)"
            ),  # "small" cut the id: the Pruning curves page sends visitors here for it
            "n_examples": st.column_config.NumberColumn(
                "examples", help="evaluation examples per language"
            ),
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent"
            ),
            "outcomes": st.column_config.CheckboxColumn(
                "outcomes", help="per-example outcomes stored: the run's points, drops and "
                "claims get 95 % intervals (older runs: `mbp precompute --backfill-outcomes`); "
                "importance runs store none",
            ),
            "cells_done": st.column_config.NumberColumn("cells"),
            "cells_total": st.column_config.NumberColumn("of"),
            "elapsed_s": st.column_config.NumberColumn("seconds", format="%.1f"),
            "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
            "updated_at": st.column_config.DatetimeColumn("updated", format="YYYY-MM-DD HH:mm"),
        },
    )  # fmt: skip
    rows = list(event.selection.rows) if event and event.selection else []
    picked = shown.iloc[rows] if rows else shown
    run_ids = picked["run_id"].tolist()

    st.subheader("Download", anchor=False)
    d1, d2, d3 = st.columns([4, 1, 1], vertical_alignment="center")
    label = d1.radio("Table", list(TABLES), horizontal=True, key="rd_download_table")
    table = TABLES[label]
    scope = f"{len(run_ids)} selected run(s)" if rows else f"all {len(run_ids)} shown run(s)"
    d1.caption(f"{label} of {scope} · layers and heads numbered from 1, as on screen "
               "(columns marked '1-based') · layer drops, reliance and curve points with their "
               "95 % bootstrap intervals (_low/_high) where the runs stored per-example "
               "outcomes, empty for older runs")  # fmt: skip
    stem = f"mbp-{table}"
    store = common.store()
    d2.download_button(
        "CSV", data=lambda: _frame(store, table, run_ids, picked).to_csv(index=False),
        file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:", key="rd_csv",
        on_click="ignore",  # a download changes nothing on the page: no rerun
    )  # fmt: skip
    d3.download_button(
        "Parquet", data=lambda: _parquet(_frame(store, table, run_ids, picked)),
        file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet",
        icon=":material/download:", key="rd_parquet", on_click="ignore",
    )  # fmt: skip
    st.caption("Every chart downloads as PNG or SVG from the button under it "
               "(choose the format in the sidebar).")  # fmt: skip


def _frame(store, table: str, run_ids: list[str], runs: pd.DataFrame) -> pd.DataFrame:
    """Built when the button is clicked (deferred), from the store directly: no Streamlit.
    Layer and head numbers are 1-based, as on screen; intervals where the runs stored
    outcomes (`mbp.analysis.export.download_frame`)."""
    if table == "runs":
        return runs
    return download_frame(store, table, run_ids)


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


common.run_page("Runs & data", body)
