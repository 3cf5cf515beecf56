"""Links with bad values: each dropped value is named in a one-line notice, nothing crashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures.store_fixture import fixture_store_copy

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("MBP_STORE", str(fixture_store_copy(tmp_path / "store.duckdb")))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("MBP_MODE", raising=False)


def open_with(query: dict[str, str], page: str = "curves") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query)
    at.switch_page(f"views/{page}.py").run()  # the link opens this page first
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("Link:")]


def test_unknown_values_are_named_and_replaced(env):
    at = open_with({"task": "nope", "model": "/etc/passwd", "lang": "xx", "y": "foo",
                    "orders": "best,random", "protocol": "magic"})  # fmt: skip
    said = "\n".join(notices(at))
    assert "task='nope' not available here" in said and "showing xnli" in said
    assert "lang='xx' not available here" in said
    assert "y='foo' not available here: showing absolute" in said
    assert "orders='best' not available here" in said
    assert "protocol='magic' not available here" in said
    assert at.session_state["sel_task"] == "xnli"
    assert at.pills(key="cv_orders").value == ["random"]
    assert at.query_params["y"] == "absolute"


def test_an_unknown_model_on_a_known_task_is_named(env):
    at = open_with({"task": "xnli", "model": "minilm-l6,e5-small", "lang": "en"})
    assert any("model='minilm-l6' not available here: no xnli results" in n for n in notices(at))
    assert at.multiselect(key="sel_models").value == ["e5-small"]


def test_repeated_values_are_dropped_once_and_many_values_bounded(env):
    at = open_with({"task": "xnli", "model": "e5-small", "lang": ",".join(["en", "de"] * 1500)})
    assert at.multiselect(key="sel_langs").value == ["en", "de"]
    assert notices(at) == ["Link: 2998 repeated lang= value(s) dropped."]
    many = ",".join(f"l{i}" for i in range(200))
    at = open_with({"task": "xnli", "model": "e5-small", "lang": many})
    said = notices(at)
    assert said[0] == "Link: lang= has 200 values; only the first 64 are read."
    assert "'l0', 'l1', 'l2', 'l3', 'l4' ..." in said[1] and len(said[1]) < 200
    assert at.multiselect(key="sel_langs").value == ["en"]  # the default: first stored language


def test_a_clean_link_shows_no_notice(env):
    at = open_with({"task": "xnli", "model": "e5-small", "lang": "en,de", "y": "relative"})
    assert notices(at) == []
    at.run()  # a re-run of the same page: still nothing to say
    assert notices(at) == []


def test_the_layer_and_head_pickers_are_in_the_link(env):
    at = open_with({"lmodel": "e5-small", "ltask": "sst2"}, page="layers")
    assert at.selectbox(key="ly_run").value == "e5-small · sst2"
    assert at.query_params["lmodel"] == "e5-small" and at.query_params["ltask"] == "sst2"
    at = open_with({"hmodel": "nope", "htask": "xnli"}, page="heads")
    assert any("hmodel='nope' htask='xnli' has no stored results" in n for n in notices(at))
