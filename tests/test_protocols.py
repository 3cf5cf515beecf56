"""Both protocols side by side: queries, figures, claims, report and pages keep them apart."""

from __future__ import annotations

import json

import pytest

from mbp.analysis import tables
from mbp.analysis.claims import evaluate_both, evaluate_claims
from mbp.figures import pruning_curves
from mbp.live import demo
from mbp.store import ResultsStore
from tests.chart_spec import layers, rows
from tests.fixtures.store_fixture import add_retrain_runs, fixture_store_copy


@pytest.fixture(name="store", scope="module")
def _store(tmp_path_factory):
    path = fixture_store_copy(tmp_path_factory.mktemp("protocols") / "store.duckdb")
    store = ResultsStore(path)
    add_retrain_runs(store)
    return store


def test_queries_keep_the_protocols_apart(store):
    assert tables.protocols(store) == ["retrain", "posthoc"]  # the paper's first
    posthoc = tables.curve_summary(store, task="sst2")
    retrain = tables.curve_summary(store, task="sst2", protocol="retrain")
    both = tables.curve_summary(store, task="sst2", protocol=None)
    assert set(posthoc.protocol) == {"posthoc"} and set(retrain.protocol) == {"retrain"}
    assert len(both) == len(posthoc) + len(retrain)
    assert set(retrain.fraction) == {0.0, 0.25, 0.5, 0.75} and set(retrain.order_name) == {"random"}
    # each protocol's relative drops divide by its own unpruned score
    for protocol, frame in both.groupby("protocol"):
        zero = frame[frame.fraction == 0]
        assert zero["mean"].to_numpy() == pytest.approx(zero["base"].to_numpy()), protocol
    drops = tables.layer_drops(store, model="e5-small", task="xnli", protocol="retrain")
    assert sorted(drops.target.unique()) == ["group:bottom", "group:middle", "group:top"]


def test_the_curve_figure_overlays_both_protocols(store):
    both = tables.curve_summary(store, models=["e5-small"], task="sst2", protocol=None,
                                orders=["random"])  # fmt: skip
    spec = pruning_curves(both, metric="accuracy", relative=True).to_dict()
    (curve,) = layers(spec, "curve")
    points = rows(spec, curve)
    assert {p["protocol"] for p in points} == {"posthoc", "retrain"}
    assert sorted({p["series"] for p in points}) == ["random · posthoc", "random · retrain"]
    retrain = next(p for p in points if p["protocol"] == "retrain")
    assert retrain["width"] > 3 and retrain["fill"] == 0.0  # bolder line, open markers
    one = pruning_curves(tables.curve_summary(store, models=["e5-small"], task="sst2"),
                         metric="accuracy").to_dict()  # fmt: skip
    assert all(" · " not in p["series"] for p in rows(one, layers(one, "curve")[0]))


def test_claims_are_decided_per_protocol(store):
    results = evaluate_both(store)
    assert list(results) == ["retrain", "posthoc"]
    for protocol, claims in results.items():
        assert [c.number for c in claims] == [1, 2, 3]
        assert {c.protocol for c in claims} == {protocol}
    retrain = results["retrain"]
    assert retrain[1].used["order"] == "random"  # the paper's random masks
    assert retrain[1].value is not None  # XNLI vs GLUE at 25 % and 50 %
    assert retrain[2].value is not None and len(retrain[2].used["languages"]) == 4
    # posthoc claims are what they were before retrain runs existed
    plain = evaluate_claims(ResultsStore(fixture_store_copy(store.path.parent / "plain.duckdb")))
    assert [c.value for c in plain] == [c.value for c in results["posthoc"]]


def test_a_live_retrain_request_becomes_the_cli_flag():
    request = demo.LiveRunRequest("minilm-l6", "sst2", orders=("random",), protocol="retrain")
    argv = demo.sweep_argv(request, "s.duckdb")
    assert argv[argv.index("--protocol") + 1] == "retrain"
    settings = demo.DemoSettings()
    bad = demo.LiveRunRequest("minilm-l6", "sst2", orders=("iterative",), protocol="retrain")
    assert any("no retrain form" in p for p in demo.validate_request(bad, settings))
    cheap = demo.estimate_seconds(demo.LiveRunRequest("minilm-l6", "sst2", orders=("random",)))
    assert demo.estimate_seconds(request) > 3 * cheap  # every cell is a fine-tune


def test_pages_show_the_protocol_choice_and_both_verdicts(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, figures
    from views import _common as common

    monkeypatch.setenv("MBP_STORE", str(store.path))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["protocol"] = "both"
    at.run()
    assert not at.exception
    radio = next(r for r in at.sidebar.radio if r.label == "Protocol")
    assert radio.options == ["retrain (the paper's)", "posthoc", "both"] and radio.value == "both"
    at.switch_page("views/claims.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["claim", "retrain (the paper's)", "posthoc"]
    for protocol, results in evaluate_both(store).items():  # verdict value (interval)
        column = table[common.PROTOCOL_LABELS[protocol]].tolist()
        assert column == [common.verdict_text(r) for r in results]

    def drawn() -> list[str]:  # the protocol of each claim section the page drew
        return [c.value for c in at.caption if c.value.startswith("Protocol:")]

    # each claim's protocol tabs draw only the chosen one, the paper's first
    assert drawn() == ["Protocol: retrain (the paper's)"] * 3
    at.session_state["cl_tab_2"] = "posthoc"
    at.run()
    assert drawn() == ["Protocol: retrain (the paper's)", "Protocol: posthoc",
                       "Protocol: retrain (the paper's)"]  # fmt: skip
    at.switch_page("views/curves.py").run()
    assert not at.exception
    chart = json.dumps(figures(at)[0])  # the Vega-Lite spec with its data rows
    assert "retrain" in chart and "posthoc" in chart
