"""Which runs a chart draws from: the one choice rule, pinned runs, and the pages saying so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mbp.analysis import tables
from mbp.store import ResultsStore
from tests.fixtures.store_fixture import fixture_store_copy

APP = Path(__file__).resolve().parents[1] / "app.py"
SMALL = "live-small-run"  # a later, smaller random sweep of e5-small on SST-2 (a live run's)


def _add_small_run(path: Path) -> None:
    store = ResultsStore(path)
    spec = {"kind": "sweep", "model": "e5-small", "task": "sst2", "order": "random", "n": 32}
    store.ensure_run(
        SMALL, "sweep", json.dumps(spec), model="e5-small", model_checksum="sha-e5-small",
        task="sst2", lang="en", split="dev", method="random", seeds=[7], n_examples=32,
        cells_total=1, device="cpu", command="mbp sweep --examples 32", versions_json={},
        code_commit="test",
    )  # fmt: skip
    points = [{"order_name": "random", "seed": 7, "fraction": f, "heads_pruned": round(f * 144),
               "pruned_heads": "[]", "metric": "accuracy", "value": 0.25, "n_examples": 32}
              for f in (0.0, 0.5)]  # fmt: skip
    store.write_cell(SMALL, "random/7", elapsed_s=0.1, curve_points=points)
    store.finish_run(SMALL, "done", elapsed_s=0.1)


@pytest.fixture
def store_path(tmp_path) -> Path:
    path = fixture_store_copy(tmp_path / "store.duckdb")
    _add_small_run(path)
    return path


def test_the_most_complete_run_is_shown_unless_another_is_pinned(store_path):
    store = ResultsStore(store_path)
    where = dict(kind="sweep", task="sst2", models=["e5-small"], langs=["en"], protocol="posthoc")
    runs = tables.chart_runs(store, **where)
    random = runs[runs["method"] == "random"].set_index("run_id")
    assert not random.loc[SMALL, "shown"] and random["shown"].sum() == 1
    assert runs["shown"].sum() == 3  # one per order: importance, reverse, random
    curves = tables.curve_summary(store, models=["e5-small"], task="sst2", langs=["en"])
    assert (curves.query("order_name == 'random'")["n_examples"] == 500).all()

    pinned = tables.chart_runs(store, **where, pinned=[SMALL])
    random = pinned[pinned["method"] == "random"].set_index("run_id")
    assert random.loc[SMALL, "shown"] and random.loc[SMALL, "pinned"]
    assert random["shown"].sum() == 1 and pinned["shown"].sum() == 3
    curves = tables.curve_summary(store, models=["e5-small"], task="sst2", langs=["en"],
                                  pinned=[SMALL])  # fmt: skip
    mine = curves.query("order_name == 'random'")
    assert mine["mean"].tolist() == [0.25, 0.25] and (mine["n_examples"] == 32).all()
    assert (curves.query("order_name != 'random'")["n_examples"] == 500).all()


def test_a_pinned_run_survives_the_example_count_filter(store_path):
    store = ResultsStore(store_path)
    curves = tables.curve_summary(store, models=["e5-small"], task="sst2", n_examples=500,
                                  pinned=[SMALL])  # fmt: skip
    assert curves.query("order_name == 'random'")["n_examples"].tolist() == [32, 32]
    runs = tables.chart_runs(store, kind="sweep", task="sst2", models=["e5-small"],
                             n_examples=500, pinned=[SMALL])  # fmt: skip
    assert set(runs[runs["shown"]]["n_examples"]) == {32, 500}


def test_layer_and_head_queries_name_their_runs(store_path):
    store = ResultsStore(store_path)
    drops = tables.layer_drops(store, model="e5-small", task="xnli")
    runs = tables.chart_runs(store, kind="layers", task="xnli", models=["e5-small"],
                             protocol="posthoc")  # fmt: skip
    assert set(drops["run_id"]) == set(runs[runs["shown"]]["run_id"])
    scores = tables.head_scores(store, model="e5-small", task="xnli")
    runs = tables.chart_runs(store, kind="importance", task="xnli", models=["e5-small"])
    assert set(scores["run_id"]) == set(runs[runs["shown"]]["run_id"])
    with pytest.raises(ValueError, match="kind 'nope'"):
        tables.chart_runs(store, kind="nope", task="xnli")


def _curves_page(monkeypatch, tmp_path, store_path, query: dict[str, str]) -> AppTest:
    monkeypatch.setenv("MBP_STORE", str(store_path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query)
    at.run()
    at.switch_page("views/curves.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_the_curves_page_says_which_runs_and_a_link_can_pick_one(monkeypatch, tmp_path,
                                                                  store_path):  # fmt: skip
    query = {"task": "sst2", "model": "e5-small", "lang": "en", "orders": "random"}
    at = _curves_page(monkeypatch, tmp_path, store_path, query)
    assert "From 1 stored run(s): 500 examples · seeds 0 1 2 · posthoc" in _captions(at)
    # "Runs shown" is drawn only when opened: closed, no picker and no table reach the browser
    assert "cv_runs" not in [m.key for m in at.multiselect]
    assert not [d for d in at.dataframe if "checkpoint" in d.value]
    at.session_state["cv_runs_open"] = True
    at.run()
    assert [d for d in at.dataframe if "checkpoint" in d.value]
    picker = at.multiselect(key="cv_runs")
    assert picker.value == [] and any(SMALL[:8] in option for option in picker.options)
    at = _curves_page(monkeypatch, tmp_path, store_path, {**query, "runs": SMALL})
    assert "From 1 stored run(s), 1 picked: 32 examples · seeds 7 · posthoc" in _captions(at)
    assert at.query_params["runs"] == SMALL
    at = _curves_page(monkeypatch, tmp_path, store_path, {**query, "runs": "no-such-run"})
    assert any("no-such-run" in w.value for w in at.warning)
    assert "From 1 stored run(s): 500 examples" in _captions(at)


def test_the_overview_says_which_runs_its_headline_charts_rest_on(monkeypatch, tmp_path,
                                                                   store_path):  # fmt: skip
    monkeypatch.setenv("MBP_STORE", str(store_path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    said = _captions(at)
    # the fixture's posthoc sweeps: 6 (model, task, lang) x 3 orders; the small run loses
    assert "From 18 stored run(s): 500 examples · seeds 0 1 2 · posthoc" in said
    assert "From 4 stored run(s): 500 examples · seeds 0 · posthoc" in said  # XNLI layers


def test_each_claim_says_which_runs_its_verdict_rests_on(monkeypatch, tmp_path, store_path):
    monkeypatch.setenv("MBP_STORE", str(store_path))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("views/claims.py").run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [c.value for c in at.caption if c.value.startswith("From ")]
    # claim 1: both models' SST-2 importance sweeps; claim 2: e5-small's 4 XNLI languages and
    # SST-2; claim 3: e5-small's 4 XNLI layer-wise runs
    assert [line.split(":")[0] for line in lines] == [
        "From 2 stored run(s)", "From 5 stored run(s)", "From 4 stored run(s)"
    ]  # fmt: skip
