"""Overview: what mbp does, what the store holds, headline figures and the claims' verdicts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mbp.analysis.claims import ClaimResult, default_pair
from views import _common as common

WHAT = (
    "**mbp** measures how prunable the attention heads of BERT-style models are: it removes "
    "heads in a chosen order (least important first, most important first, random, or "
    "re-scored each step) and records how the task score falls, per task and per language. "
    "It reproduces Budhraja et al. (2021), *On the Prunability of Attention Heads in "
    "Multilingual BERT*, which compares BERT and multilingual BERT on GLUE and XNLI."
)
MODEL_NOTE = (
    "The offline models are **sentence-embedding fine-tunes**, not the paper's raw masked-LM "
    "checkpoints: **all-MiniLM-L6-v2** stands in for BERT (`minilm-l6`, English, 6 layers) and "
    "a **4-bit-derived multilingual-e5-small** stands in for mBERT (`e5-small`, ~100 languages, "
    "12 layers). Verdicts hold for these stand-ins on these data; the hub models "
    "(`bert-base-cased`, `bert-base-multilingual-cased`) need internet once."
)


def body() -> None:
    st.markdown(WHAT)
    st.info(MODEL_NOTE, icon=":material/info:")
    totals = common.query("store_totals")
    if totals.runs == 0:
        common.empty_state(
            "The results store is empty.",
            "mbp precompute            # the paper reproduction (resumable), then export\n"
            "mbp sweep --model e5-small --task xnli --lang en de sw --order importance random",
            "Or put an export (Parquet + manifest.json from `mbp export --out precomputed/`) in "
            "`precomputed/`: the dashboard imports it on start-up.",
        )
        return
    cols = st.columns(5)
    cols[0].metric("Models", totals.models)
    cols[1].metric("Tasks", totals.tasks)
    cols[2].metric("Languages", totals.langs)
    cols[3].metric("Runs", totals.runs, help=f"{totals.running} still running")
    cols[4].metric("Curve points", f"{totals.curve_points:,}")
    st.caption(
        f"Computed {common.fmt_time(totals.first_computed)} – "
        f"{common.fmt_time(totals.last_computed)} on "
        f"{', '.join(totals.devices) or 'an unrecorded device'}."
    )

    pair = default_pair(common.stored_models())
    curve_runs = common.query("chart_runs", kind="sweep", protocol="posthoc")
    layer_runs = (
        common.query("chart_runs", kind="layers", task="xnli", models=[pair.mbert],
                     protocol="posthoc")
        if pair.mbert else None
    )  # fmt: skip
    _outcomes_line([curve_runs, layer_runs])
    st.caption(
        "Both charts: every stored model and task under the **posthoc** protocol (heads removed "
        "from the fine-tuned model, no retraining); the sidebar's selection applies to the "
        "other pages."
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        summary = common.query("curve_summary")
        common.chart(common.figure("headline_curves", summary), "headline-curves")
        common.run_provenance(curve_runs, key="ov_curves", pick=False)
    with right:
        drops = common.query("layer_drops", model=pair.mbert, task="xnli") if pair.mbert else None
        if drops is not None and len(drops):
            from mbp.analysis.tables import group_reliance

            bars = common.figure("reliance_bars", group_reliance(drops), model=pair.mbert)
            common.chart(bars, "reliance-bars")
            common.run_provenance(layer_runs, key="ov_layers", pick=False)
        else:
            common.empty_state(
                "No layer-wise XNLI results yet.",
                "mbp layers --model e5-small --task xnli --lang all",
            )

    st.subheader("What the store holds", anchor=False)
    table = common.query("store_summary")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "n_langs": st.column_config.NumberColumn("languages"),
            "langs": "codes",
            "max_examples": st.column_config.NumberColumn("examples", help="per language"),
            "first_computed": st.column_config.DatetimeColumn("first", format="YYYY-MM-DD HH:mm"),
            "last_computed": st.column_config.DatetimeColumn("last", format="YYYY-MM-DD HH:mm"),
        },
    )
    _claims_strip()
    _plan_progress()


def _outcomes_line(frames: list[pd.DataFrame | None]) -> None:
    """One line when the runs the Overview draws lack per-example outcomes: how many have
    them, what is missing without them, and how to get them."""
    shown = sorted({r for f in frames if f is not None for r in f.loc[f["shown"], "run_id"]})
    have = common.query("runs_with_outcomes", run_ids=shown) if shown else 0
    if have == len(shown):
        return
    st.warning(
        f"**{have} of {len(shown)} runs shown here have per-example outcomes.** Without them "
        "there are no 95 % intervals (the charts' toggles draw nothing) and no claim can say "
        "whether its verdict survives resampling (its Uncertainty stays empty). Store them "
        "with `mbp precompute --backfill-outcomes`, or take them from the recompute in "
        'progress (README, "The recompute in progress").',
        icon=":material/error_outline:",
    )


def _plan_progress() -> None:
    """How much of the paper's plan the store holds: verdicts on partial data say so."""
    progress = common.query("plan_progress")
    done = int((progress["state"] == "done").sum())
    with st.expander(
        f"Reproduction plan: {done} of {len(progress)} steps finished", icon=":material/checklist:"
    ):
        st.caption(
            "Each step is one `mbp` command of `mbp precompute`, which resumes the rest on any "
            "machine (`mbp precompute --status` prints this table)."
        )
        st.dataframe(progress, hide_index=True)


def _verdict_line(result: ClaimResult) -> str:
    """`protocol: verdict value (95% interval [low, high])`: the Paper claims page's table."""
    return (
        f"{common.PROTOCOL_LABELS[result.protocol]}: {common.verdict_text(result, markdown=True)}"
    )


def _claims_strip() -> None:
    """Each claim's verdict under every stored protocol, labelled: the same verdicts, in the
    same order (the paper's retrain first), as the Paper claims page's table."""
    st.subheader("The paper's claims on these data", anchor=False)
    protocols = common.stored_protocols() or ["posthoc"]
    by_protocol = {p: common.claims(protocol=p) for p in protocols}
    results = by_protocol[protocols[0]]
    cols = st.columns(len(results))
    for col, result in zip(cols, results, strict=True):
        verdicts = [next(r for r in by_protocol[p] if r.number == result.number) for p in protocols]
        with col, st.container(border=True):
            st.markdown(
                f"**Claim {result.number}**  \n" + "  \n".join(map(_verdict_line, verdicts))
            )
            st.caption(f"{result.claim}  \nStatistic: {result.statistic}.")
    st.page_link(
        "views/claims.py", label="The numbers behind each verdict", icon=":material/arrow_forward:"
    )


common.run_page("How prunable are BERT's attention heads?", body)
