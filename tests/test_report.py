"""`mbp report` writes REPRODUCTION.md from the store with the claims page's own numbers."""

from __future__ import annotations

from mbp.claims import evaluate_claims
from mbp.report import _fmt, build_report
from mbp.store import ResultsStore
from tests.fixtures.store_fixture import build_fixture_store


def test_report_carries_every_claim_number_and_a_figure(tmp_path):
    build_fixture_store(tmp_path / "store.duckdb")
    store = ResultsStore(tmp_path / "store.duckdb", read_only=True)
    out = build_report(store, tmp_path / "docs" / "REPRODUCTION.md")
    text = out.read_text()
    for result in evaluate_claims(store):
        assert f"### Claim {result.number}" in text
        assert f"**Verdict: {result.headline}.**" in text
        assert f"{result.statistic} = {_fmt(result.value)}" in text
        figure = [
            p
            for p in (tmp_path / "docs" / "figures").iterdir()
            if p.stem == f"claim{result.number}"
        ]
        assert figure and figure[0].stat().st_size > 1000
    assert "| e5-small | en |" in text  # XNLI per-language sanity table
    assert "every order gives the same score" in text
