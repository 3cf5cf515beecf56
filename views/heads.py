"""Head importance: layer x head maps per language, their difference, and rank correlations."""

from __future__ import annotations

import numpy as np
import streamlit as st

from mbp.analysis.tables import rank_correlations
from mbp.figures import model_label
from views import _common as common


def body() -> None:
    available = common.query("importance_models")
    if available.empty:
        common.empty_state(
            "No head-importance scores stored yet.",
            "mbp importance --model e5-small --task xnli --lang all",
        )
        return
    sel = common.sidebar_state()
    options = [f"{m} · {t}" for m, t in zip(available["model"], available["task"], strict=True)]
    in_sidebar = sel.first_model_among(options, with_task=True)
    c1, c2, c3, c4 = st.columns([2, 1.4, 1.4, 1.4])
    common.seed_picker("hd_run", options, in_sidebar, link=("hmodel", "htask"))
    choice = c1.selectbox("Model · task", options, key="hd_run")
    model, task = choice.split(" · ")
    estimators = list(available[available["model"].eq(model) & available["task"].eq(task)]
                      ["estimators"].iloc[0])  # fmt: skip
    est_default = common.param("est", estimators[0], estimators)
    estimator = c4.selectbox(
        "Estimator", estimators, index=estimators.index(est_default), key="hd_estimator",
        help="how each head's importance was scored on held-out examples: gradient = the mean "
        "|∂loss/∂gate| (Michel et al. 2019); fisher = the mean squared gradient (Kwon et al. 2022)",
    )  # fmt: skip
    common.set_params(hmodel=model, htask=task, est=estimator)
    pinned = common.pinned_runs("hd_runs")
    scores = common.query("head_scores", model=model, task=task, estimator=estimator,
                          pinned=pinned)  # fmt: skip
    langs = sorted(scores["lang"].unique(), key=common.lang_key)
    if not langs:
        common.empty_state(f"No {estimator} scores for {model} on {task}.",
                           f"mbp importance --model {model} --task {task} --lang all")  # fmt: skip
        return
    first = next((lang for lang in sel.langs if lang in langs), langs[0])
    first = common.param("hl", first, langs)
    lang = c2.selectbox("Language", langs, index=langs.index(first), key="hd_lang",
                        format_func=common.lang_name)  # fmt: skip
    others = [x for x in langs if x != lang]
    other = None
    if others:
        default_other = common.param("vs", "en" if lang != "en" and "en" in others else others[0],
                                     others)  # fmt: skip
        other = c3.selectbox("Compare with", others, index=others.index(default_other),
                             key="hd_other", format_func=common.lang_name)  # fmt: skip
    common.set_params(hl=lang, vs=other)

    # one scale for every language: scores as a share of the language's total importance
    shares = scores.assign(score=scores["score"] / scores.groupby("lang")["score"].transform("sum"))
    zmax = float(shares["score"].max())
    left, right = st.columns(2, gap="large")
    with left:
        fig = common.figure(
            "head_heatmap",
            shares[shares["lang"] == lang], lang=lang, zmax=zmax,
            title=f"{common.lang_name(lang)}: share of total head importance",
            value_title=["share of total", "importance"],
        )  # fmt: skip
        common.chart(fig, f"heads-{model}-{lang}")
    with right:
        if other:
            fig = common.figure(
                "head_difference_heatmap",
                scores[scores["lang"] == lang], scores[scores["lang"] == other],
                lang_a=lang, lang_b=other, zmax=zmax / 2,
                title=f"{lang} − {other}: where the two languages disagree",
            )  # fmt: skip
            common.chart(fig, f"heads-diff-{lang}-{other}")
        else:
            st.info("Score a second language to compare: "
                    f"`mbp importance --model {model} --task {task} --lang all`")  # fmt: skip
    common.run_provenance(
        common.query("chart_runs", kind="importance", task=task, models=[model],
                     langs=[x for x in (lang, other) if x], methods=[estimator], pinned=pinned),
        key="hd_runs",
    )  # fmt: skip
    st.caption(
        f"{model_label(model)} on {task}, {estimator} importance (Michel et al. 2019: expected "
        "|∂loss/∂gate| per head) on held-out examples; each map is normalised to sum to 1 so "
        "languages share one colour scale."
    )
    st.subheader("Do languages agree on which heads matter?", anchor=False)
    matrix = rank_correlations(scores, lang_order=langs)
    if matrix.empty:
        st.info("Needs head-importance scores for at least two languages.")
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        common.chart(
            common.figure(
                "rank_correlation_heatmap",
                matrix,
                title="Spearman rank correlation of head importance",
            ),
            f"heads-spearman-{model}-{task}",
        )
    with right:
        pairs = matrix.where(~np.eye(len(matrix), dtype=bool)).stack()
        if len(pairs):
            (a, b), high = pairs.idxmax(), pairs.max()
            (c, d), low = pairs.idxmin(), pairs.min()
            st.markdown(
                "Each cell ranks the heads of two languages by importance and correlates the "
                "ranks: ρ near 1 means the same heads matter in both, near 0 unrelated.\n\n"
                f"- most alike: **{a}** and **{b}** (ρ = {high:.2f})\n"
                f"- least alike: **{c}** and **{d}** (ρ = {low:.2f})"
            )


common.run_page("Head importance", body)
