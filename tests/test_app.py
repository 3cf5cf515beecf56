"""Every dashboard page, rendered by Streamlit's AppTest against the fixture store and an empty one.

Pages only read the store, so nothing is patched: MBP_STORE points at a copy of the fixture
store (tests/fixtures/store_fixture.py) or at a path with no store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from mbp.experiments.plan import paper_plan
from mbp.figures import LANG_COLORS
from tests.chart_spec import layers, rows, scale_map
from tests.fixtures.store_fixture import fixture_store_copy

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGES = ("overview", "curves", "layers", "heads", "claims", "live_run", "runs_data")
TITLES = {
    "overview": "How prunable are BERT's attention heads?",
    "curves": "Pruning curves",
    "layers": "Layer importance",
    "heads": "Head importance",
    "claims": "Paper claims",
    "live_run": "Live run",
    "runs_data": "Runs & data",
}


@pytest.fixture
def fixture_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MBP_STORE", str(fixture_store_copy(tmp_path / "store.duckdb")))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    return tmp_path


@pytest.fixture
def empty_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MBP_STORE", str(tmp_path / "empty" / "store.duckdb"))
    monkeypatch.setenv("MBP_PRECOMPUTED", str(tmp_path / "no-export"))  # stay empty
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)
    return tmp_path


def open_page(page: str, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    if query:
        at.query_params.update(query)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [TITLES[page]]
    assert not at.error, [e.value for e in at.error]
    return at


def page_tables(at: AppTest) -> list:
    """The page's own tables, without the "Runs shown" provenance tables under its charts."""
    return [d.value for d in at.dataframe if "checkpoint" not in d.value.columns]


def vega_spec(element) -> dict:
    """A vega_lite_chart element's Vega-Lite spec with the Arrow datasets Streamlit split off
    put back inline as rows, so `tests.chart_spec` reads it like `chart.to_dict()`."""
    spec = json.loads(element.proto.spec)
    spec["datasets"] = {
        d.name: convert_arrow_bytes_to_pandas_df(d.data.data).to_dict("records")
        for d in element.proto.datasets
    }
    return spec


def figures(at: AppTest) -> list:
    """Every chart the page sent, in page order, as its Vega-Lite spec (datasets inline)."""
    found: list = []

    def walk(node) -> None:
        kind = getattr(node, "type", None)
        if kind == "vega_lite_chart":
            found.append(vega_spec(node))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at.main)
    return found


def drawn(spec: dict, role: str) -> list[dict]:
    """The rows of the one layer of `spec` named `role`."""
    (layer,) = layers(spec, role)
    return rows(spec, layer)


def roles(spec: dict, role: str) -> list[dict]:
    """The layers of `spec` a builder named `role`."""
    return layers(spec, role)


# ----------------------------------------------------------------------------- fixture store


def test_router_registers_every_page_and_the_shared_sidebar(fixture_env):
    at = open_page("overview")
    assert at.sidebar.selectbox(key="sel_task").value == "xnli"
    assert at.sidebar.multiselect(key="sel_models").value == ["e5-small"]
    assert at.sidebar.multiselect(key="sel_langs").value == ["en"]
    assert at.query_params["task"] == "xnli" and at.query_params["model"] == "e5-small"
    assert at.sidebar.radio(key="image_format").options == ["PNG", "SVG"]
    for page in PAGES:  # every page file is a registered navigation page
        at.switch_page(f"views/{page}.py")


def test_overview(fixture_env):
    at = open_page("overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Models": "2", "Tasks": "2", "Languages": "4", "Runs": "30",
                       "Curve points": "330"}  # fmt: skip
    assert any("sentence-embedding fine-tunes" in i.value for i in at.info)
    assert any(
        "all-MiniLM-L6-v2" in i.value and "multilingual-e5-small" in i.value for i in at.info
    )
    assert any("on cpu" in c.value for c in at.caption)  # the device results were computed on
    headline, bars = figures(at)
    (curve,) = roles(headline, "curve")
    assert {r["task"] for r in rows(headline, curve)} == {"sst2", "xnli"}
    assert len(rows(bars, roles(bars, "bars")[0])) == 4  # one bar per XNLI language
    table = page_tables(at)[0]
    assert len(table) == 3 and set(table["model"]) == {"e5-small", "minilm-l6"}
    assert sum("supported" in m.value for m in at.markdown) == 3  # the three verdicts
    (plan,) = [e for e in at.expander if "Reproduction plan" in e.label]
    progress = page_tables(at)[1]  # the plan table inside it, from the fixture's runs
    assert (
        plan.label
        == f"Reproduction plan: {int((progress.state == 'done').sum())} of {len(paper_plan())} "
        "steps finished"
    )
    assert progress.loc[progress.step == "glue-sst2-e5-small", "done"].item() == 3


def test_curves_page_shows_orders_band_and_reference(fixture_env):
    at = open_page("curves")
    (fig,) = figures(at)
    assert list(dict.fromkeys(r["order_name"] for r in drawn(fig, "curve"))) == [
        "importance", "reverse", "random"
    ]  # fmt: skip
    assert {r["order_name"] for r in drawn(fig, "band")} == {"random"}
    (ref,) = drawn(fig, "reference")
    assert ref["y"] == 0.786  # the fixture's unpruned e5-small XNLI en accuracy
    glance = page_tables(at)[0]
    assert list(glance["order"]) == ["importance", "random", "reverse"]
    assert glance["seeds"].tolist() == [1, 3, 1]
    (download,) = at.get("download_button")  # the chart as PNG (the sidebar's default)
    assert download.proto.label == "PNG" and download.proto.deferred_file_id


def test_curves_draw_a_labelled_chance_line_and_name_orders_without_data(fixture_env):
    at = open_page("curves")
    (fig,) = figures(at)
    (chance,) = drawn(fig, "chance")  # XNLI accuracy: three classes
    assert chance["y"] == pytest.approx(1 / 3) and "chance" in chance["text"]
    assert not [i for i in at.info if "iterative" in i.value]
    at.pills(key="cv_orders").set_value(["importance", "iterative"]).run()
    assert not at.exception
    (notice,) = [i.value for i in at.info if "iterative" in i.value]
    assert "No **iterative** curves" in notice and "--order iterative" in notice
    assert {r["order_name"] for r in drawn(figures(at)[0], "curve")} == {"importance"}


def test_curves_say_which_models_have_no_xnli_runs(fixture_env):
    at = open_page("curves", {"task": "xnli", "model": "e5-small", "lang": "en"})
    notes = [c.value for c in at.sidebar.caption if "No xnli runs" in c.value]
    assert notes == ["No xnli runs stored for minilm-l6 (English-only): not offered here."]
    at.sidebar.selectbox(key="sel_task").set_value("sst2").run()
    assert not [c for c in at.sidebar.caption if "runs stored for" in c.value]  # both have sst2


def test_every_page_reaches_the_glossary(fixture_env):
    from mbp.analysis.glossary import GLOSSARY

    at = open_page("overview")
    for page in PAGES:
        if page != "overview":
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, page
        (box,) = [e for e in at.sidebar.expander if e.label == "Glossary"]
        text = " ".join(m.value for m in box.markdown)
        assert all(f"**{term}**" in text for term in GLOSSARY), page
        assert "relative drop" in text and "retrain" in text and "seeds" in text


def test_glossary_defines_the_labels_the_pages_use():
    """The terms a first visitor meets on the pages have an entry, named as the pages name
    them (the At-a-glance column comes from the code that computes it)."""
    import pandas as pd

    from mbp.analysis.glossary import GLOSSARY
    from mbp.analysis.tables import prunability_table

    summary = pd.DataFrame({"model": "m", "lang": "en", "order_name": "importance",
                            "fraction": [0.0, 0.5], "mean": [0.8, 0.7], "base": 0.8,
                            "n_seeds": 1})  # fmt: skip
    column = next(c for c in prunability_table(summary).columns if c.startswith("prunable"))
    for term in ("reliance", "cell", "Pareto front", "prune-order seeds vs training seeds", column):
        assert term in GLOSSARY, term
    assert "bottom third" in GLOSSARY["reliance"] and "top third" in GLOSSARY["reliance"]
    assert "--train-seed" in GLOSSARY["prune-order seeds vs training seeds"]


def test_curves_widget_change_relative_scale_and_url(fixture_env):
    at = open_page("curves")
    at.button_group(key="cv_scale").set_value("relative").run()
    assert not at.exception
    (fig,) = figures(at)
    assert roles(fig, "curve")[0]["encoding"]["y"]["title"] == "% of unpruned accuracy"
    assert [r["y"] for r in drawn(fig, "reference")] == [100]
    assert at.query_params["y"] == "relative"
    at.sidebar.radio(key="image_format").set_value("svg").run()
    (download,) = at.get("download_button")
    assert download.proto.label == "SVG"


def test_curves_against_flops_saved_with_the_pareto_front(fixture_env):
    at = open_page("curves")
    at.button_group(key="cv_x").set_value("flops").run()
    at.toggle(key="cv_pareto").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    (fig,) = figures(at)
    assert (
        roles(fig, "curve")[0]["encoding"]["x"]["title"] == "% of encoder FLOPs per example saved"
    )
    curve_x = {r["x"] for r in drawn(fig, "curve")}
    assert 0 < max(curve_x) < 100  # the FFN stays: all heads pruned saves well under 100 %
    assert {r["x"] for r in drawn(fig, "pareto")} <= curve_x
    assert at.query_params["x"] == "flops" and at.query_params["pareto"] == "1"
    # the same view from its link
    again = open_page("curves", {"x": "params", "pareto": "1"})
    (fig,) = figures(again)
    assert roles(fig, "curve")[0]["encoding"]["x"]["title"] == "% of parameters saved"
    assert drawn(fig, "pareto")


def test_curves_from_a_shared_link_overlay_languages(fixture_env):
    at = open_page(
        "curves", {"task": "xnli", "model": "e5-small", "lang": "de,sw", "y": "relative"}
    )
    assert at.sidebar.multiselect(key="sel_langs").value == ["de", "sw"]
    (fig,) = figures(at)
    colours = {r["lang"]: r["color"] for r in drawn(fig, "curve")}
    assert colours == {"de": LANG_COLORS["de"], "sw": LANG_COLORS["sw"]}
    assert roles(fig, "curve")[0]["encoding"]["y"]["title"] == "% of unpruned accuracy"
    assert len(page_tables(at)[0]) == 6  # 2 languages x 3 orders


def test_curves_overlay_models_on_sst2(fixture_env):
    at = open_page("curves", {"task": "sst2", "model": "e5-small,minilm-l6", "lang": "en"})
    (fig,) = figures(at)
    assert {r["model"] for r in drawn(fig, "curve")} == {"e5-small", "minilm-l6"}


def test_layers_page(fixture_env):
    at = open_page("layers")
    heatmap, scatter = figures(at)
    (heat,) = roles(heatmap, "heat")
    domain = heat["encoding"]["color"]["scale"]["domain"]
    assert domain[0] == -domain[-1] and scale_map(heat["encoding"]["color"])[0.0] == "#F7F7F7"
    targets = heat["encoding"]["x"]["sort"]
    assert targets[:2] == ["L1", "L2"] and targets[-3:] == ["bottom", "middle", "top"]
    assert len(heat["encoding"]["y"]["sort"]) == 4
    assert {r["target"] for r in rows(heatmap, heat)} == set(targets)
    (language,) = roles(scatter, "language")
    assert language["encoding"]["x"]["scale"]["type"] == "log"
    assert {r["lang"] for r in rows(scatter, language)} == {"en", "de", "tr", "sw"}
    table = page_tables(at)[0]
    assert (
        table.set_index("lang").loc["sw", "reliance"]
        > 0
        > table.set_index("lang").loc["en", "reliance"]
    )
    at.selectbox(key="ly_sort").set_value("pre-training size").run()
    assert page_tables(at)[0]["lang"].tolist() == ["en", "de", "tr", "sw"]  # most articles first
    assert at.query_params["sort"] == "pre-training size"


def in_columns(at: AppTest) -> list[tuple[bool, object]]:
    """(inside an st.columns column?, table) for every table of the page, in page order."""
    found: list = []

    def walk(node, nested: bool) -> None:
        kind = getattr(node, "type", None)
        if kind == "dataframe":
            found.append((nested, node.value))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child, nested or kind == "column")

    walk(at.main, False)
    return found


def test_layers_reliance_table_is_full_width_under_the_scatter(fixture_env):
    at = open_page("layers")
    (nested,) = [inside for inside, table in in_columns(at) if "reliance" in table.columns]
    assert not nested  # beside the scatter, its columns scrolled off


def test_layers_relative_drop_is_labelled_as_a_share_not_points(fixture_env):
    at = open_page("layers")

    def heat() -> dict:
        return roles(figures(at)[0], "heat")[0]["encoding"]

    assert heat()["color"]["legend"]["title"] == ["accuracy drop", "(points)"]
    at.button_group(key="ly_value").set_value("relative").run()
    assert not at.exception
    assert heat()["color"]["legend"]["title"] == ["accuracy relative drop", "(% of unpruned)"]
    assert "points" not in json.dumps(heat()["tooltip"])
    assert any("% of unpruned)" in c.value for c in at.caption)  # the scale's caption too


def test_heads_page(fixture_env):
    at = open_page("heads")
    single, diff, spearman = figures(at)
    cells = rows(single, roles(single, "heat")[0])
    legend = roles(single, "heat")[0]["encoding"]["color"]["legend"]["title"]
    assert legend == ["share of total", "importance"]  # the page draws shares, not raw scores
    assert sum(c["value"] for c in cells) == pytest.approx(1.0)
    assert len(cells) == 144 and {c["layer"] for c in cells} == set(range(1, 13))
    domain = roles(diff, "heat")[0]["encoding"]["color"]["scale"]["domain"]
    assert domain[0] == -domain[-1] and len(domain) == 9  # diverging, 0 in the middle
    (rho,) = roles(spearman, "heat")
    values = rows(spearman, rho)
    off = [v["value"] for v in values if v["row"] != v["column"]]
    assert len(values) == 16
    low, high = rho["encoding"]["color"]["scale"]["domain"]
    assert (low, high) == (pytest.approx(min(off)), pytest.approx(max(off)))
    at.selectbox(key="hd_lang").set_value("sw").run()
    assert not at.exception and at.query_params["hl"] == "sw"
    assert "sw" in figures(at)[0]["title"]["text"]


def test_heads_model_task_and_estimator_are_in_the_url_and_read_back(fixture_env):
    at = open_page("heads")
    assert at.selectbox(key="hd_run").value == "e5-small · xnli"
    assert (at.query_params["hmodel"], at.query_params["htask"]) == ("e5-small", "xnli")
    assert at.query_params["est"] == "gradient"
    at.selectbox(key="hd_run").set_value("minilm-l6 · sst2").run()
    assert not at.exception and at.query_params["hmodel"] == "minilm-l6"
    assert at.query_params["htask"] == "sst2"
    again = open_page("heads", {"hmodel": "minilm-l6", "htask": "sst2", "est": "gradient"})
    assert again.selectbox(key="hd_run").value == "minilm-l6 · sst2"  # the link's choice
    assert again.selectbox(key="hd_estimator").value == "gradient"


def test_claims_page_verdicts_come_with_numbers(fixture_env):
    at = open_page("claims")
    assert len(at.success) == 3 and all("Supported on these data" in s.value for s in at.success)
    claim1, claim2, claim3 = figures(at)
    assert claim1["facet"]["column"]["field"] == "task"  # one panel per GLUE task
    assert roles(claim2, "xnli-mean") and roles(claim3, "language")
    numbers = next(t for t in page_tables(at) if "quantity" in t.columns).set_index("quantity")
    numbers = numbers["value"]
    assert numbers["matched points"] == "5"
    assert any("minilm-l6" in m.value for m in at.markdown)  # what the verdict used


def test_claims_page_with_a_swapped_pair_is_not_supported_or_inconclusive(fixture_env):
    at = open_page("claims")
    at.selectbox(key="cl_mbert").set_value("minilm-l6").run()
    assert not at.exception
    assert len(at.success) < 3  # minilm-l6 has no XNLI results: claims 2 and 3 cannot hold


def test_live_run_form_starts_from_the_sidebar_and_follows_it(fixture_env):
    at = open_page("live_run")  # the sidebar: e5-small, xnli, en
    assert at.selectbox(key="lr_model").value == "e5-small"
    assert at.selectbox(key="lr_task").value == "xnli"
    assert at.multiselect(key="lr_langs_xnli").value == ["en"]
    at.sidebar.multiselect(key="sel_langs").set_value(["de", "sw"]).run()
    assert at.multiselect(key="lr_langs_xnli").value == ["de", "sw"]
    at.selectbox(key="lr_model").set_value("minilm-l6").run()  # still the visitor's to change
    at.text_input(key="lr_grid").set_value("0,0.5").run()
    assert at.selectbox(key="lr_model").value == "minilm-l6"
    at.sidebar.selectbox(key="sel_task").set_value("sst2").run()
    assert not at.exception
    assert at.selectbox(key="lr_task").value == "sst2"
    assert at.selectbox(key="lr_model").value == "minilm-l6"  # the sidebar's model is unchanged


def test_layer_and_head_pickers_follow_the_sidebar_where_it_has_results(fixture_env):
    at = open_page("heads")
    assert at.selectbox(key="hd_run").value == "e5-small · xnli"
    at.sidebar.selectbox(key="sel_task").set_value("sst2").run()
    at.sidebar.multiselect(key="sel_models").set_value(["minilm-l6"]).run()
    assert not at.exception
    assert at.selectbox(key="hd_run").value == "minilm-l6 · sst2"
    assert at.query_params["hmodel"] == "minilm-l6"
    at.switch_page("views/layers.py").run()
    assert at.selectbox(key="ly_run").value == "minilm-l6 · sst2"
    at.selectbox(key="ly_run").set_value("e5-small · xnli").run()  # the page's own choice
    at.selectbox(key="ly_sort").set_value("family").run()
    assert at.selectbox(key="ly_run").value == "e5-small · xnli"
    at.sidebar.multiselect(key="sel_models").set_value(["e5-small"]).run()
    assert not at.exception and at.selectbox(key="ly_run").value == "e5-small · sst2"


def test_live_run_page_form_and_validation(fixture_env):
    at = open_page("live_run")
    assert at.button(key="lr_launch").label == "Launch" and not at.button(key="lr_launch").disabled
    assert any("cells" in m.value and "estimated" in m.value for m in at.markdown)
    at.text_input(key="lr_grid").set_value("0,1.5").run()
    assert any("outside [0, 1]" in e.value for e in at.error)
    assert at.button(key="lr_launch").disabled


def test_live_run_page_says_how_many_examples_separate_two_languages(fixture_env):
    from mbp.analysis import power

    at = open_page("live_run")
    at.selectbox(key="lr_task").set_value("sst2")
    at.selectbox(key="lr_model").set_value("e5-small").run()  # sst2: 3 random seeds stored

    def guidance() -> str:
        return " ".join(m.value for m in at.markdown)

    needed = power.examples_needed(*power.around(0.5, 0.05))  # the defaults: 5 points near 50 %
    assert f"needs **{needed:,} examples per language**: your 200 are :red[not enough]" in (
        guidance()
    )
    assert "**Random-order seeds**: one seed's score spreads by" in guidance()
    assert "**Fine-tunes**: spread unknown" in guidance()  # no recipe with two seeds stored
    assert any("95 % two-sided test, 80 % power" in c.value for c in at.caption)
    at.number_input(key="lr_examples").set_value(2000).run()
    assert not at.exception
    assert "your 2,000 are :green[enough]" in guidance()
    assert "2,000 examples per language separate gaps of" in guidance()
    at.slider(key="lr_gap").set_value(2).run()
    assert "your 2,000 are :red[not enough]" in guidance()


def test_layers_page_says_when_its_runs_have_no_intervals(fixture_env):
    at = open_page("layers", {"ci": "1"})
    assert at.toggle(key="ly_ci").value
    assert any("these runs predate per-example outcomes" in c.value for c in at.caption)
    assert not roles(figures(at)[0], "within_noise")  # no invented intervals: no marks


def test_runs_and_data_page(fixture_env):
    at = open_page("runs_data")
    runs = page_tables(at)[0]
    assert len(runs) == 30 and {"kind", "model", "status", "progress"} <= set(runs.columns)
    assert (runs["progress"] == 1.0).all()
    assert len(at.get("download_button")) == 2
    at.multiselect(key="rd_kind").set_value(["layers"]).run()
    assert len(page_tables(at)[0]) == 6


def test_runs_and_data_marks_the_runs_with_outcomes(fixture_env):
    """Which runs can have 95 % intervals: an `outcomes` column and a count, from the store
    (the fixture stores none; after one run gains some, that run and the count say so)."""
    import os

    from mbp.store import ResultsStore
    from mbp.store.outcomes import outcome_row

    def outcomes(at: AppTest) -> tuple[dict[str, bool], str]:
        frame = page_tables(at)[0]
        (count,) = [c.value for c in at.caption if "with per-example outcomes" in c.value]
        return dict(zip(frame["run_id"], frame["outcomes"], strict=True)), count

    flags, count = outcomes(open_page("runs_data"))
    assert len(flags) == 30 and not any(flags.values())
    assert count.startswith("30 of 30 runs · 0 with per-example outcomes (95 % intervals)")
    store = ResultsStore(os.environ["MBP_STORE"])
    run = store.runs(kind="sweep")["run_id"].iloc[0]
    labels = np.array([0, 1, 2, 1])
    store.add_outcomes(run, [outcome_row("random/0/0.3", labels, labels, regression=False)])
    del store
    flags, count = outcomes(open_page("runs_data"))
    assert [r for r, has in flags.items() if has] == [run]
    assert "· 1 with per-example outcomes" in count


def test_a_store_filled_from_an_older_precomputed_says_so_until_the_replace(monkeypatch, tmp_path):
    """precomputed/ changed after the store was filled: one sidebar notice with the command;
    the Runs & data button replaces the shipped run (the user's own stays) and the notice goes."""
    from mbp.store import ResultsStore, import_into
    from tests.export_versions import RUN, examples, write_version
    from tests.test_store_transfer import start_run

    shipped, path = tmp_path / "precomputed", tmp_path / "store.duckdb"
    import_into(ResultsStore(path), write_version(shipped, 0))
    start_run(ResultsStore(path), "mine")
    write_version(shipped, 1)  # a newer precomputed/ (git pull)
    monkeypatch.setenv("MBP_STORE", str(path))
    monkeypatch.setenv("MBP_PRECOMPUTED", str(shipped))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)

    def runs(at: AppTest) -> dict[str, int]:
        frame = page_tables(at)[0]
        return dict(zip(frame["run_id"], frame["n_examples"], strict=True))

    at = open_page("runs_data")
    (notice,) = [w.value for w in at.sidebar.warning]
    assert "precomputed/ changed since this store was filled" in notice
    assert f"`mbp import {shipped} --replace --store {path}`" in notice
    assert runs(at) == {RUN: examples(0), "mine": 100}  # not replaced at start-up
    at.button(key="rd_replace").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not at.sidebar.warning and not [b for b in at.button if b.key == "rd_replace"]
    assert any("Replaced 1 shipped run" in s.value for s in at.success)
    assert runs(at) == {RUN: examples(1), "mine": 100}


# ----------------------------------------------------------------------------- empty store


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_an_empty_store(empty_env, page):
    at = open_page(page)
    assert not at.get("vega_lite_chart")
    if page == "live_run":  # the form works without results
        assert at.button(key="lr_launch").label == "Launch"
        return
    assert any("mbp " in i.value for i in at.info), [i.value for i in at.info]


def test_a_broken_store_path_is_a_friendly_error(monkeypatch, tmp_path):
    folder = tmp_path / "a-directory"
    folder.mkdir()
    monkeypatch.setenv("MBP_STORE", str(folder))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert any("is a directory" in e.value for e in [*at.error, *at.sidebar.error])
    assert [t.value for t in at.title] == [TITLES["overview"]]  # the page still renders


def test_demo_visitors_see_and_cancel_only_their_own_live_runs(fixture_env, monkeypatch):
    """A hosted demo shared by several visitors: no job list, no commands or paths, and a run
    is visible (and cancellable) only in the browser session that launched it."""
    from mbp.live.jobs import JobRegistry

    monkeypatch.setenv("MBP_MODE", "demo")
    monkeypatch.setenv("MBP_DEMO_LIVE_RUNS", "capped")
    registry = JobRegistry(fixture_env / "jobs")
    theirs = registry.launch(["sleep", "60"], meta={"owner": "another-visitor", "label": "x"})
    mine = registry.launch(["sleep", "60"], meta={"owner": "me", "label": "y"})
    try:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.session_state["mbp_visitor"] = "me"
        at.query_params["job"] = theirs.job_id
        at.run()
        at.switch_page("views/live_run.py").run()
        assert not at.exception, [e.value for e in at.exception]
        text = " ".join(w.value for w in at.warning)
        assert "not available in the demo" in text
        assert not [b for b in at.button if b.label == "Cancel"]
        assert not at.code and "Recent live runs" not in [s.value for s in at.subheader]
        assert not any("Store:" in c.value for c in at.sidebar.caption)  # no server paths
        at.query_params["job"] = mine.job_id
        at.run()
        assert [b.label for b in at.button if b.label == "Cancel"] == ["Cancel"]
        assert not at.code  # the log (commands, paths) stays hidden in the demo
    finally:
        registry.cancel(theirs.job_id)
        registry.cancel(mine.job_id)


def test_overview_says_how_many_shown_runs_have_outcomes(fixture_env, monkeypatch):
    """One line on the Overview while its runs lack per-example outcomes, counted from the
    store: the fixture stores none; after one run gains some, the count says 1."""
    import os

    from mbp.analysis.tables import chart_runs
    from mbp.store import ResultsStore
    from mbp.store.outcomes import outcome_row

    def line(at: AppTest) -> list[str]:
        return [w.value for w in at.warning if "per-example outcomes" in w.value]

    store = ResultsStore(os.environ["MBP_STORE"])
    shown = [
        r
        for frame in (
            chart_runs(store, kind="sweep", protocol="posthoc"),
            chart_runs(store, kind="layers", task="xnli", models=["e5-small"], protocol="posthoc"),
        )
        for r in frame.loc[frame["shown"], "run_id"]
    ]
    (text,) = line(open_page("overview"))
    assert text.startswith(f"**0 of {len(set(shown))} runs shown here have per-example outcomes")
    assert "95 % intervals" in text and "survives resampling" in text
    assert "mbp precompute --backfill-outcomes" in text and "The recompute in progress" in text
    labels = np.array([0, 1, 2, 1])
    store.add_outcomes(shown[0], [outcome_row("random/0/0.3", labels, labels, regression=False)])
    (text,) = line(open_page("overview"))
    assert text.startswith(f"**1 of {len(set(shown))} runs shown here")
