"""Paper claims: each claim, the chart that tests it, and a verdict computed from stored data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mbp.analysis import claims as logic
from mbp.figures import model_label
from views import _common as common

HOW_TO_FILL = {
    1: "mbp sweep --model minilm-l6 --task sst2 --order importance\n"
    "mbp sweep --model e5-small --task sst2 --order importance",
    2: "mbp sweep --model e5-small --task xnli --lang all --order importance",
    3: "mbp layers --model e5-small --task xnli --lang all",
}


def body() -> None:
    st.markdown(
        "Budhraja et al. (2021) make three claims. Each verdict below is **computed** from the "
        "stored results by `mbp.analysis.claims` with the thresholds shown, for the stand-in models; it "
        "says whether the claim holds *on these data*, not whether the paper is right. Where "
        "the runs stored their per-example outcomes, each statistic gets a 95 % interval over "
        "resampled examples (and training seeds, where a run has several), and a verdict "
        "stands only if that interval clears its threshold."
    )
    models = sorted(common.query("store_inventory")["model"].dropna().unique())
    if not models:
        common.empty_state("No results stored yet, so no claim can be checked.",
                           "mbp precompute")  # fmt: skip
        return
    pair = logic.default_pair(models)
    c1, c2, _ = st.columns([1, 1, 2])
    bert = c1.selectbox("BERT stand-in", models, index=_index(models, pair.bert), key="cl_bert",
                        format_func=model_label)  # fmt: skip
    mbert = c2.selectbox("mBERT stand-in", models, index=_index(models, pair.mbert),
                         key="cl_mbert", format_func=model_label)  # fmt: skip
    protocols = common.stored_protocols() or ["posthoc"]
    by_protocol = {p: common.claims(bert, mbert, p) for p in protocols}
    figures = {
        1: lambda r: common.figure("claim1_figure", r.table, tolerance=logic.PARITY_TOLERANCE),
        2: lambda r: common.figure("claim2_figure", r.table),
        3: lambda r: common.figure("claim3_figure", r.table),
    }
    if len(protocols) > 1:
        st.markdown("**Each claim under each protocol** (the paper's own, retrain, first):")
        st.dataframe(_verdicts(by_protocol), hide_index=True)
    for number in (1, 2, 3):
        st.divider()
        results = [next(r for r in by_protocol[p] if r.number == number) for p in protocols]
        st.subheader(f"Claim {number}", anchor=False)
        st.markdown(f"*“{results[0].claim}”*")
        if len(results) == 1:
            _claim(results[0], figures[number], (bert, mbert))
            continue
        # only the chosen protocol's tab is drawn (on_change="rerun"): each tab holds a chart
        # and tables, which are what a visitor waits for (docs/BENCHMARKS.md figure 9)
        tabs = st.tabs([common.PROTOCOL_LABELS[p] for p in protocols], key=f"cl_tab_{number}",
                       on_change="rerun")  # fmt: skip
        for tab, result in zip(tabs, results, strict=True):
            if tab.open:
                with tab:
                    _claim(result, figures[number], (bert, mbert))


def _verdicts(by_protocol: dict[str, list[logic.ClaimResult]]) -> pd.DataFrame:
    rows = []
    for number in (1, 2, 3):
        row = {"claim": number}
        for protocol, results in by_protocol.items():
            result = next(r for r in results if r.number == number)
            row[common.PROTOCOL_LABELS[protocol]] = common.verdict_text(result)
        rows.append(row)
    return pd.DataFrame(rows)


def _claim(result: logic.ClaimResult, figure, pair: tuple[str, str]) -> None:
    st.caption(f"Protocol: {common.PROTOCOL_LABELS.get(result.protocol, result.protocol)}")
    callout = {"supported": st.success, "not supported": st.error}.get(result.verdict, st.warning)
    icon = {"supported": ":material/check_circle:", "not supported": ":material/cancel:"}.get(
        result.verdict, ":material/help:"
    )
    callout(f"**{result.headline.capitalize()}.** {result.explanation}", icon=icon)
    if result.value is None:
        common.empty_state("Not enough data for this claim.", HOW_TO_FILL[result.number])
        _used(result)
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        common.chart(figure(result), f"claim-{result.number}-{result.protocol}",
                     key=f"claim-{result.number}-{result.protocol}")  # fmt: skip
        if result.point_uncertainty:  # the chart's points: intervals, or why none
            st.caption(f"Points: {result.point_uncertainty}.")
        if result.number in (1, 2):
            with st.expander("Relative drop at each pruned fraction"):  # every row: no scroll
                st.dataframe(logic.drops_table(result), hide_index=True, height="content")
        common.run_provenance(_runs(result, *pair), pick=False,
                              key=f"cl_runs_{result.number}_{result.protocol}")  # fmt: skip
    with right:
        st.markdown(f"**Statistic:** {result.statistic}  \n**Rule:** {result.threshold}  \n"
                    f"**Uncertainty:** {result.uncertainty}")  # fmt: skip
        numbers = pd.DataFrame(
            {
                "quantity": list(result.numbers),
                "value": [_fmt(k, v) for k, v in result.numbers.items()],
            }
        )
        st.dataframe(numbers, hide_index=True)
        for test in result.tests:
            st.markdown(f"- *{test.name}*: **{test.outcome}** — {test.detail}"
                        + (f" (p = {test.p_value:.2f})" if test.p_value is not None else ""))  # fmt: skip
        _used(result)
    if not result.groups.empty:  # full width: the table's columns and rows fit uncut
        _groups(result)


def _groups(result: logic.ClaimResult) -> None:
    """Claim 3 under resampling: per language, how often it is among the most bottom- or
    top-reliant, instead of one ranking; every language's row shown (no inner scroll)."""
    st.markdown(f"**Which languages are the most bottom- or top-reliant, over {result.draws:,} "
                "resamples of the evaluated examples:**")  # fmt: skip
    common.chart(common.figure("claim3_groups_figure", result.groups),
                 f"claim-3-groups-{result.protocol}",
                 key=f"claim-3-groups-{result.protocol}")  # fmt: skip
    st.dataframe(logic.groups_table(result.groups), hide_index=True, height="content")


def _runs(result: logic.ClaimResult, bert: str, mbert: str) -> pd.DataFrame:
    """The stored runs the claim's verdict rests on, by the charts' own choice rule."""
    used = result.used
    if result.number == 3:
        return common.query("chart_runs", kind="layers", task="xnli", models=[mbert],
                            protocol=result.protocol)  # fmt: skip
    models = [bert, mbert] if result.number == 1 else [mbert]
    runs = common.query("chart_runs", kind="sweep", models=models, protocol=result.protocol,
                        methods=[used["order"]] if used.get("order") else None)  # fmt: skip
    # the tasks the verdict compared: GLUE in English, XNLI (claim 2) in every language
    keep = runs["task"].isin(used.get("tasks") or []) & (
        runs["task"].eq("xnli") | runs["lang"].eq("en")
    )
    return runs[keep]


def _used(result: logic.ClaimResult) -> None:
    with st.expander("What this verdict used"):
        used = dict(result.used)
        examples = used.pop("examples", {})
        for key, value in used.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
            st.markdown(f"- **{key}**: {value}")
        if examples:
            st.markdown("- **evaluation examples**: "
                        + ", ".join(f"{k} = {v:,}" for k, v in examples.items()))  # fmt: skip


def _fmt(key: str, value) -> str:
    if isinstance(value, float) and "p-value" in key:
        return f"{value:.3f}"
    if isinstance(value, float):
        if any(word in key for word in ("drop", "|Δ|", "gap", "share")):
            return f"{value:.1%}"
        return f"{value:+.2f}"
    return str(value)


def _index(options: list[str], value: str | None) -> int:
    return options.index(value) if value in options else 0


common.run_page("Paper claims", body)
