"""Verdicts on the paper's claims follow from the numbers and the thresholds in mbp.analysis.claims."""

from __future__ import annotations

import pandas as pd
import pytest

from mbp.analysis import claims
from mbp.analysis.claims import (
    ModelPair,
    default_pair,
    evaluate_claims,
    glue_parity,
    layers_follow_language,
    relative_drops,
    xnli_costs_more,
)
from mbp.analysis.tables import language_table
from mbp.store import ResultsStore
from tests.fixtures.store_fixture import fixture_store_copy

FRACTIONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]
PAIR = ModelPair("minilm-l6", "e5-small")


def curve(model, task, lang, base, drop_at_half, order="importance"):
    """Rows whose relative drop grows linearly to `drop_at_half` at 50 % pruned."""
    return [
        {
            "model": model,
            "task": task,
            "lang": lang,
            "order_name": order,
            "fraction": f,
            "heads_pruned": round(f * 144),
            "n_seeds": 1,
            "mean": base * (1 - drop_at_half * f / 0.5),
            "std": None,
            "min": None,
            "max": None,
            "base": base,
            "n_examples": 400,
        }
        for f in FRACTIONS
    ]


def frame(*parts):
    return pd.DataFrame([row for part in parts for row in part])


# ----------------------------------------------------------------------------- claim 1


def test_relative_drop_is_share_of_unpruned_score_lost():
    rel = relative_drops(frame(curve("a", "sst2", "en", 0.8, 0.10)))
    assert rel.set_index("fraction").loc[0.5, "relative_drop"] == pytest.approx(0.10)
    assert rel.set_index("fraction").loc[0.0, "relative_drop"] == pytest.approx(0.0)


def test_claim1_supported_when_relative_drops_match():
    data = frame(
        curve("minilm-l6", "sst2", "en", 0.90, 0.10),
        curve("e5-small", "sst2", "en", 0.85, 0.12),
        curve("minilm-l6", "rte", "en", 0.65, 0.08),
        curve("e5-small", "rte", "en", 0.62, 0.09),
    )
    result = glue_parity(data, PAIR)
    assert result.verdict == "supported"
    # mean over tasks and 0 < f <= 0.5 of |Δ|: sst2 0.02*f/0.5, rte 0.01*f/0.5
    expected = sum(0.02 * f / 0.5 + 0.01 * f / 0.5 for f in (0.1, 0.2, 0.3, 0.4, 0.5)) / 10
    assert result.value == pytest.approx(expected)
    assert result.numbers["matched points"] == 10
    assert result.used["tasks"] == ["rte", "sst2"]
    assert result.used["order"] == "importance"
    assert result.used["examples"]["e5-small / sst2 / en"] == 400
    assert result.headline == "supported on these data"
    assert set(result.table["model"]) == {"minilm-l6", "e5-small"}


def test_claim1_not_supported_when_mbert_falls_much_faster():
    data = frame(
        curve("minilm-l6", "sst2", "en", 0.9, 0.05), curve("e5-small", "sst2", "en", 0.9, 0.60)
    )
    result = glue_parity(data, PAIR)
    assert result.value > claims.PARITY_DIFFERENT_ABOVE
    assert result.verdict == "not supported"


def test_claim1_inconclusive_between_thresholds_and_without_data():
    data = frame(
        curve("minilm-l6", "sst2", "en", 0.9, 0.05), curve("e5-small", "sst2", "en", 0.9, 0.20)
    )
    result = glue_parity(data, PAIR)
    assert claims.PARITY_TOLERANCE < result.value <= claims.PARITY_DIFFERENT_ABOVE
    assert result.verdict == "inconclusive"
    only_one = glue_parity(frame(curve("minilm-l6", "sst2", "en", 0.9, 0.05)), PAIR)
    assert only_one.verdict == "inconclusive" and only_one.value is None
    assert "mbp sweep" in only_one.explanation
    assert glue_parity(frame(), ModelPair(None, None)).verdict == "inconclusive"


def test_claim1_falls_back_to_random_order():
    data = frame(
        curve("minilm-l6", "sst2", "en", 0.9, 0.10, order="random"),
        curve("e5-small", "sst2", "en", 0.9, 0.11, order="random"),
    )
    result = glue_parity(data, PAIR)
    assert result.used["order"] == "random" and result.verdict == "supported"


# ----------------------------------------------------------------------------- claim 2


def test_claim2_supported_when_xnli_drops_more():
    data = frame(
        curve("e5-small", "sst2", "en", 0.88, 0.05),
        curve("e5-small", "xnli", "en", 0.78, 0.15),
        curve("e5-small", "xnli", "sw", 0.60, 0.25),
    )
    result = xnli_costs_more(data, PAIR)
    assert result.verdict == "supported"
    # mean over f in (0, 0.5] of (mean XNLI - GLUE) = mean(0.20 - 0.05) * f/0.5
    assert result.value == pytest.approx(0.15 * 0.6)
    assert result.numbers["share of levels where XNLI is costlier"] == 1.0
    assert result.used["languages"] == ["en", "sw"]
    assert set(result.table["series"]) == {"XNLI en", "XNLI sw", "GLUE sst2"}


def test_claim2_not_supported_and_inconclusive():
    cheaper = frame(
        curve("e5-small", "sst2", "en", 0.88, 0.20), curve("e5-small", "xnli", "en", 0.78, 0.05)
    )
    assert xnli_costs_more(cheaper, PAIR).verdict == "not supported"
    close = frame(
        curve("e5-small", "sst2", "en", 0.88, 0.10), curve("e5-small", "xnli", "en", 0.78, 0.12)
    )
    result = xnli_costs_more(close, PAIR)
    assert 0 < result.value < claims.XNLI_MARGIN and result.verdict == "inconclusive"
    no_xnli = xnli_costs_more(frame(curve("e5-small", "sst2", "en", 0.88, 0.1)), PAIR)
    assert no_xnli.verdict == "inconclusive" and "--task xnli" in no_xnli.explanation


# ----------------------------------------------------------------------------- claim 3


def reliance(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"lang": list(values), "reliance": list(values.values()), "bottom": 1.0, "middle": 1.0,
         "top": 1.0, "n_examples": 300}
    )  # fmt: skip


def test_claim3_supported_when_low_resource_agglutinative_rely_on_bottom_layers():
    # bottom-reliance falls with Wikipedia size; agglutinative (tr, sw) and SOV (hi, tr) high
    values = {"en": -8.0, "fr": -6.0, "de": -5.0, "ru": -4.0, "tr": 6.0, "hi": 4.0, "sw": 9.0,
              "th": 2.0}  # fmt: skip
    result = layers_follow_language(reliance(values), language_table(), "e5-small")
    assert result.verdict == "supported"
    outcomes = {t.name: t.outcome for t in result.tests}
    assert outcomes == {
        "pre-training size": "agrees",
        "morphology": "agrees",
        "word order": "agrees",
    }
    assert result.numbers["pre-training size"] < -claims.RHO_EFFECT
    assert result.used["languages"] == sorted(values)
    assert "sw" in result.explanation


def test_claim3_not_supported_when_the_pattern_is_reversed():
    values = {"en": 8.0, "fr": 6.0, "de": 5.0, "ru": 4.0, "tr": -6.0, "hi": -4.0, "sw": -9.0,
              "th": -2.0}  # fmt: skip
    result = layers_follow_language(reliance(values), language_table())
    assert result.verdict == "not supported"
    assert all(t.outcome == "contradicts" for t in result.tests)


def test_claim3_inconclusive_with_few_languages_or_mixed_evidence():
    few = layers_follow_language(reliance({"en": -1.0, "sw": 2.0}), language_table())
    assert few.verdict == "inconclusive" and "mbp layers" in few.explanation
    flat = {"en": 0.1, "fr": -0.2, "de": 0.0, "ru": 0.2, "tr": -0.1, "hi": 0.1, "sw": 0.0}
    assert layers_follow_language(reliance(flat), language_table()).verdict == "inconclusive"


# ----------------------------------------------------------------------------- pairing & store


def test_default_pair_prefers_paper_models_then_stand_ins():
    assert default_pair(["e5-small", "minilm-l6"]) == ModelPair("minilm-l6", "e5-small")
    paper = ["bert-base-cased", "bert-base-multilingual-cased", "minilm-l6", "e5-small"]
    assert default_pair(paper) == ModelPair("bert-base-cased", "bert-base-multilingual-cased")
    assert default_pair(["xlm-roberta-base"]) == ModelPair(None, "xlm-roberta-base")
    assert default_pair([]) == ModelPair(None, None)


def test_evaluate_claims_on_the_fixture_store(tmp_path):
    store = ResultsStore(fixture_store_copy(tmp_path / "fx.duckdb"), read_only=True)
    results = evaluate_claims(store)
    assert [r.number for r in results] == [1, 2, 3]
    assert [r.verdict for r in results] == ["supported", "supported", "supported"]
    assert results[0].used["models"] == {"BERT stand-in": "minilm-l6", "mBERT stand-in": "e5-small"}
    assert results[2].used["languages"] == ["de", "en", "sw", "tr"]


def test_evaluate_claims_on_an_empty_store(tmp_path):
    store = ResultsStore(tmp_path / "empty.duckdb", read_only=True)
    assert [r.verdict for r in evaluate_claims(store)] == ["inconclusive"] * 3
