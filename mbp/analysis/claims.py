"""The paper's three claims, each decided from stored results by a pure function.

Budhraja et al. (2021), "On the Prunability of Attention Heads in Multilingual BERT", claim:

1. On GLUE tasks the relative accuracy drop from pruning heads is almost the same for mBERT and
   BERT (`glue_parity`).
2. On XNLI pruning costs mBERT more than on GLUE (`xnli_costs_more`).
3. Which layers matter depends on the language: top layers for SVO languages like English,
   bottom layers for agglutinative and low-resource languages (`layers_follow_language`).

Each function takes the small frames `mbp.analysis.tables` returns and gives a `ClaimResult`
whose verdict ("supported", "not supported", "inconclusive") follows from the numbers and the
thresholds below; nothing is typed by hand. In the offline setting the models are stand-ins
(minilm-l6 for BERT, e5-small for mBERT), so a verdict holds "on these data" only.

    python -c "from mbp.store import ResultsStore; from mbp.analysis.claims import evaluate_claims;
    [print(c.verdict, c.explanation) for c in evaluate_claims(ResultsStore())]"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Verdict = Literal["supported", "not supported", "inconclusive"]

#: Claims 1-2 compare curves where a pruned model is still usable (0 < fraction <= this): past
#: it every task falls towards chance, and chance differs between 2- and 3-class tasks.
MAX_FRACTION = 0.5
#: Claim 1: mean |relative drop difference| (fraction of the unpruned score) at or below which
#: the two models count as "almost identical", and above which they clearly differ.
PARITY_TOLERANCE = 0.05
PARITY_DIFFERENT_ABOVE = 0.10
#: Claim 2: XNLI's mean relative drop must exceed GLUE's by at least this much.
XNLI_MARGIN = 0.02
#: Claim 3: |Spearman rho| and group-mean differences (points) that count as an effect.
RHO_EFFECT = 0.3
GROUP_EFFECT_POINTS = 1.0
MIN_LANGUAGES = 4
MIN_POINTS = 3
#: Orders tried in turn: the paper prunes by importance; the random mean is the fallback.
ORDER_PREFERENCE = ("importance", "random")

MONOLINGUAL_CANDIDATES = ("bert-base-cased", "minilm-l6")
MULTILINGUAL_CANDIDATES = ("bert-base-multilingual-cased", "e5-small", "xlm-roberta-base")


@dataclass(frozen=True)
class GroupTest:
    """One test of claim 3: its effect, the direction the claim predicts, and the outcome."""

    name: str
    effect: float | None
    unit: str
    outcome: Literal["agrees", "contradicts", "no clear effect", "not testable"]
    detail: str
    p_value: float | None = None


@dataclass(frozen=True, eq=False)
class ClaimResult:
    """A claim, its verdict on the stored data, the numbers behind it and what it used."""

    number: int
    claim: str
    verdict: Verdict
    explanation: str
    statistic: str
    value: float | None
    threshold: str
    numbers: dict[str, Any] = field(default_factory=dict)
    used: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    tests: tuple[GroupTest, ...] = ()
    protocol: str = "posthoc"  # which runs it was decided on (mbp.engine.names.PROTOCOLS)

    @property
    def headline(self) -> str:
        return f"{self.verdict} on these data"


@dataclass(frozen=True)
class ModelPair:
    """Which stored model plays BERT (monolingual) and which plays mBERT (multilingual)."""

    bert: str | None
    mbert: str | None


def default_pair(models: Sequence[str]) -> ModelPair:
    """The paper's models when stored, else the offline stand-ins, else registry language info."""
    present = list(dict.fromkeys(models))

    def first(candidates: Sequence[str], multilingual: bool) -> str | None:
        for name in candidates:
            if name in present:
                return name
        for name in present:
            if _is_multilingual(name) == multilingual:
                return name
        return None

    return ModelPair(first(MONOLINGUAL_CANDIDATES, False), first(MULTILINGUAL_CANDIDATES, True))


def _is_multilingual(name: str) -> bool:
    from mbp.models.registry import find_model

    info = find_model(name)
    return info is not None and info.languages != ("en",)


def relative_drops(curves: pd.DataFrame) -> pd.DataFrame:
    """Add `relative_drop` = 1 - mean / base (the share of the unpruned score lost)."""
    out = curves.copy()
    base = out["base"].where(out["base"].abs() > 1e-12)
    out["relative_drop"] = 1.0 - out["mean"] / base
    return out


def _pick_order(curves: pd.DataFrame, models: Sequence[str]) -> str | None:
    for order in ORDER_PREFERENCE:
        have = curves[curves["order_name"] == order]["model"].unique()
        if all(m in have for m in models):
            return order
    return None


def _in_range(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["fraction"] > 1e-9) & (frame["fraction"] <= MAX_FRACTION + 1e-9)]


def _examples(frame: pd.DataFrame) -> dict[str, int]:
    if frame.empty or "n_examples" not in frame:
        return {}
    grouped = frame.groupby(["model", "task", "lang"])["n_examples"].max()
    return {" / ".join(map(str, key)): int(v) for key, v in grouped.items() if pd.notna(v)}


def _inconclusive(number: int, claim: str, why: str, statistic: str, threshold: str,
                  used: dict[str, Any] | None = None) -> ClaimResult:  # fmt: skip
    return ClaimResult(number, claim, "inconclusive", why, statistic, None, threshold,
                       used=used or {})  # fmt: skip


# ----------------------------------------------------------------------------- claim 1

CLAIM_1 = (
    "On GLUE tasks, the relative accuracy drop from pruning attention heads is almost the same "
    "for mBERT as for BERT."
)


def glue_parity(curves: pd.DataFrame, pair: ModelPair) -> ClaimResult:
    """Claim 1 from `curve_summary` rows (primary metric per task, lang en).

    Statistic: mean over GLUE tasks and fractions (0 < f <= MAX_FRACTION) of
    |relative drop(mBERT stand-in) - relative drop(BERT stand-in)|.
    Supported if <= PARITY_TOLERANCE, not supported if > PARITY_DIFFERENT_ABOVE.
    """
    statistic = "mean |Δ relative drop| (mBERT − BERT)"
    threshold = (
        f"supported if ≤ {PARITY_TOLERANCE:.0%}, not supported if > {PARITY_DIFFERENT_ABOVE:.0%} "
        f"(fractions 0 < f ≤ {MAX_FRACTION:.0%})"
    )
    if pair.bert is None or pair.mbert is None:
        why = "needs GLUE pruning curves of a monolingual and a multilingual model"
        return _inconclusive(1, CLAIM_1, why, statistic, threshold)
    glue = curves[(curves["task"] != "xnli") & (curves["lang"] == "en")]
    glue = glue[glue["model"].isin([pair.bert, pair.mbert])]
    order = _pick_order(glue, [pair.bert, pair.mbert])
    used: dict[str, Any] = {"models": {"BERT stand-in": pair.bert, "mBERT stand-in": pair.mbert}}
    if order is None:
        why = (f"no GLUE task has curves of one order for both {pair.bert} and {pair.mbert}: "
               f"run `mbp sweep --task sst2 --order importance` for each")  # fmt: skip
        return _inconclusive(1, CLAIM_1, why, statistic, threshold, used)
    rel = relative_drops(_in_range(glue[glue["order_name"] == order]))
    wide = rel.pivot_table(index=["task", "fraction"], columns="model", values="relative_drop")
    wide = wide.dropna(subset=[c for c in (pair.bert, pair.mbert) if c in wide.columns])
    if pair.bert not in wide.columns or pair.mbert not in wide.columns or len(wide) < MIN_POINTS:
        why = (f"fewer than {MIN_POINTS} matched (task, fraction) points for {pair.bert} and "
               f"{pair.mbert} with 0 < f ≤ {MAX_FRACTION:.0%}")  # fmt: skip
        return _inconclusive(1, CLAIM_1, why, statistic, threshold, used)
    diff = (wide[pair.mbert] - wide[pair.bert]).abs()
    value = float(diff.mean())
    tasks = sorted(wide.index.get_level_values("task").unique())
    per_task = diff.groupby(level="task").mean()
    if value <= PARITY_TOLERANCE:
        verdict: Verdict = "supported"
    elif value > PARITY_DIFFERENT_ABOVE:
        verdict = "not supported"
    else:
        verdict = "inconclusive"
    worst = per_task.idxmax()
    explanation = (
        f"Over {len(tasks)} GLUE task(s) ({', '.join(tasks)}) and {len(wide)} matched pruning "
        f"levels ({order} order), the relative drops of {pair.mbert} and {pair.bert} differ by "
        f"{value:.1%} on average (largest on {worst}: {per_task.max():.1%}); the threshold for "
        f"'almost the same' is {PARITY_TOLERANCE:.0%}."
    )
    table = rel[["model", "task", "fraction", "relative_drop", "mean", "base", "heads_pruned"]]
    used.update(
        {"order": order, "tasks": tasks, "languages": ["en"], "examples": _examples(rel),
         "fractions": sorted(wide.index.get_level_values("fraction").unique().tolist())}
    )  # fmt: skip
    numbers = {
        "mean |Δ|": value,
        "max |Δ|": float(diff.max()),
        **{f"mean |Δ| {task}": float(v) for task, v in per_task.items()},
        "matched points": len(wide),
    }
    return ClaimResult(1, CLAIM_1, verdict, explanation, statistic, value, threshold, numbers,
                       used, table.reset_index(drop=True))  # fmt: skip


# ----------------------------------------------------------------------------- claim 2

CLAIM_2 = "On XNLI, pruning attention heads costs mBERT more accuracy than on GLUE tasks."


def xnli_costs_more(curves: pd.DataFrame, pair: ModelPair) -> ClaimResult:
    """Claim 2 for the mBERT stand-in: XNLI relative drop (mean over languages) minus GLUE
    relative drop (mean over tasks), averaged over matched fractions 0 < f <= MAX_FRACTION.

    Supported if >= XNLI_MARGIN, not supported if <= 0, inconclusive in between.
    """
    statistic = "mean (XNLI − GLUE) relative drop"
    threshold = (
        f"supported if ≥ +{XNLI_MARGIN:.0%}, not supported if ≤ 0 "
        f"(fractions 0 < f ≤ {MAX_FRACTION:.0%})"
    )
    model = pair.mbert
    if model is None:
        return _inconclusive(2, CLAIM_2, "needs a multilingual model's curves", statistic,
                             threshold)  # fmt: skip
    mine = curves[curves["model"] == model]
    order = _pick_order(mine, [model])
    used: dict[str, Any] = {"models": {"mBERT stand-in": model}}
    xnli = mine[(mine["task"] == "xnli") & (mine["order_name"] == order)]
    glue = mine[(mine["task"] != "xnli") & (mine["order_name"] == order) & (mine["lang"] == "en")]
    if order is None or xnli.empty or glue.empty:
        why = (f"needs {model}'s curves on XNLI and on at least one GLUE task: run `mbp sweep "
               f"--model {model} --task xnli --lang all` and `--task sst2`")  # fmt: skip
        return _inconclusive(2, CLAIM_2, why, statistic, threshold, used)
    x = relative_drops(_in_range(xnli))
    g = relative_drops(_in_range(glue))
    x_mean = x.groupby("fraction")["relative_drop"].mean()
    g_mean = g.groupby("fraction")["relative_drop"].mean()
    matched = pd.concat({"xnli": x_mean, "glue": g_mean}, axis=1).dropna()
    if len(matched) < 2:
        why = f"fewer than 2 matched pruning levels with 0 < f ≤ {MAX_FRACTION:.0%}"
        return _inconclusive(2, CLAIM_2, why, statistic, threshold, used)
    gap = matched["xnli"] - matched["glue"]
    value = float(gap.mean())
    share = float((gap > 0).mean())
    if value >= XNLI_MARGIN:
        verdict: Verdict = "supported"
    elif value <= 0:
        verdict = "not supported"
    else:
        verdict = "inconclusive"
    langs = sorted(x["lang"].unique())
    tasks = sorted(g["task"].unique())
    explanation = (
        f"At {len(matched)} matched pruning levels ({order} order), {model} loses "
        f"{matched['xnli'].mean():.1%} of its unpruned XNLI accuracy (mean of {len(langs)} "
        f"language(s)) vs {matched['glue'].mean():.1%} on GLUE ({', '.join(tasks)}): a gap of "
        f"{value:+.1%}, XNLI costlier at {share:.0%} of the levels."
    )
    per_lang = x.groupby("lang")["relative_drop"].mean()
    table = pd.concat(
        [
            x.assign(series="XNLI " + x["lang"]),
            g.assign(series="GLUE " + g["task"]),
        ]
    )[["series", "task", "lang", "fraction", "relative_drop", "mean", "base"]]
    used.update({"order": order, "tasks": ["xnli", *tasks], "languages": langs,
                 "examples": _examples(pd.concat([x, g])),
                 "fractions": matched.index.tolist()})  # fmt: skip
    numbers = {
        "mean gap (XNLI − GLUE)": value,
        "XNLI mean relative drop": float(matched["xnli"].mean()),
        "GLUE mean relative drop": float(matched["glue"].mean()),
        "share of levels where XNLI is costlier": share,
        **{f"XNLI {lang} mean relative drop": float(v) for lang, v in per_lang.items()},
    }
    return ClaimResult(2, CLAIM_2, verdict, explanation, statistic, value, threshold, numbers,
                       used, table.reset_index(drop=True))  # fmt: skip


# ----------------------------------------------------------------------------- claim 3

CLAIM_3 = (
    "Which layers matter depends on the language: top layers for SVO languages like English, "
    "bottom layers for agglutinative and low-resource languages."
)


def _mean_gap(frame: pd.DataFrame, mask: pd.Series, name: str, detail: str) -> GroupTest:
    inside, outside = frame.loc[mask, "reliance"], frame.loc[~mask, "reliance"]
    if inside.empty or outside.empty:
        return GroupTest(name, None, "points", "not testable", f"{detail}: one group is empty")
    effect = float(inside.mean() - outside.mean())
    p_value = None
    if len(inside) >= 2 and len(outside) >= 2:
        from scipy.stats import mannwhitneyu

        p_value = float(mannwhitneyu(inside, outside, alternative="two-sided").pvalue)
    outcome = (
        "agrees" if effect >= GROUP_EFFECT_POINTS
        else "contradicts" if effect <= -GROUP_EFFECT_POINTS
        else "no clear effect"
    )  # fmt: skip
    text = f"{detail}: {effect:+.2f} points ({len(inside)} vs {len(outside)} languages)"
    return GroupTest(name, effect, "points", outcome, text, p_value)


def layers_follow_language(reliance: pd.DataFrame, languages: pd.DataFrame,
                           model: str | None = None) -> ClaimResult:  # fmt: skip
    """Claim 3 from per-language reliance on bottom layers (`dashboard_data.group_reliance`:
    reliance = drop(bottom third) - drop(top third), in points) and language metadata
    (`dashboard_data.language_table`: word_order, morphology, wiki_articles).

    Three tests, each predicting higher reliance (bottom layers matter more) for:
    fewer Wikipedia articles (Spearman rho <= -RHO_EFFECT), agglutinative morphology, and
    non-SVO word order (group mean gaps >= GROUP_EFFECT_POINTS). Supported when at least two
    tests agree and none contradicts; not supported when two contradict (or one does and none
    agrees); otherwise inconclusive. Needs MIN_LANGUAGES languages.
    """
    statistic = "tests agreeing with the claim"
    threshold = (
        f"|ρ| ≥ {RHO_EFFECT} for size; group gaps ≥ {GROUP_EFFECT_POINTS:g} point(s); supported "
        "if ≥ 2 tests agree and none contradicts"
    )
    data = reliance.dropna(subset=["reliance"]).merge(
        languages.reset_index(drop=True), on="lang", how="inner"
    )
    used: dict[str, Any] = {"models": {"mBERT stand-in": model} if model else {},
                            "languages": sorted(data["lang"].tolist())}  # fmt: skip
    if len(data) < MIN_LANGUAGES:
        why = (f"needs layer-wise results for at least {MIN_LANGUAGES} XNLI languages "
               f"(has {len(data)}): run `mbp layers --task xnli --lang all`")  # fmt: skip
        return _inconclusive(3, CLAIM_3, why, statistic, threshold, used)
    from scipy.stats import spearmanr

    rho, p_rho = spearmanr(np.log10(data["wiki_articles"].astype(float)), data["reliance"])
    rho = float(rho) if np.isfinite(rho) else 0.0
    size = GroupTest(
        "pre-training size",
        rho,
        "Spearman ρ",
        "agrees"
        if rho <= -RHO_EFFECT
        else "contradicts"
        if rho >= RHO_EFFECT
        else "no clear effect",
        f"ρ(reliance, log Wikipedia articles) = {rho:+.2f} over {len(data)} languages "
        "(the claim predicts < 0)",
        float(p_rho) if np.isfinite(p_rho) else None,
    )
    morph = _mean_gap(data, data["morphology"] == "agglutinative", "morphology",
                      "agglutinative minus other languages")  # fmt: skip
    order = _mean_gap(data, data["word_order"] != "SVO", "word order",
                      "non-SVO minus SVO languages")  # fmt: skip
    tests = [size, morph, order]
    agree = sum(t.outcome == "agrees" for t in tests)
    contra = sum(t.outcome == "contradicts" for t in tests)
    if agree >= 2 and contra == 0:
        verdict: Verdict = "supported"
    elif contra >= 2 or (contra >= 1 and agree == 0):
        verdict = "not supported"
    else:
        verdict = "inconclusive"
    top = data.sort_values("reliance", ascending=False)
    k = min(3, len(data) // 2)
    significant = [t.name for t in tests if t.p_value is not None and t.p_value < 0.05]
    top_heavy = int((data["reliance"] < 0).sum())
    explanation = (
        f"{agree} of 3 tests agree with the claim and {contra} contradict it, over "
        f"{len(data)} languages. Most reliant on bottom layers: "
        f"{', '.join(top['lang'].head(k))}; most on top layers: "
        f"{', '.join(top['lang'].tail(k).iloc[::-1])}. In absolute terms, removing the top "
        f"third costs more than removing the bottom third in {top_heavy} of {len(data)} "
        "languages; the claim is read as a trend across languages. "
        + (
            f"Significant at p < 0.05: {', '.join(significant)}; the verdict rests on effect "
            "sizes, not on significance."
            if significant
            else "None of the three effects is significant at p < 0.05 with this many "
            "languages: the verdict rests on effect sizes, not on significance."
        )
    )
    numbers: dict[str, Any] = {t.name: t.effect for t in tests}
    numbers.update({f"{t.name} outcome": t.outcome for t in tests})
    numbers.update({f"{t.name} p-value": t.p_value for t in tests if t.p_value is not None})
    used["examples"] = (
        {str(k): int(v) for k, v in data.set_index("lang")["n_examples"].items()}
        if "n_examples" in data
        else {}
    )
    table = data[["lang", "reliance", "bottom", "middle", "top", "wiki_articles", "word_order",
                  "morphology", "family"]].copy()  # fmt: skip
    return ClaimResult(3, CLAIM_3, verdict, explanation, statistic, float(agree), threshold,
                       numbers, used, table.reset_index(drop=True), tuple(tests))  # fmt: skip


# ----------------------------------------------------------------------------- all three


def evaluate_claims_from(
    curves: pd.DataFrame,
    drops: pd.DataFrame | None,
    languages: pd.DataFrame,
    pair: ModelPair,
    protocol: str = "posthoc",
) -> list[ClaimResult]:
    """All three claims from already-queried frames of one protocol: `curve_summary()` of every
    model and task, `layer_drops()` of the mBERT stand-in on XNLI (or None), `language_table()`."""
    from dataclasses import replace

    from mbp.analysis.tables import group_reliance

    results = [glue_parity(curves, pair), xnli_costs_more(curves, pair)]
    reliance = group_reliance(drops if drops is not None and len(drops) else _NO_DROPS)
    results.append(layers_follow_language(reliance, languages, pair.mbert))
    return [replace(r, protocol=protocol) for r in results]


def evaluate_claims(
    store: Any, pair: ModelPair | None = None, protocol: str = "posthoc"
) -> list[ClaimResult]:
    """All three claims from a `ResultsStore` under one protocol (queries via
    `mbp.analysis.tables`)."""
    from mbp.analysis import tables as data

    curves = data.curve_summary(store, protocol=protocol)
    models = set(curves["model"].unique().tolist()) if len(curves) else set()
    layers = data.layer_models(store, protocol=protocol)
    if len(layers):  # layer-wise runs alone can decide claim 3
        models |= set(layers["model"].unique().tolist())
    pair = pair or default_pair(sorted(models))
    drops = (
        data.layer_drops(store, model=pair.mbert, task="xnli", protocol=protocol)
        if pair.mbert
        else None
    )
    return evaluate_claims_from(curves, drops, data.language_table(), pair, protocol)


def evaluate_both(store: Any, pair: ModelPair | None = None) -> dict[str, list[ClaimResult]]:
    """The claims under each protocol with stored runs, the paper's (retrain) first."""
    from mbp.analysis.tables import protocols

    return {p: evaluate_claims(store, pair, p) for p in protocols(store) or ["posthoc"]}


_NO_DROPS = pd.DataFrame(columns=["lang", "target", "drop", "base_value", "n_examples"])
