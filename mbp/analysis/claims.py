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

Uncertainty: given the same frames recomputed on resampled examples (`mbp.analysis.resampled`,
a `draw` column), each claim recomputes its statistic on every draw with the code that computes
it once (the point estimate is draw POINT), and its 95 % interval must clear the threshold of a
verdict for the verdict to stand; otherwise the claim is "inconclusive" and says why. Claims
resting on runs without stored outcomes keep their point verdict and say they have no interval.
A run with stored runs of other training seeds (`training_seeds.seed_siblings`) is resampled over
the seeds, then the examples within each, and its point (draw POINT) is the mean over the seeds;
`ClaimResult.training_seeds` says how many, and the texts say so.

    python -c "from mbp.store import ResultsStore; from mbp.analysis.claims import evaluate_claims;
    [print(c.verdict, c.explanation) for c in evaluate_claims(ResultsStore())]"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mbp.analysis.bootstrap import LEVEL, POINT, Interval, percentile_interval

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

NO_OUTCOMES = (
    "no interval: the runs behind it predate per-example outcomes "
    "(`mbp precompute --backfill-outcomes` adds them)"
)
NO_POINT_INTERVALS = (
    "no per-point intervals: the runs behind them predate per-example outcomes "
    "(`mbp precompute --backfill-outcomes` adds them)"
)
#: the table column holding each point's interval, by claim (claims 1-2 per fraction, 3 per language)
POINT_INTERVAL = {1: "relative_drop", 2: "relative_drop", 3: "reliance"}
CURVE_KEYS = ["model", "task", "lang", "order_name", "fraction"]

#: Which values of a claim's statistic give which verdict: one definition for the point
#: estimate and for its interval (a verdict stands when its rule holds at both ends).
Rules = dict[str, Callable[[float], bool]]
PARITY_RULES: Rules = {
    "supported": lambda v: v <= PARITY_TOLERANCE,
    "not supported": lambda v: v > PARITY_DIFFERENT_ABOVE,
}
XNLI_RULES: Rules = {"supported": lambda v: v >= XNLI_MARGIN, "not supported": lambda v: v <= 0}


@dataclass(frozen=True)
class GroupTest:
    """One test of claim 3: its effect, the direction the claim predicts, and the outcome."""

    name: str
    effect: float | None
    unit: str
    outcome: Literal["agrees", "contradicts", "no clear effect", "not testable"]
    detail: str
    p_value: float | None = None
    low: float | None = None  # the effect's interval over resampled examples (None: none)
    high: float | None = None


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
    interval: Interval | None = None  # the statistic's interval over resampled examples
    draws: int = 0  # resamples behind `interval`
    point_verdict: Verdict | None = None  # the verdict of the point estimate alone
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)  # claim 3: shares per language
    value_format: str = ".1%"
    training_seeds: tuple[int, ...] = ()  # fine-tune seeds per curve behind `interval` (() or 1)
    # The statistic is a mean of absolute values, which resampling noise can only raise, so its
    # interval leans high: `uncertainty` says so (absolute_gap_note). Set where it is computed.
    absolute_mean: bool = False

    @property
    def headline(self) -> str:
        return f"{self.verdict} on these data"

    @property
    def uncertainty(self) -> str:
        """The statistic's interval in words, or why it has none (the page and the report)."""
        if self.value is None:
            return "no interval: no statistic to resample"
        if self.interval is None:
            return NO_OUTCOMES
        iv, f = self.interval, self.value_format
        return (f"{iv.level:.0%} interval {iv.low:{f}} to {iv.high:{f}} over {self.draws:,} "
                f"paired resamples of {resampled_units(self.training_seeds)}"
                f"{absolute_gap_note(self.value, iv, f) if self.absolute_mean else ''}")  # fmt: skip

    @property
    def point_uncertainty(self) -> str:
        """Whether each point of `table` (claims 1-2: a relative drop at one fraction; claim 3:
        a language's reliance) carries its interval, in words (the page and the report)."""
        column = f"{POINT_INTERVAL.get(self.number, '')}_low"
        if self.table.empty or column not in self.table:
            return ""
        known = self.table[column].notna()
        if known.all():
            return (f"each point with its {LEVEL:.0%} interval over the same paired resamples "
                    f"of {resampled_units(self.training_seeds)} as the statistic")  # fmt: skip
        if not known.any():
            return NO_POINT_INTERVALS
        return (f"{int((~known).sum())} of {len(known)} points have no interval: their runs "
                "predate per-example outcomes")  # fmt: skip

    @property
    def interval_short(self) -> str:
        if self.interval is None:
            return "no interval"
        iv, f = self.interval, self.value_format
        return f"{iv.level:.0%} interval [{iv.low:{f}}, {iv.high:{f}}]"


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


def _matched(point_rows: pd.DataFrame, draws: pd.DataFrame | None, keys: list[str]
             ) -> pd.DataFrame | None:  # fmt: skip
    """The resampled rows of exactly the series `point_rows` holds, or None when any of them
    has no stored outcomes: an interval over part of the data would be another statistic's."""
    if draws is None or draws.empty or point_rows.empty:
        return None
    need = point_rows[keys].drop_duplicates()
    found = need.merge(draws[keys].drop_duplicates(), on=keys)
    return draws.merge(need, on=keys) if len(found) == len(need) else None


def _point_intervals(rel: pd.DataFrame, draws: pd.DataFrame | None) -> pd.DataFrame:
    """`rel` (`relative_drops` rows) with relative_drop_low / relative_drop_high: each point's
    interval over the resamples in `draws` (`resampled.curve_draws`, the claim's own), in the
    units of relative_drop; NaN for a point whose runs have no outcomes."""
    from mbp.analysis.resampled import draw_intervals

    out = rel.drop(columns=["relative_drop_low", "relative_drop_high"], errors="ignore")
    mine = None if draws is None or draws.empty else draws.merge(
        rel[CURVE_KEYS].drop_duplicates(), on=CURVE_KEYS)  # fmt: skip
    if mine is None or mine.empty:
        return out.assign(relative_drop_low=np.nan, relative_drop_high=np.nan)
    bounds = draw_intervals(relative_drops(mine), CURVE_KEYS, "relative_drop")
    return out.merge(bounds, on=CURVE_KEYS, how="left")


def absolute_gap_note(value: float, iv: Interval, fmt: str) -> str:
    """A mean of absolute gaps (claim 1's statistic) is one resampling noise can only raise: its
    resampled values lie above the value on all examples, so the percentile interval leans high
    (conservative for "supported"). Said when the value sits at the interval's lower end."""
    if value > iv.low + 0.05 * (iv.high - iv.low):
        return ""
    return (f"; the value on all examples ({value:{fmt}}) sits at its lower end because "
            "resampling noise can only raise a mean of absolute gaps, so the interval leans "
            "high (conservative for 'supported')")  # fmt: skip


def _point_verdict(value: float, rules: Rules) -> Verdict:
    for verdict in ("supported", "not supported"):
        if rules[verdict](value):
            return verdict  # type: ignore[return-value]
    return "inconclusive"


def _judge(value: float, samples: pd.Series | None, rules: Rules, fmt: str = ".1%",
           seeds: tuple[int, ...] = ()
           ) -> tuple[Verdict, Verdict, Interval | None, str]:  # fmt: skip
    """(verdict, point verdict, interval, why they differ): a verdict stands only when its rule
    holds over the whole interval of the statistic's resampled values (`samples`, per draw)."""
    point = _point_verdict(value, rules)
    if samples is None or samples.empty:
        return point, point, None, ""
    iv = percentile_interval(samples.to_numpy(), value)
    if point == "inconclusive" or (rules[point](iv.low) and rules[point](iv.high)):
        return point, point, iv, ""
    why = (
        f" Inconclusive under resampling: the point value {value:{fmt}} alone would make it "
        f"{point}, but its {iv.level:.0%} interval over {resampled_units(seeds)} "
        f"({iv.low:{fmt}} to {iv.high:{fmt}}) does not clear that threshold, so the difference "
        f"is within the noise of which {_noise_of(seeds)}."
    )
    return "inconclusive", point, iv, why


def _resample_of(seeds: tuple[int, ...]) -> str:
    return "the examples" if max(seeds, default=1) <= 1 else "the training seeds and examples"


def _noise_of(seeds: tuple[int, ...]) -> str:
    if max(seeds, default=1) <= 1:
        return "examples were evaluated"
    return "fine-tunes and examples were evaluated"


def _n_draws(samples: pd.Series | None) -> int:
    return 0 if samples is None else len(samples)


def _seed_counts(draws: pd.DataFrame | None) -> tuple[int, ...]:
    """The training seeds per curve (or language) behind `draws`; () where it does not say."""
    if draws is None or "training_seeds" not in draws or draws.empty:
        return ()
    return tuple(sorted({int(v) for v in draws["training_seeds"].dropna()}))


def resampled_units(seeds: tuple[int, ...]) -> str:
    """What a claim's resamples draw: the examples, and the training seeds where there are
    several (`ClaimResult.training_seeds`)."""
    if max(seeds, default=1) <= 1:
        return "the evaluated examples"
    per = "" if len(seeds) == 1 else " per curve"
    return f"{_span(seeds)} training seeds{per} and the evaluated examples within each"


def _span(seeds: tuple[int, ...]) -> str:
    return f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"


def _seeds_sentence(seeds: tuple[int, ...]) -> str:
    """The explanation's word on training seeds (empty for curves of one fine-tune)."""
    if max(seeds, default=1) <= 1:
        return ""
    return (f" Each value is the mean over {_span(seeds)} training seeds (fine-tunes of the "
            "same recipe), and the interval resamples the seeds, then the examples within "
            "each.")  # fmt: skip


# ----------------------------------------------------------------------------- claim 1

CLAIM_1 = (
    "On GLUE tasks, the relative accuracy drop from pruning attention heads is almost the same "
    "for mBERT as for BERT."
)


def _parity_gaps(rel: pd.DataFrame, pair: ModelPair) -> pd.Series:
    """|relative drop(mBERT) - relative drop(BERT)| per (draw, task, fraction) both have."""
    wide = rel.pivot_table(index=["draw", "task", "fraction"], columns="model",
                           values="relative_drop")  # fmt: skip
    if pair.bert not in wide.columns or pair.mbert not in wide.columns:
        return pd.Series(dtype=float)
    wide = wide.dropna(subset=[pair.bert, pair.mbert])
    return (wide[pair.mbert] - wide[pair.bert]).abs()


def _per_draw(gaps: pd.Series | None, points: int) -> pd.Series | None:
    """A statistic's mean per resample, or None unless every draw has all `points`."""
    if gaps is None or gaps.empty:
        return None
    sizes = gaps.groupby(level="draw").size()
    return gaps.groupby(level="draw").mean() if (sizes == points).all() else None


def glue_parity(curves: pd.DataFrame, pair: ModelPair,
                draws: pd.DataFrame | None = None) -> ClaimResult:  # fmt: skip
    """Claim 1 from `curve_summary` rows (primary metric per task, lang en).

    Statistic: mean over GLUE tasks and fractions (0 < f <= MAX_FRACTION) of
    |relative drop(mBERT stand-in) - relative drop(BERT stand-in)|.
    Supported if <= PARITY_TOLERANCE, not supported if > PARITY_DIFFERENT_ABOVE (PARITY_RULES);
    with `draws` (`resampled.curve_draws`) the interval must clear the threshold too.
    """
    statistic = "mean |Δ relative drop| (mBERT − BERT)"
    threshold = (
        f"supported if ≤ {PARITY_TOLERANCE:.0%}, not supported if > {PARITY_DIFFERENT_ABOVE:.0%} "
        f"(fractions 0 < f ≤ {MAX_FRACTION:.0%}); with per-example outcomes, the "
        f"{LEVEL:.0%} interval must clear the threshold"
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
    rows = _in_range(glue[glue["order_name"] == order])
    rel = relative_drops(rows)
    diff = _parity_gaps(rel.assign(draw=POINT), pair)
    diff = diff.droplevel("draw") if len(diff) else diff
    if len(diff) < MIN_POINTS:
        why = (f"fewer than {MIN_POINTS} matched (task, fraction) points for {pair.bert} and "
               f"{pair.mbert} with 0 < f ≤ {MAX_FRACTION:.0%}")  # fmt: skip
        return _inconclusive(1, CLAIM_1, why, statistic, threshold, used)
    value = float(diff.mean())
    resampled = _matched(rows, draws, CURVE_KEYS)
    samples = _per_draw(
        None if resampled is None else _parity_gaps(relative_drops(resampled), pair), len(diff)
    )
    seeds = _seed_counts(resampled) if samples is not None else ()
    verdict, point, interval, why = _judge(value, samples, PARITY_RULES, seeds=seeds)
    tasks = sorted(diff.index.get_level_values("task").unique())
    per_task = diff.groupby(level="task").mean()
    worst = per_task.idxmax()
    explanation = (
        f"Over {len(tasks)} GLUE task(s) ({', '.join(tasks)}) and {len(diff)} matched pruning "
        f"levels ({order} order), the relative drops of {pair.mbert} and {pair.bert} differ by "
        f"{value:.1%} on average (largest on {worst}: {per_task.max():.1%}); the threshold for "
        f"'almost the same' is {PARITY_TOLERANCE:.0%}." + _seeds_sentence(seeds) + why
    )
    table = _point_intervals(rel, draws)[["model", "task", "fraction", "relative_drop",
                                          "relative_drop_low", "relative_drop_high", "mean",
                                          "base", "heads_pruned"]]  # fmt: skip
    used.update(
        {"order": order, "tasks": tasks, "languages": ["en"], "examples": _examples(rel),
         "fractions": sorted(diff.index.get_level_values("fraction").unique().tolist())}
    )  # fmt: skip
    numbers = {
        "mean |Δ|": value,
        "max |Δ|": float(diff.max()),
        **{f"mean |Δ| {task}": float(v) for task, v in per_task.items()},
        "matched points": len(diff),
    }
    return ClaimResult(1, CLAIM_1, verdict, explanation, statistic, value, threshold, numbers,
                       used, table.reset_index(drop=True), interval=interval,
                       draws=_n_draws(samples), point_verdict=point,
                       training_seeds=seeds, absolute_mean=True)  # fmt: skip


# ----------------------------------------------------------------------------- claim 2

CLAIM_2 = "On XNLI, pruning attention heads costs mBERT more accuracy than on GLUE tasks."


def _xnli_vs_glue(x: pd.DataFrame, g: pd.DataFrame) -> pd.DataFrame:
    """Per (draw, fraction) both have: XNLI's relative drop (mean over languages) and GLUE's
    (mean over tasks)."""
    x_mean = x.groupby(["draw", "fraction"])["relative_drop"].mean()
    g_mean = g.groupby(["draw", "fraction"])["relative_drop"].mean()
    return pd.concat({"xnli": x_mean, "glue": g_mean}, axis=1).dropna()


def xnli_costs_more(curves: pd.DataFrame, pair: ModelPair,
                    draws: pd.DataFrame | None = None) -> ClaimResult:  # fmt: skip
    """Claim 2 for the mBERT stand-in: XNLI relative drop (mean over languages) minus GLUE
    relative drop (mean over tasks), averaged over matched fractions 0 < f <= MAX_FRACTION.

    Supported if >= XNLI_MARGIN, not supported if <= 0, inconclusive in between (XNLI_RULES);
    with `draws` (`resampled.curve_draws`) the interval must clear the threshold too.
    """
    statistic = "mean (XNLI − GLUE) relative drop"
    threshold = (
        f"supported if ≥ +{XNLI_MARGIN:.0%}, not supported if ≤ 0 "
        f"(fractions 0 < f ≤ {MAX_FRACTION:.0%}); with per-example outcomes, the "
        f"{LEVEL:.0%} interval must clear the threshold"
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
    x_rows, g_rows = _in_range(xnli), _in_range(glue)
    x = relative_drops(x_rows)
    g = relative_drops(g_rows)
    matched = _xnli_vs_glue(x.assign(draw=POINT), g.assign(draw=POINT)).droplevel("draw")
    if len(matched) < 2:
        why = f"fewer than 2 matched pruning levels with 0 < f ≤ {MAX_FRACTION:.0%}"
        return _inconclusive(2, CLAIM_2, why, statistic, threshold, used)
    gap = matched["xnli"] - matched["glue"]
    value = float(gap.mean())
    share = float((gap > 0).mean())
    resampled = _matched(pd.concat([x_rows, g_rows]), draws, CURVE_KEYS)
    samples = None
    if resampled is not None:
        rel = relative_drops(resampled)
        per = _xnli_vs_glue(rel[rel["task"] == "xnli"], rel[rel["task"] != "xnli"])
        samples = _per_draw(per["xnli"] - per["glue"], len(matched))
    seeds = _seed_counts(resampled) if samples is not None else ()
    verdict, point, interval, why = _judge(value, samples, XNLI_RULES, seeds=seeds)
    langs = sorted(x["lang"].unique())
    tasks = sorted(g["task"].unique())
    explanation = (
        f"At {len(matched)} matched pruning levels ({order} order), {model} loses "
        f"{matched['xnli'].mean():.1%} of its unpruned XNLI accuracy (mean of {len(langs)} "
        f"language(s)) vs {matched['glue'].mean():.1%} on GLUE ({', '.join(tasks)}): a gap of "
        f"{value:+.1%}, XNLI costlier at {share:.0%} of the levels." + _seeds_sentence(seeds) + why
    )
    per_lang = x.groupby("lang")["relative_drop"].mean()
    table = _point_intervals(
        pd.concat([x.assign(series="XNLI " + x["lang"]), g.assign(series="GLUE " + g["task"])]),
        draws,
    )[["series", "task", "lang", "fraction", "relative_drop", "relative_drop_low",
       "relative_drop_high", "mean", "base"]]  # fmt: skip
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
                       used, table.reset_index(drop=True), interval=interval,
                       draws=_n_draws(samples), point_verdict=point,
                       training_seeds=seeds)  # fmt: skip


# ----------------------------------------------------------------------------- claim 3

CLAIM_3 = (
    "Which layers matter depends on the language: top layers for SVO languages like English, "
    "bottom layers for agglutinative and low-resource languages."
)


TESTS = ("pre-training size", "morphology", "word order")
BOTTOM_RELIANT, TOP_RELIANT = "bottom-reliant", "top-reliant"


def _claim3_effects(data: pd.DataFrame) -> pd.DataFrame:
    """Per draw, the three tests' effects on `data` (draw, lang, reliance and the language
    metadata): Spearman ρ of reliance with log Wikipedia articles (average ranks, as scipy's
    spearmanr; 0 where undefined), and the group mean gaps in points: agglutinative minus the
    other languages, non-SVO minus SVO (NaN where a group is empty)."""
    d = data.assign(log_wiki=np.log10(data["wiki_articles"].astype(float)))
    draw = d["draw"]
    ranks = pd.DataFrame({"x": d.groupby("draw")["log_wiki"].rank(),
                          "y": d.groupby("draw")["reliance"].rank()})  # fmt: skip
    centred = ranks - ranks.groupby(draw).transform("mean")
    squares = (centred**2).groupby(draw).sum()
    rho = (centred["x"] * centred["y"]).groupby(draw).sum() / np.sqrt(squares["x"] * squares["y"])
    rho = rho.replace([np.inf, -np.inf], np.nan).fillna(0.0)

    def gap(inside: pd.Series) -> pd.Series:
        means = d["reliance"].groupby([draw, inside.rename("inside")]).mean().unstack()
        if True not in means.columns or False not in means.columns:
            return pd.Series(np.nan, index=rho.index)
        return means[True] - means[False]

    return pd.DataFrame({TESTS[0]: rho, TESTS[1]: gap(d["morphology"] == "agglutinative"),
                         TESTS[2]: gap(d["word_order"] != "SVO")})  # fmt: skip


def _claim3_outcomes(effects: pd.DataFrame) -> pd.DataFrame:
    """Each test's outcome per draw: the claim predicts ρ ≤ -RHO_EFFECT and gaps ≥
    GROUP_EFFECT_POINTS."""
    size = effects[TESTS[0]]
    out = pd.DataFrame(index=effects.index)
    out[TESTS[0]] = np.select([size <= -RHO_EFFECT, size >= RHO_EFFECT],
                              ["agrees", "contradicts"], "no clear effect")  # fmt: skip
    for name in TESTS[1:]:
        gap = effects[name]
        out[name] = np.select(
            [gap.isna(), gap >= GROUP_EFFECT_POINTS, gap <= -GROUP_EFFECT_POINTS],
            ["not testable", "agrees", "contradicts"], "no clear effect",
        )  # fmt: skip
    return out


def _claim3_verdict(agree: float, contra: float) -> Verdict:
    """Supported when at least two tests agree and none contradicts; not supported when two
    contradict (or one does and none agrees)."""
    if agree >= 2 and contra == 0:
        return "supported"
    if contra >= 2 or (contra >= 1 and agree == 0):
        return "not supported"
    return "inconclusive"


def _reliance_groups(data: pd.DataFrame, k: int) -> pd.Series:
    """Per row of `data` (draw, lang, reliance): BOTTOM_RELIANT for the k languages of its draw
    with the highest reliance, TOP_RELIANT for the k with the lowest, else ''."""
    rank = data.groupby("draw")["reliance"].rank(method="first", ascending=False)
    n = data.groupby("draw")["reliance"].transform("size")
    return pd.Series(np.where(rank <= k, BOTTOM_RELIANT,
                              np.where(rank > n - k, TOP_RELIANT, "")), index=data.index)  # fmt: skip


def _p_values(data: pd.DataFrame) -> dict[str, float | None]:
    """Two-sided p-values of the point estimates (Spearman; Mann-Whitney for the gaps)."""
    from scipy.stats import mannwhitneyu, spearmanr

    _, p_rho = spearmanr(np.log10(data["wiki_articles"].astype(float)), data["reliance"])
    out: dict[str, float | None] = {TESTS[0]: float(p_rho) if np.isfinite(p_rho) else None}
    for name, inside in ((TESTS[1], data["morphology"] == "agglutinative"),
                         (TESTS[2], data["word_order"] != "SVO")):  # fmt: skip
        a, b = data.loc[inside, "reliance"], data.loc[~inside, "reliance"]
        ok = len(a) >= 2 and len(b) >= 2
        out[name] = float(mannwhitneyu(a, b, alternative="two-sided").pvalue) if ok else None
    return out


def _group_test(name: str, effect: float, outcome: str, p_value: float | None, data: pd.DataFrame,
                samples: pd.Series | None) -> GroupTest:  # fmt: skip
    low = high = None
    if samples is not None and samples.notna().any():
        iv = percentile_interval(samples.to_numpy(), effect)
        low, high = iv.low, iv.high
    spread = "" if low is None else f"; {LEVEL:.0%} interval {low:+.2f} to {high:+.2f}"
    if name == TESTS[0]:
        return GroupTest(name, effect, "Spearman ρ", outcome,  # type: ignore[arg-type]
                         f"ρ(reliance, log Wikipedia articles) = {effect:+.2f} over {len(data)} "
                         f"languages (the claim predicts < 0){spread}", p_value, low, high)  # fmt: skip
    inside = (
        data["morphology"] == "agglutinative" if name == TESTS[1] else data["word_order"] != "SVO"
    )
    detail = (
        "agglutinative minus other languages" if name == TESTS[1] else "non-SVO minus SVO languages"
    )
    if outcome == "not testable":
        return GroupTest(name, None, "points", "not testable", f"{detail}: one group is empty")
    text = (f"{detail}: {effect:+.2f} points ({int(inside.sum())} vs {int((~inside).sum())} "
            f"languages){spread}")  # fmt: skip
    return GroupTest(name, effect, "points", outcome, text, p_value, low, high)  # type: ignore[arg-type]


def _with_reliance_intervals(data: pd.DataFrame, draws: pd.DataFrame | None) -> pd.DataFrame:
    """`data` with reliance_low / reliance_high: each language's reliance interval over the
    resamples in `draws` (per draw and language, the claim's own), in points; NaN without."""
    from mbp.analysis.resampled import draw_intervals

    bounds = draw_intervals(pd.DataFrame() if draws is None else draws, ["lang"], "reliance")
    out = data.drop(columns=["reliance_low", "reliance_high"], errors="ignore")
    return out.merge(bounds, on="lang", how="left").astype(
        {"reliance_low": float, "reliance_high": float}
    )


def layers_follow_language(reliance: pd.DataFrame, languages: pd.DataFrame,
                           model: str | None = None,
                           draws: pd.DataFrame | None = None) -> ClaimResult:  # fmt: skip
    """Claim 3 from per-language reliance on bottom layers (`tables.group_reliance`:
    reliance = drop(bottom third) - drop(top third), in points) and language metadata
    (`tables.language_table`: word_order, morphology, wiki_articles).

    Three tests, each predicting higher reliance (bottom layers matter more) for:
    fewer Wikipedia articles (Spearman rho <= -RHO_EFFECT), agglutinative morphology, and
    non-SVO word order (group mean gaps >= GROUP_EFFECT_POINTS). Supported when at least two
    tests agree and none contradicts; not supported when two contradict (or one does and none
    agrees); otherwise inconclusive. Needs MIN_LANGUAGES languages.

    `draws` (`group_reliance(resampled.layer_draws(...), keys=("draw", "lang"))`) repeats
    every test on each resample: the verdict stands only when it holds at the worst ends of
    the intervals of the agreeing and contradicting test counts, and `groups` says per
    language how often it is among the most bottom- or top-reliant.
    """
    statistic = "tests agreeing with the claim"
    threshold = (
        f"|ρ| ≥ {RHO_EFFECT} for size; group gaps ≥ {GROUP_EFFECT_POINTS:g} point(s); supported "
        f"if ≥ 2 tests agree and none contradicts (with per-example outcomes: over the whole "
        f"{LEVEL:.0%} intervals of both counts)"
    )
    data = reliance.dropna(subset=["reliance"]).merge(
        languages.reset_index(drop=True), on="lang", how="inner"
    ).sort_values("lang", ignore_index=True)  # fmt: skip
    data = _with_reliance_intervals(data, draws)
    used: dict[str, Any] = {"models": {"mBERT stand-in": model} if model else {},
                            "languages": sorted(data["lang"].tolist())}  # fmt: skip
    if len(data) < MIN_LANGUAGES:
        why = (f"needs layer-wise results for at least {MIN_LANGUAGES} XNLI languages "
               f"(has {len(data)}): run `mbp layers --task xnli --lang all`")  # fmt: skip
        return _inconclusive(3, CLAIM_3, why, statistic, threshold, used)
    point = data.assign(draw=POINT)
    point_effects = _claim3_effects(point)
    effects, outcomes = point_effects.iloc[0], _claim3_outcomes(point_effects).iloc[0]
    agree = int((outcomes == "agrees").sum())
    contra = int((outcomes == "contradicts").sum())
    point_verdict = verdict = _claim3_verdict(agree, contra)
    k = min(3, len(data) // 2)
    meta = ["lang", "wiki_articles", "morphology", "word_order"]
    resampled = _matched(data[["lang"]], None if draws is None else
                         draws.dropna(subset=["reliance"]), ["lang"])  # fmt: skip
    effect_draws = interval = None
    why, groups, seeds = "", pd.DataFrame(), ()
    if resampled is not None and (resampled.groupby("draw").size() == len(data)).all():
        seeds = _seed_counts(resampled)
        resampled = resampled[["draw", "lang", "reliance"]].merge(data[meta], on="lang")
        resampled = resampled.sort_values(["draw", "lang"], ignore_index=True)
        effect_draws = _claim3_effects(resampled)
        per_draw = _claim3_outcomes(effect_draws)
        agrees = (per_draw == "agrees").sum(axis=1)
        contras = (per_draw == "contradicts").sum(axis=1)
        interval = percentile_interval(agrees.to_numpy(), float(agree))
        contra_iv = percentile_interval(contras.to_numpy(), float(contra))
        worst = {"supported": _claim3_verdict(interval.low, contra_iv.high),
                 "not supported": _claim3_verdict(interval.high, contra_iv.low)}  # fmt: skip
        if verdict != "inconclusive" and worst[verdict] != verdict:
            verdict = "inconclusive"
            why = (
                f" Inconclusive under resampling: on all examples the tests make it "
                f"{point_verdict}, but over {len(agrees):,} resamples of {resampled_units(seeds)} "
                f"the {LEVEL:.0%} intervals of agreeing ({interval.low:g} to {interval.high:g}) "
                f"and contradicting ({contra_iv.low:g} to {contra_iv.high:g}) tests do not keep "
                "it there."
            )
        resampled["group"] = _reliance_groups(resampled, k)
        shares = pd.crosstab(resampled["lang"], resampled["group"], normalize="index")
        groups = pd.DataFrame({
            "lang": data["lang"], "reliance": data["reliance"],
            "reliance_low": data["reliance_low"], "reliance_high": data["reliance_high"],
            "group (all examples)": _reliance_groups(point, k),
            f"{BOTTOM_RELIANT} share": data["lang"].map(shares.get(BOTTOM_RELIANT, {})).fillna(0.0),
            f"{TOP_RELIANT} share": data["lang"].map(shares.get(TOP_RELIANT, {})).fillna(0.0),
        }).sort_values([f"{BOTTOM_RELIANT} share", f"{TOP_RELIANT} share", "reliance"],
                       ascending=[False, True, False], ignore_index=True)  # fmt: skip
    p_values = _p_values(data)
    tests = [
        _group_test(
            name,
            float(effects[name]),
            outcomes[name],
            p_values[name],
            data,
            None if effect_draws is None else effect_draws[name],
        )
        for name in TESTS
    ]
    n_draws = 0 if effect_draws is None else len(effect_draws)
    if groups.empty:  # one ranking, on all examples
        labels = _reliance_groups(point, k)
        ranked = data.assign(group=labels).sort_values("reliance", ascending=False)
        bottom = ", ".join(ranked.loc[ranked["group"] == BOTTOM_RELIANT, "lang"])
        top = ", ".join(ranked.loc[ranked["group"] == TOP_RELIANT, "lang"].iloc[::-1])
        ranking = f"Most reliant on bottom layers: {bottom}; most on top layers: {top}."
    else:

        def most(column: str) -> str:
            best = groups.nlargest(k, column, keep="first")
            return ", ".join(f"{lang} {share:.0%}" for lang, share in
                             zip(best["lang"], best[column], strict=True))  # fmt: skip

        ranking = (
            f"Among the {k} most reliant on bottom layers in a resample of "
            f"{_resample_of(seeds)}, most often: {most(f'{BOTTOM_RELIANT} share')}; among the "
            f"{k} most reliant on top layers: {most(f'{TOP_RELIANT} share')} (share of "
            f"{n_draws:,} resamples)."
        )
    significant = [t.name for t in tests if t.p_value is not None and t.p_value < 0.05]
    top_heavy = int((data["reliance"] < 0).sum())
    explanation = (
        f"{agree} of 3 tests agree with the claim and {contra} contradict it, over "
        f"{len(data)} languages. {ranking} In absolute terms, removing the top "
        f"third costs more than removing the bottom third in {top_heavy} of {len(data)} "
        "languages; the claim is read as a trend across languages. "
        + (
            f"Significant at p < 0.05: {', '.join(significant)}; the verdict rests on effect "
            "sizes, not on significance."
            if significant
            else "None of the three effects is significant at p < 0.05 with this many "
            "languages: the verdict rests on effect sizes, not on significance."
        )
        + _seeds_sentence(seeds)
        + why
    )
    numbers: dict[str, Any] = {t.name: t.effect for t in tests}
    numbers.update({f"{t.name} outcome": t.outcome for t in tests})
    numbers.update({f"{t.name} p-value": t.p_value for t in tests if t.p_value is not None})
    used["examples"] = (
        {str(k): int(v) for k, v in data.set_index("lang")["n_examples"].items()}
        if "n_examples" in data
        else {}
    )
    table = data[["lang", "reliance", "reliance_low", "reliance_high", "bottom", "middle", "top",
                  "wiki_articles", "word_order", "morphology", "family"]].copy()  # fmt: skip
    return ClaimResult(3, CLAIM_3, verdict, explanation, statistic, float(agree), threshold,
                       numbers, used, table.reset_index(drop=True), tuple(tests),
                       interval=interval, draws=n_draws, point_verdict=point_verdict,
                       groups=groups, value_format="g", training_seeds=seeds)  # fmt: skip


def groups_table(groups: pd.DataFrame) -> pd.DataFrame:
    """Claim 3's `ClaimResult.groups` as the Paper claims page and the report show it: the
    shares of resamples in whole percent, reliance in points."""
    if groups.empty:
        return groups
    out = groups.copy()
    out["reliance"] = out["reliance"].map("{:+.2f}".format)
    if "reliance_low" in out:  # the interval as one cell, beside the value
        interval = [
            "n/a" if pd.isna(lo) else f"[{lo:+.2f}, {hi:+.2f}]"
            for lo, hi in zip(out.pop("reliance_low"), out.pop("reliance_high"), strict=True)
        ]
        out.insert(out.columns.get_loc("reliance") + 1, f"{LEVEL:.0%} interval", interval)
    for column in (f"{BOTTOM_RELIANT} share", f"{TOP_RELIANT} share"):
        out[column] = out[column].map("{:.0%}".format)
    return out.rename(columns={"reliance": "reliance (points)"})


def drops_table(result: ClaimResult) -> pd.DataFrame:
    """Claims 1-2's `table` as the Paper claims page and the report show it: one row per series
    (model · task, or XNLI language / GLUE task), one column per pruned fraction, each cell the
    relative drop and, where the runs stored outcomes, its interval ("12.3% [10.1%, 14.2%]")."""
    table = result.table
    if table.empty or "relative_drop" not in table:
        return pd.DataFrame()
    series = table["series"] if "series" in table else table["model"] + " · " + table["task"]

    def cell(value: float, low: float, high: float) -> str:
        if pd.isna(value):
            return "n/a"
        return f"{value:.1%}" if pd.isna(low) else f"{value:.1%} [{low:.1%}, {high:.1%}]"

    cells = pd.DataFrame({
        "series": series, "fraction": table["fraction"],
        "cell": [cell(*v) for v in zip(table["relative_drop"], table["relative_drop_low"],
                                       table["relative_drop_high"], strict=True)],
    })  # fmt: skip
    wide = cells.pivot(index="series", columns="fraction", values="cell")
    wide.columns = [f"{f * 100:g}% pruned" for f in wide.columns]
    return wide.reset_index().rename(columns={"series": "relative drop"})


# ----------------------------------------------------------------------------- all three


def evaluate_claims_from(
    curves: pd.DataFrame,
    drops: pd.DataFrame | None,
    languages: pd.DataFrame,
    pair: ModelPair,
    protocol: str = "posthoc",
    curve_draws: pd.DataFrame | None = None,
    layer_draws: pd.DataFrame | None = None,
) -> list[ClaimResult]:
    """All three claims from already-queried frames of one protocol: `curve_summary()` of every
    model and task, `layer_drops()` of the mBERT stand-in on XNLI (or None), `language_table()`,
    and the same on resampled examples (`claim_draws`; None: no intervals)."""
    from dataclasses import replace

    from mbp.analysis.tables import group_reliance

    curves, curve_draws, _ = _seed_points(curves, curve_draws, CURVE_KEYS, ["mean", "base"])
    drops, layer_draws, mine = _seed_points(drops, layer_draws, ["lang", "target"],
                                            ["drop", "base_value"])  # fmt: skip
    if mine is not None and mine.any():  # the rest of a seed-mean row follows from its drop
        drops.loc[mine, "value"] = drops["base_value"] - drops["drop"]
        drops.loc[mine, "relative_drop"] = drops["drop"] / drops["base_value"].where(
            drops["base_value"] != 0)  # fmt: skip
    results = [glue_parity(curves, pair, curve_draws), xnli_costs_more(curves, pair, curve_draws)]
    reliance = group_reliance(drops if drops is not None and len(drops) else _NO_DROPS)
    reliance_draws = (
        group_reliance(layer_draws, keys=("draw", "lang"))
        if layer_draws is not None and len(layer_draws)
        else None
    )
    if reliance_draws is not None and "training_seeds" in layer_draws:  # seeds per language
        per_lang = layer_draws.groupby("lang", as_index=False)["training_seeds"].max()
        reliance_draws = reliance_draws.merge(per_lang, on="lang", how="left")
    results.append(layers_follow_language(reliance, languages, pair.mbert, reliance_draws))
    return [replace(r, protocol=protocol) for r in results]


def _seed_points(
    frame: pd.DataFrame | None, draws: pd.DataFrame | None, keys: list[str], columns: list[str]
) -> tuple[Any, pd.DataFrame | None, pd.Series | None]:
    """(`frame` with `columns` taken from draw POINT where `draws` has one, `draws` without
    POINT, which rows of `frame` changed): a curve over several training seeds has its
    seed-mean on every example as draw POINT (`resampled`), which replaces the default seed's
    stored value as the point estimate. Without POINT rows both come back as they were."""
    if draws is None or draws.empty or not (draws["draw"] == POINT).any():
        return frame, draws, None
    point = draws[draws["draw"] == POINT][[*keys, *columns]]
    rest = draws[draws["draw"] != POINT].reset_index(drop=True)
    if frame is None or frame.empty:
        return frame, rest, None
    merged = frame.merge(point, on=keys, how="left", suffixes=("", "_seeds"))
    mine = merged[f"{columns[0]}_seeds"].notna()
    for column in columns:
        merged.loc[mine, column] = merged.loc[mine, f"{column}_seeds"]
    merged = merged.drop(columns=[f"{c}_seeds" for c in columns])
    return merged.set_axis(frame.index), rest, pd.Series(mine.to_numpy(), index=frame.index)


def claim_draws(
    store: Any, pair: ModelPair, protocol: str = "posthoc", curves: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(curve draws, layer draws of the mBERT stand-in on XNLI) for `evaluate_claims_from`:
    the claims' inputs on resampled examples, from the stored outcomes
    (`mbp.analysis.resampled`); empty where the runs predate outcomes. A run whose line has
    several training seeds with outcomes is resampled over seeds and examples, with its
    seed-mean as draw POINT (`training_seeds=True`). Given the point
    `curves`, only the orders claims 1-2 pick from them are resampled (scoring is the cost)."""
    from mbp.analysis import resampled

    orders = None
    if curves is not None and len(curves):
        glue = curves[(curves["task"] != "xnli") & (curves["lang"] == "en")]
        picked = {
            _pick_order(glue[glue["model"].isin([pair.bert, pair.mbert])], [pair.bert, pair.mbert]),
            _pick_order(curves[curves["model"] == pair.mbert], [pair.mbert]),
        }
        orders = sorted(o for o in picked if o is not None)
    curve_draws = resampled.curve_draws(store, protocol=protocol, max_fraction=MAX_FRACTION,
                                        orders=orders, training_seeds=True)  # fmt: skip
    layers = (
        resampled.layer_draws(
            store, model=pair.mbert, task="xnli", protocol=protocol, training_seeds=True
        )
        if pair.mbert
        else None
    )
    return curve_draws, layers


def evaluate_claims(
    store: Any, pair: ModelPair | None = None, protocol: str = "posthoc"
) -> list[ClaimResult]:
    """All three claims from a `ResultsStore` under one protocol (queries via
    `mbp.analysis.tables`), with intervals where the runs have stored outcomes."""
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
    draws = claim_draws(store, pair, protocol, curves)
    return evaluate_claims_from(curves, drops, data.language_table(), pair, protocol, *draws)


def evaluate_both(store: Any, pair: ModelPair | None = None) -> dict[str, list[ClaimResult]]:
    """The claims under each protocol with stored runs, the paper's (retrain) first."""
    from mbp.analysis.tables import protocols

    return {p: evaluate_claims(store, pair, p) for p in protocols(store) or ["posthoc"]}


_NO_DROPS = pd.DataFrame(columns=["lang", "target", "drop", "base_value", "n_examples"])
