"""Claims that use the uncertainty: each statistic's interval over resampled examples decides
whether a verdict stands (mbp.analysis.claims with mbp.analysis.resampled)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mbp.analysis import claims
from mbp.analysis.bootstrap import reference_scorer, resample, scorer
from mbp.analysis.claims import (
    NO_OUTCOMES,
    ModelPair,
    evaluate_claims,
    glue_parity,
    layers_follow_language,
    xnli_costs_more,
)
from mbp.analysis.tables import language_table

PAIR = ModelPair("minilm-l6", "e5-small")
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


# ----------------------------------------------------------------------------- synthetic outcomes


def outcomes(rng, n: int, base: float, drops: dict[float, float]) -> dict[float, tuple]:
    """(predictions, labels) per fraction of one model on n binary examples: each example is
    right before pruning with probability `base`; at fraction f each right one breaks with
    probability drops[f] (nested: an example broken at f stays broken beyond), so the expected
    relative drop at f is drops[f]."""
    labels = rng.integers(0, 2, n)
    right, fragility = rng.random(n) < base, rng.random(n)
    out = {}
    for f in FRACTIONS:
        correct = right & (fragility >= drops.get(f, 0.0))
        out[f] = (np.where(correct, labels, 1 - labels), labels)
    return out


def frames(series: dict[tuple[str, str, str], dict[float, tuple]], draws: int = 400):
    """(curve_summary-like rows, the same on `draws` resamples): every series with the same
    example count shares the resampled indices, as mbp.analysis.resampled does."""
    points, resampled = [], []
    indices: dict[int, np.ndarray] = {}
    for (model, task, lang), by_fraction in series.items():
        n = len(next(iter(by_fraction.values()))[1])
        idx = indices.setdefault(n, resample(n, draws, seed=0))
        score = {f: ((p == g).mean(), (p[idx] == g[idx]).mean(axis=1))
                 for f, (p, g) in by_fraction.items()}  # fmt: skip
        for f, (value, per_draw) in score.items():
            key = {"model": model, "task": task, "lang": lang, "order_name": "importance",
                   "fraction": f}  # fmt: skip
            points.append({**key, "heads_pruned": round(f * 144), "n_seeds": 1, "mean": value,
                           "base": score[0.0][0], "n_examples": n})  # fmt: skip
            resampled.append(pd.DataFrame({**key, "draw": np.arange(draws), "mean": per_draw,
                                           "base": score[0.0][1], "protocol": "posthoc"}))  # fmt: skip
    return pd.DataFrame(points), pd.concat(resampled, ignore_index=True)


def linear(at_half: float) -> dict[float, float]:
    return {f: at_half * f / 0.5 for f in FRACTIONS}


def claim2_series(n: int, seed: int, xnli_drop: float = 0.18, glue_drop: float = 0.10):
    rng = np.random.default_rng(seed)
    return {
        ("e5-small", "sst2", "en"): outcomes(rng, n, 0.90, linear(glue_drop)),
        ("e5-small", "xnli", "en"): outcomes(rng, n, 0.80, linear(xnli_drop)),
        ("e5-small", "xnli", "sw"): outcomes(rng, n, 0.65, linear(xnli_drop)),
    }


# ----------------------------------------------------------------------------- the rule


def test_a_clear_effect_is_supported_and_becomes_inconclusive_when_noise_is_added():
    """Claim 2 with a true gap of +4.8 % relative drop (0.6 x 8 % over the fractions):
    on many examples the interval clears the +2 % margin; on few the point estimate still
    does but the interval does not, so the verdict is inconclusive and says why."""
    curves, draws = frames(claim2_series(8000, seed=1))
    many = xnli_costs_more(curves, PAIR, draws)
    assert many.verdict == many.point_verdict == "supported"
    assert many.interval.low >= claims.XNLI_MARGIN and many.draws == 400
    assert many.interval.contains(many.value)
    assert "interval" in many.uncertainty and "400" in many.uncertainty

    curves, draws = frames(claim2_series(250, seed=1))
    few = xnli_costs_more(curves, PAIR, draws)
    assert few.value >= claims.XNLI_MARGIN and few.point_verdict == "supported"
    assert few.verdict == "inconclusive"
    assert few.interval.low < claims.XNLI_MARGIN < few.interval.high
    assert few.interval.width > 3 * many.interval.width
    assert "Inconclusive under resampling" in few.explanation
    # the same frames without resamples: the point verdict, and says it has no interval
    alone = xnli_costs_more(curves, PAIR)
    assert alone.verdict == "supported" and alone.interval is None
    assert alone.uncertainty == NO_OUTCOMES
    assert not many.absolute_mean  # a signed mean: its interval does not lean high


def test_claim1_parity_stands_only_when_its_interval_stays_within_the_tolerance():
    def series(n: int, seed: int):
        rng = np.random.default_rng(seed)
        return {
            ("minilm-l6", "sst2", "en"): outcomes(rng, n, 0.90, linear(0.10)),
            ("e5-small", "sst2", "en"): outcomes(rng, n, 0.88, linear(0.13)),
        }

    curves, draws = frames(series(10000, seed=2))
    clear = glue_parity(curves, PAIR, draws)
    assert clear.verdict == "supported" and clear.interval.high <= claims.PARITY_TOLERANCE
    curves, draws = frames(series(80, seed=2))
    noisy = glue_parity(curves, PAIR, draws)
    assert noisy.value <= claims.PARITY_TOLERANCE  # the point estimate alone would support it
    assert noisy.verdict == "inconclusive" and noisy.interval.high > claims.PARITY_TOLERANCE
    assert clear.absolute_mean and noisy.absolute_mean  # its statistic is a mean of |gaps|


def test_the_claim_interval_covers_the_true_statistic_about_95_percent_of_the_time():
    """Claim 2 on fresh synthetic test sets: the true gap is known (mean over fractions of
    the expected XNLI minus GLUE relative drops); its 95 % interval should contain it in about
    95 % of repeats."""
    truth = float(np.mean([0.18 * f / 0.5 - 0.10 * f / 0.5 for f in FRACTIONS[1:]]))
    hits, repeats = 0, 80
    for i in range(repeats):
        curves, draws = frames(claim2_series(600, seed=100 + i), draws=300)
        hits += xnli_costs_more(curves, PAIR, draws).interval.contains(truth)
    assert 0.85 <= hits / repeats <= 1.0


def test_a_partial_set_of_outcomes_gives_no_interval_rather_than_another_statistic():
    curves, draws = frames(claim2_series(500, seed=3))
    partial = draws[draws["lang"] != "sw"]  # one language's runs predate outcomes
    result = xnli_costs_more(curves, PAIR, partial)
    assert result.interval is None and result.uncertainty == NO_OUTCOMES
    assert result.verdict == result.point_verdict


# ----------------------------------------------------------------------------- claim 3

LANGS = {"en": -8.0, "fr": -6.0, "de": -5.0, "ru": -4.0, "tr": 6.0, "hi": 4.0, "sw": 9.0,
         "th": 2.0}  # fmt: skip


def reliance(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"lang": list(values), "reliance": list(values.values()), "bottom": 1.0,
         "middle": 1.0, "top": 1.0, "n_examples": 300}
    )  # fmt: skip


def reliance_draws(values: dict[str, float], noise: float, draws: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [{"draw": d, "lang": lang, "reliance": mean + rng.normal(0, noise)}
         for d in range(draws) for lang, mean in values.items()]
    )  # fmt: skip


def test_claim3_reports_how_often_each_language_is_in_each_group():
    # hi (4) and th (4) tie for the third bottom-reliant slot behind sw and tr
    values = {**LANGS, "th": 4.0}
    result = layers_follow_language(reliance(values), language_table(), "e5-small",
                                    reliance_draws(values, noise=0.3))  # fmt: skip
    shares = result.groups.set_index("lang")
    bottom, top = shares["bottom-reliant share"], shares["top-reliant share"]
    assert bottom["sw"] == 1.0 and bottom["tr"] == 1.0 and top["en"] == 1.0
    assert 0.3 < bottom["hi"] < 0.7 and 0.3 < bottom["th"] < 0.7
    assert bottom["hi"] + bottom["th"] == pytest.approx(1.0)  # one slot between them
    assert bottom[["en", "fr", "de", "ru"]].eq(0).all()
    # three slots per group in every draw
    assert bottom.sum() == pytest.approx(3.0) and top.sum() == pytest.approx(3.0)
    assert shares.loc["sw", "group (all examples)"] == "bottom-reliant"
    assert "sw 100%" in result.explanation and "500 resamples" in result.explanation
    assert result.draws == 500
    table = claims.groups_table(result.groups)
    assert table.loc[table["lang"] == "sw", "bottom-reliant share"].item() == "100%"


def test_claim3_flips_to_inconclusive_when_the_layer_drops_are_noisy():
    calm = layers_follow_language(reliance(LANGS), language_table(), None,
                                  reliance_draws(LANGS, noise=0.3))  # fmt: skip
    assert calm.verdict == calm.point_verdict == "supported"
    assert calm.interval.low >= 2
    assert all(t.low is not None and t.low <= t.effect <= t.high for t in calm.tests)
    noisy = layers_follow_language(reliance(LANGS), language_table(), None,
                                   reliance_draws(LANGS, noise=12.0))  # fmt: skip
    assert noisy.point_verdict == "supported" and noisy.verdict == "inconclusive"
    assert noisy.interval.low < 2 and "Inconclusive under resampling" in noisy.explanation
    alone = layers_follow_language(reliance(LANGS), language_table())
    assert alone.verdict == "supported" and alone.groups.empty
    assert "Most reliant on bottom layers: sw, tr, hi" in alone.explanation


def test_claim3_rho_is_scipys_spearman():
    from scipy.stats import spearmanr

    result = layers_follow_language(reliance(LANGS), language_table())
    wiki = language_table().set_index("lang").loc[list(LANGS), "wiki_articles"]
    expected = spearmanr(np.log10(wiki.astype(float)), list(LANGS.values()))[0]
    assert result.numbers["pre-training size"] == pytest.approx(expected)


def test_vectorised_f1_and_matthews_are_the_tasks_own_metrics():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 120)
    preds = np.where(rng.random(120) < 0.8, labels, 1 - labels)
    idx = resample(120, 50, seed=0)
    for task, metric in (("mrpc", "f1"), ("cola", "matthews")):
        fast = scorer(task, metric)(preds[idx], labels[idx])
        slow = reference_scorer(task, metric)(preds[idx], labels[idx])
        assert fast == pytest.approx(slow)
    ones = np.ones((2, 5), dtype=np.int8)  # degenerate: one class everywhere
    assert scorer("cola", "matthews")(ones, ones) == pytest.approx([0.0, 0.0])


# ----------------------------------------------------------------------------- through a store


def _write_sweep(store, model, task, lang, series, n):
    from mbp.store.outcomes import outcome_row

    run_id = f"iv-{model}-{task}-{lang}"
    store.ensure_run(run_id, "sweep", json.dumps({"model": model, "task": task, "lang": lang}),
                     model=model, model_checksum=None, task=task, lang=lang, split="dev",
                     method="importance", seeds=[0], n_examples=n, cells_total=1, device="cpu",
                     versions_json={}, code_commit="test", command="test")  # fmt: skip
    points, rows = [], []
    for f, (preds, labels) in series.items():
        points.append({"order_name": "importance", "seed": 0, "fraction": f,
                       "heads_pruned": round(f * 144), "pruned_heads": "[]", "metric": "accuracy",
                       "value": float((preds == labels).mean()), "n_examples": n})  # fmt: skip
        rows.append(outcome_row(f"importance/0/{f:g}", preds, labels, regression=False))
    store.write_cell(run_id, "importance/0", elapsed_s=0.1, curve_points=points, outcomes=rows)
    store.finish_run(run_id, "done", elapsed_s=0.1)


def _write_layers(store, lang, rng, n, bottom, top, with_outcomes=True):
    from mbp.store.outcomes import UNPRUNED, outcome_row

    run_id = f"iv-layers-{lang}"
    store.ensure_run(run_id, "layers", json.dumps({"lang": lang}), model="e5-small",
                     model_checksum=None, task="xnli", lang=lang, split="test",
                     method="remove-layer", seeds=[0], n_examples=n, cells_total=1,
                     device="cpu", versions_json={}, code_commit="test", command="test")  # fmt: skip
    labels = rng.integers(0, 3, n)
    right, fragility = rng.random(n) < 0.75, rng.random(n)
    base_preds = np.where(right, labels, (labels + 1) % 3)
    base = float((base_preds == labels).mean())
    rows, outs = [], [outcome_row(UNPRUNED, base_preds, labels, regression=False)]
    for target, drop in (("group:bottom", bottom), ("group:middle", 0.05), ("group:top", top)):
        preds = np.where(right & (fragility >= drop), labels, (labels + 1) % 3)
        value = float((preds == labels).mean())
        rows.append({"target": target, "layers": "[]", "metric": "accuracy", "base_value": base,
                     "value": value, "drop": base - value})  # fmt: skip
        outs.append(outcome_row(target, preds, labels, regression=False))
    store.write_cell(run_id, "groups", elapsed_s=0.1, layer_importance=rows,
                     outcomes=outs if with_outcomes else None)  # fmt: skip
    store.finish_run(run_id, "done", elapsed_s=0.1)


@pytest.fixture(scope="module")
def outcome_store(tmp_path_factory):
    return build_outcome_store(tmp_path_factory.mktemp("intervals") / "store.duckdb")


def build_outcome_store(path):
    """Sweeps and layer-wise runs written through ResultsStore with per-example outcomes."""
    from mbp.store import ResultsStore

    store = ResultsStore(path)
    rng = np.random.default_rng(5)
    n = 2000
    for (model, task, lang), drop in {("minilm-l6", "sst2", "en"): 0.10,
                                      ("e5-small", "sst2", "en"): 0.11,
                                      ("e5-small", "xnli", "en"): 0.20,
                                      ("e5-small", "xnli", "sw"): 0.22}.items():  # fmt: skip
        _write_sweep(store, model, task, lang, outcomes(rng, n, 0.8, linear(drop)), n)
    profile = {"en": (0.05, 0.30), "fr": (0.08, 0.25), "de": (0.10, 0.20), "ru": (0.10, 0.22),
               "tr": (0.30, 0.06), "hi": (0.25, 0.10), "sw": (0.35, 0.05)}  # fmt: skip
    for lang, (bottom, top) in profile.items():
        _write_layers(store, lang, rng, 400, bottom, top)
    return store


def test_claims_from_a_store_with_outcomes_get_intervals_that_match_the_point_values(
    outcome_store,
):
    from mbp.analysis import tables
    from mbp.analysis.resampled import curve_draws, layer_draws

    results = evaluate_claims(outcome_store, PAIR)
    assert [r.verdict for r in results] == ["supported"] * 3
    for result in results:
        assert result.interval is not None and result.draws == 1000, result.number
        assert result.interval.estimate == pytest.approx(result.value)
    draws = curve_draws(outcome_store, protocol="posthoc", max_fraction=0.5)
    summary = tables.curve_summary(outcome_store)
    merged = draws.groupby(claims.CURVE_KEYS)["mean"].mean().reset_index().merge(
        summary, on=claims.CURVE_KEYS, suffixes=("_draws", "")
    )  # fmt: skip
    assert len(merged) == 4 * len(FRACTIONS)
    # the bootstrap is centred on the stored value (the mean of 1,000 resamples is within noise)
    assert (merged["mean_draws"] - merged["mean"]).abs().max() < 0.005
    layers = layer_draws(outcome_store, model="e5-small")
    stored = tables.layer_drops(outcome_store, model="e5-small", task="xnli")
    check = layers.groupby(["lang", "target"])["drop"].mean().reset_index().merge(
        stored, on=["lang", "target"], suffixes=("_draws", "")
    )  # fmt: skip
    assert len(check) == 7 * 3 and (check["drop_draws"] - check["drop"]).abs().max() < 0.005
    claim3 = results[2]
    assert set(claim3.groups["lang"]) == {"en", "fr", "de", "ru", "tr", "hi", "sw"}
    assert claim3.groups.set_index("lang").loc["sw", "bottom-reliant share"] > 0.9


def test_a_language_without_outcomes_leaves_claim3_without_an_interval(outcome_store, tmp_path):
    import shutil

    from mbp.store import ResultsStore

    path = tmp_path / "partial.duckdb"
    shutil.copyfile(outcome_store.path, path)
    store = ResultsStore(path)
    _write_layers(store, "ur", np.random.default_rng(6), 400, 0.3, 0.1, with_outcomes=False)
    results = evaluate_claims(store, PAIR)
    assert results[2].interval is None and results[2].uncertainty == NO_OUTCOMES
    assert "ur" in results[2].used["languages"]
    assert results[0].interval is not None  # the sweeps still have theirs


def test_report_and_claims_page_show_the_same_intervals(outcome_store, tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from mbp.analysis.report import build_report
    from tests.chart_spec import rows
    from tests.test_app import figures, roles

    results = evaluate_claims(outcome_store, PAIR)
    text = build_report(outcome_store, tmp_path / "docs" / "REPRODUCTION.md").read_text()
    for result in results:
        assert f"- uncertainty: {result.uncertainty}" in text
    assert "posthoc: survive resampling of the evaluated examples: claim 1 (supported), " in text
    assert "| lang | reliance (points) | 95% interval | group (all examples) |" in text
    for result in results:  # each chart point's interval, or why it has none
        assert f"- per-point intervals: {result.point_uncertainty}" in text
    assert "| relative drop | 10% pruned |" in text and "| XNLI sw | " in text

    monkeypatch.setenv("MBP_STORE", str(outcome_store.path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    app = Path(__file__).resolve().parents[1] / "app.py"
    at = AppTest.from_file(str(app), default_timeout=180)
    at.switch_page("views/claims.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(m.value for m in at.markdown)
    for result in results:
        assert result.uncertainty in shown
        assert f"Points: {result.point_uncertainty}." in [c.value for c in at.caption]
    (groups,) = [f for f in figures(at) if roles(f, "group-share")]
    (bars,) = roles(groups, "group-share")
    shares = results[2].groups.set_index("lang")["bottom-reliant share"]
    got = {r["lang"]: r["share"] for r in rows(groups, bars) if r["group"] == "bottom-reliant"}
    assert got == pytest.approx({k: 100 * v for k, v in shares.items()})


# the groups chart itself (stacked shares, order, colours): tests/test_figures_heatmaps_claims.py


def test_claim_tables_with_a_row_per_language_show_every_row(outcome_store, tmp_path, monkeypatch):
    """Claim 3's resampling table: in the claim's 3/5 column it was cut, its share columns
    scrolled sideways and 5 of 15 languages needed an inner scroll (a browser pass). Now it sits
    below both columns, its height fitted to its rows. Claim 2's relative-drop table (a row per
    XNLI language and GLUE task) scrolled after 10 rows: its height is fitted too."""
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    heights = {}
    dataframe = st.dataframe

    def recording(data=None, *args, **kwargs):  # the height each table is asked for
        rows = tuple(data.iloc[:, 0]) if isinstance(data, pd.DataFrame) and data.shape[1] else ()
        heights[(tuple(getattr(data, "columns", ())), rows)] = kwargs.get("height", "auto")
        return dataframe(data, *args, **kwargs)

    monkeypatch.setattr(st, "dataframe", recording)
    monkeypatch.setenv("MBP_STORE", str(outcome_store.path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                           default_timeout=180)  # fmt: skip
    at.switch_page("views/claims.py").run()
    assert not at.exception, [e.value for e in at.exception]

    def inside_columns(node, target, columns=False):
        if node is target or getattr(node, "proto", None) is target.proto:
            return columns
        for child in getattr(node, "children", {}).values():
            found = inside_columns(child, target, columns or getattr(child, "type", "") == "column")
            if found is not None:
                return found
        return None

    (table,) = [d for d in at.dataframe if "bottom-reliant share" in d.value.columns]
    assert len(table.value) == 7  # every language of the store
    assert inside_columns(at._tree, table) is False

    def height(frame: pd.DataFrame):
        return heights[(tuple(frame.columns), tuple(frame.iloc[:, 0]))]

    assert height(table.value) == "content"
    (drops,) = [
        d.value for d in at.dataframe if "XNLI sw" in list(d.value.get("relative drop", []))
    ]
    assert set(drops["relative drop"]) == {"XNLI en", "XNLI sw", "GLUE sst2"}  # every row
    assert height(drops) == "content"  # not st.dataframe's 10 rows ("auto")


def test_overview_claim_cards_give_each_verdict_its_value_and_interval(
    outcome_store, tmp_path, monkeypatch
):
    """The Overview's cards showed bare verdicts: a reader could not tell a verdict whose
    interval clears its threshold from one that does not. Each protocol's line now carries the
    statistic's value and its 95 % interval (or 'no interval'), as on the Paper claims page."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MBP_STORE", str(outcome_store.path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                           default_timeout=180)  # fmt: skip
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    cards = [m.value for m in at.markdown if m.value.startswith("**Claim ")]
    assert len(cards) == 3
    for card, result in zip(cards, evaluate_claims(outcome_store, PAIR), strict=True):
        assert result.interval is not None
        value = f"{result.value:{result.value_format}}"
        assert f"posthoc: :green-badge[supported] {value} :gray[({result.interval_short})]" in card
        assert any(f"Statistic: {result.statistic}." in c.value for c in at.caption)


def _claim_with(number: int, value: float, low: float, high: float,
                absolute_mean: bool = False) -> claims.ClaimResult:  # fmt: skip
    from mbp.analysis.bootstrap import Interval

    return claims.ClaimResult(
        number=number, claim="c", verdict="supported", explanation="", statistic="s",
        value=value, threshold="t", interval=Interval(value, low, high), draws=1000,
        absolute_mean=absolute_mean,
    )  # fmt: skip


def test_a_mean_of_absolute_gaps_says_why_its_value_sits_at_the_interval_lower_end():
    """A mean of absolute gaps only grows with resampling noise: a result flagged
    `absolute_mean` says so when its value on all examples is at the bottom of the interval, and
    not when it lies inside. The flag decides, not the claim's number; other statistics (claim
    3's count) never get the note."""
    at_edge = _claim_with(1, 0.012, 0.012, 0.025, absolute_mean=True).uncertainty
    assert "sits at its lower end" in at_edge and "conservative" in at_edge
    assert "lower end" not in _claim_with(1, 0.018, 0.012, 0.025, absolute_mean=True).uncertainty
    assert "lower end" in _claim_with(2, 0.012, 0.012, 0.025, absolute_mean=True).uncertainty
    assert "lower end" not in _claim_with(1, 0.012, 0.012, 0.025).uncertainty
    assert "lower end" not in _claim_with(3, 1.0, 1.0, 3.0).uncertainty


def test_one_verdict_formatter_gives_the_overview_badge_and_the_claims_table_text():
    """`views._common.verdict_text`: 'verdict value (interval)', as a badge for the Overview's
    cards and as plain text for the Paper claims table; no value or interval when none."""
    from views import _common as common

    result = _claim_with(1, 0.012, 0.008, 0.025)
    interval = "95% interval [0.8%, 2.5%]"
    assert common.verdict_text(result) == f"supported 1.2% ({interval})"
    assert common.verdict_text(result, markdown=True) == (
        f":green-badge[supported] 1.2% :gray[({interval})]"
    )
    empty = claims.ClaimResult(1, "c", "inconclusive", "", "s", None, "t")
    assert common.verdict_text(empty) == "inconclusive (no interval)"
    assert common.verdict_text(empty, markdown=True) == (
        ":gray-badge[inconclusive] :gray[(no interval)]"
    )


def test_claims_without_outcomes_name_the_command_that_adds_them():
    assert "--backfill-outcomes" in claims.NO_OUTCOMES
    assert "--backfill-outcomes" in claims.NO_POINT_INTERVALS
