"""Pruning curves: metric vs % of heads pruned, orders overlaid, random seeds as a band."""

from __future__ import annotations

import streamlit as st

from mbp.analysis.tables import attach_intervals, prunability_table
from mbp.figures import ORDER_LABELS, model_label
from mbp.tasks.scoring import chance_level
from views import _common as common

ORDER_CHOICES = ("importance", "iterative", "reverse", "random")
PICKER = "cv_runs"
X_CHOICES = {
    "heads": "% heads pruned",
    "flops": "FLOPs saved",
    "params": "parameters saved",
    "speedup": "measured speed-up",
}


def body() -> None:
    sel = common.sidebar_state()
    if not sel.task or not sel.models:
        common.empty_state(
            "No pruning curves stored yet.",
            "mbp sweep --model e5-small --task xnli --lang en de sw --order importance reverse "
            "random --seeds 0 1 2",
        )
        return
    st.caption(
        "Each line is one prune order; the random order is the mean over seeds with a band. "
        "The dotted line is the unpruned score, the long-dashed one chance (a uniform random "
        "guess; none for F1). Hover a point for the exact value; terms: the sidebar's Glossary."
    )
    metrics = common.query("curve_metrics", task=sel.task, models=sel.models)
    counts = common.query(
        "example_counts", kind="sweep", task=sel.task, models=sel.models, langs=sel.langs,
        protocol=None if sel.protocol == "both" else sel.protocol,
    )  # fmt: skip
    # widths from the controls' own labels at 1400 px: 1.4 clipped "relative" (Score)
    c1, c2, c3, c4, c5 = st.columns([1.0, 2.8, 1.6, 1.6, 0.9], vertical_alignment="bottom")
    metric_default = common.param("metric", metrics[0] if metrics else "accuracy", metrics)
    metric = c1.selectbox(
        "Metric", metrics or ["accuracy"], index=_index(metrics, metric_default), key="cv_metric"
    )
    orders = c2.pills(
        "Orders", ORDER_CHOICES, selection_mode="multi", default=_orders_param(),
        key="cv_orders", help="; ".join(ORDER_LABELS.values()),
    ) or []  # fmt: skip
    scale = c3.segmented_control(
        "Score", ["absolute", "relative"], default=common.param("y", "absolute",
                                                               ["absolute", "relative"]),
        key="cv_scale", required=True, help="relative = % of the unpruned score of the same model and language",
    )  # fmt: skip
    band = c4.segmented_control(
        "Random band", ["min-max", "±1 std"],
        default="±1 std" if common.param("band", "minmax") == "std" else "min-max",
        key="cv_band", required=True,
        help="the grey band around the random order's mean over seeds: min-max = the lowest "
        "to the highest seed at each point; ±1 std = the mean ± one standard deviation over seeds",
    )  # fmt: skip
    n_examples = None
    if len(counts) > 1:
        n_examples = c5.selectbox(
            "Examples", counts, index=counts.index(_examples_param(counts)), key="cv_examples",
            help="several runs differ in evaluated examples",
        )  # fmt: skip
    d1, d2, d3 = st.columns([3.6, 1.2, 1.4], vertical_alignment="bottom")  # 3.0 clipped "speed-up"
    x_axis = d1.segmented_control(
        "x-axis", list(X_CHOICES), format_func=X_CHOICES.get, required=True, key="cv_x",
        default=common.param("x", "heads", list(X_CHOICES)),
        help="what the pruned model saves: encoder FLOPs per example on the evaluated "
        "examples' real lengths, or parameters, counted from its structure",
    ) or "heads"  # fmt: skip
    with_ci = common.interval_toggle(
        d3, key="cv_ci",
        help="error bars: the bootstrap interval over the evaluated examples (resampled from "
        "each point's stored predictions), for orders with one seed; random orders show their "
        "seed band",
    )  # fmt: skip
    pareto = d2.toggle(
        "Pareto front", value=common.param("pareto", "0", ["0", "1"]) == "1", key="cv_pareto",
        help="per model and language, the points no other order or protocol shown beats on "
        "both the saving and the score",
    )  # fmt: skip
    scale = scale or "absolute"
    band_key = "std" if band == "±1 std" else "minmax"
    common.set_params(
        metric=metric,
        orders=",".join(orders),
        y=scale,
        band=band_key if band_key != "minmax" else None,
        x=x_axis if x_axis != "heads" else None,
        pareto="1" if pareto else None,
        ci="1" if with_ci else None,
        examples=str(n_examples) if n_examples is not None else None,
    )
    pinned = common.pinned_runs(PICKER)
    where = dict(models=sel.models, task=sel.task, langs=sel.langs, n_examples=n_examples,
                 protocol=None if sel.protocol == "both" else sel.protocol, pinned=pinned)  # fmt: skip
    summary = common.query("curve_summary", metric=metric, orders=orders, **where)
    if summary.empty:
        langs = " ".join(sel.langs) or "en"
        protocol_flag = "" if sel.protocol in ("posthoc", "both") else " --protocol retrain"
        common.empty_state(
            f"No {', '.join(orders) or 'pruning'} curves for "
            f"{', '.join(map(model_label, sel.models))} on {sel.task} ({langs}) under "
            f"{common.PROTOCOL_LABELS[sel.protocol]}.",
            f"mbp sweep --model {sel.models[0]} --task {sel.task} --lang {langs} "
            f"--order {' '.join(orders or ['random'])}{protocol_flag}",
        )
        return
    title = (
        f"{sel.task} · {', '.join(map(model_label, sel.models))} · {', '.join(sel.langs)} · "
        f"{common.PROTOCOL_LABELS[sel.protocol]}"
    )
    runs = common.query("chart_runs", kind="sweep", methods=orders, **where)
    if with_ci:
        shown = runs[runs["shown"]]
        intervals = common.query("curve_intervals", run_ids=shown["run_id"].tolist(),
                                 metric=metric)  # fmt: skip
        summary = attach_intervals(summary, intervals, shown)
        if summary["ci_low"].isna().all():
            st.caption("No intervals: the shown runs were stored before per-example outcomes "
                       "were (store schema 6), or have only random orders with several seeds. "
                       "Re-running them with `--force` stores the outcomes.")  # fmt: skip
    chart_slot = st.container()  # the chart above the training-seed caption and toggle
    seeds = _training_seeds(runs, metric=metric, x_axis=x_axis, relative=scale == "relative")
    drawn = dict(metric=metric, relative=scale == "relative", band=band_key, title=title,
                 height=520, x=x_axis, pareto=pareto, chance=chance_level(sel.task, metric))  # fmt: skip
    if seeds is None:
        fig = common.figure("pruning_curves", summary, **drawn)
    else:  # the same chart with each training seed's curve and their interval under its own
        fig = common.figure("curves_with_training_seeds", summary, *seeds, **drawn)
    with chart_slot:
        common.chart(fig, f"curves-{sel.task}")
    missing = [o for o in orders if o not in set(summary["order_name"])]
    if missing:  # e.g. iterative: offered, but no sweep of this selection ran it
        st.info(
            f"No **{', '.join(missing)}** curves stored for this selection, so the chart has "
            f"none. Fill them with `mbp sweep --model {sel.models[0]} --task {sel.task} --lang "
            f"{' '.join(sel.langs) or 'en'} --order {' '.join(missing)}`.",
            icon=":material/info:",
        )  # fmt: skip
    common.run_provenance(runs, key=PICKER)
    column = {"flops": "flops_saved", "params": "params_saved", "speedup": "speedup"}
    if x_axis in column and summary[column[x_axis]].isna().any():
        missing = int(summary[column[x_axis]].isna().sum())
        fix = (
            "`mbp latency RUN_ID` times a run's pruned models (ids: Runs & data)"
            if x_axis == "speedup"
            else "`mbp costs` fills them in"
        )
        st.info(f"{missing} of {len(summary)} points have no {X_CHOICES[x_axis]} figure and are "
                f"left out: {fix}.")  # fmt: skip
    st.subheader("At a glance", anchor=False)
    table = prunability_table(summary)
    table["model"] = table["model"].map(model_label)
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "unpruned": st.column_config.NumberColumn(
                format="%.4f", help=f"{metric} with no head removed"
            ),
            "at 50% pruned": st.column_config.NumberColumn(
                format="%.4f", help=f"{metric} with half of the heads removed (absolute)"
            ),
            "prunable keeping 90%": st.column_config.NumberColumn(
                format="percent",
                help="the largest % of heads pruned up to which every grid "
                "point keeps at least 90 % of the unpruned score",
            ),
            "seeds": st.column_config.NumberColumn(
                help="prune-order seeds averaged into the line (random order; 1 for a fixed order)"
            ),
        },
    )
    n = int(summary["n_examples"].max()) if summary["n_examples"].notna().any() else 0
    st.caption(f"{len(summary)} aggregated points · up to {n:,} evaluation examples per language.")


def _training_seeds(runs, *, metric: str, x_axis: str, relative: bool) -> tuple | None:
    """Where a shown line has runs of other training seeds: one caption line per such line and
    a toggle (`train_seeds=1`); on, (each seed's curve, the intervals over seeds and examples,
    relative: in % of the seed-mean unpruned score) for the curves chart to draw. Lines of one
    seed: nothing."""
    from mbp.analysis.training_seeds import relative_seed_intervals, seed_captions

    shown = runs.loc[runs["shown"], "run_id"].tolist() if len(runs) else []
    lines = common.query("training_seed_lines", run_ids=shown)
    if lines.empty:
        return None
    c1, c2 = st.columns([4.0, 1.4], vertical_alignment="center")
    c1.caption("; ".join(seed_captions(lines)))
    on = c2.toggle(
        "Training seeds", value=common.param("train_seeds", "0", ["0", "1"]) == "1",
        key="cv_train_seeds", help="draws on the chart each training seed's curve (thin, faint), "
        "their mean (open rings) and its 95 % interval resampling training seeds, then "
        "examples (needs stored outcomes)",
    )  # fmt: skip
    common.set_params(train_seeds="1" if on else None)
    if not on:
        return None
    if x_axis != "heads":
        st.caption("Training seeds are drawn against % of heads pruned only (their runs carry "
                   "no per-seed FLOPs, parameter or speed-up figures): switch the x-axis to it.")  # fmt: skip
        return None
    ids = lines["seed_run_id"].unique().tolist()
    curves = common.query("training_seed_curves", run_ids=ids, metric=metric)
    intervals = common.query("training_seed_intervals", run_ids=ids, metric=metric)
    return curves, relative_seed_intervals(intervals) if relative else intervals


def _index(options: list[str], value: str) -> int:
    return options.index(value) if value in options else 0


def _examples_param(counts: list[int]) -> int:
    """The URL's `examples` (a run's requested count): that count, else the largest stored
    count below it (a split smaller than asked stores fewer), else the largest of all."""
    raw = common.param("examples", "")
    if raw and not raw.isdigit():
        common.url_notice(f"Link: examples={raw[:20]!r} is not a number of examples: showing "
                          f"{counts[0]}.")  # fmt: skip
    if raw.isdigit():
        fitting = [n for n in counts if n <= int(raw)]
        if fitting:
            return max(fitting)
    return counts[0]


def _orders_param() -> list[str]:
    return common.param_list("orders", ORDER_CHOICES, ["importance", "reverse", "random"])


common.run_page("Pruning curves", body)
