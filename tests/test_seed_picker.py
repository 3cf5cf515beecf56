"""`views._common.seed_picker`: a page's picker starts from the link, else the sidebar, and
follows the sidebar while the page is open. A one-file app stands in for a page: its sidebar
selectbox plays the shared sidebar, so no store is needed."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page() -> None:  # runs as the AppTest script: imports inside
    import streamlit as st

    from views import _common as common

    options = ["a · x", "b · x", "c · y"]
    side = st.sidebar.selectbox("Sidebar", ["b · x", "a · x", "z · x"], key="side")
    langs = st.sidebar.multiselect("Sidebar langs", ["en", "de", "xx"], ["en"], key="side_langs")

    def body() -> None:
        common.seed_picker("pick", options, side, link=("pm", "pt"))
        st.selectbox("Pick", options, key="pick")
        group = st.radio("Group", ["1", "2"], key="group")  # a new picker per group
        common.seed_picker(f"langs_{group}", ["en", "de", "sw"], langs, ["sw"])
        st.multiselect("Languages", ["en", "de", "sw"], key=f"langs_{group}")

    common.run_page("Seed picker", body)


def _open(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_function(_page, default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("Link:")]


def test_a_new_picker_starts_from_the_sidebar_and_without_a_notice():
    at = _open()
    assert at.selectbox(key="pick").value == "b · x"
    assert at.multiselect(key="langs_1").value == ["en"]
    assert _notices(at) == []


def test_the_links_choice_wins_over_the_sidebar():
    at = _open({"pm": "c", "pt": "y"})
    assert at.selectbox(key="pick").value == "c · y"
    assert _notices(at) == []


def test_an_unknown_link_gets_a_notice_and_the_sidebars_value():
    at = _open({"pm": "nope", "pt": "x"})
    assert at.selectbox(key="pick").value == "b · x"
    assert _notices(at) == [
        "Link: pm='nope' pt='x' has no stored results on this page: showing b · x."
    ]


def test_the_picker_follows_a_sidebar_change_and_keeps_its_own_choice_until_then():
    at = _open({"pm": "c", "pt": "y"})
    at.sidebar.multiselect(key="side_langs").set_value(["de"]).run()  # not the picker's sidebar
    assert at.selectbox(key="pick").value == "c · y"  # the link's choice stays
    assert at.multiselect(key="langs_1").value == ["de"]
    at.sidebar.selectbox(key="side").set_value("a · x").run()
    assert at.selectbox(key="pick").value == "a · x"
    at.selectbox(key="pick").set_value("c · y").run()  # the visitor's own choice
    assert at.selectbox(key="pick").value == "c · y"


def test_a_sidebar_value_not_among_the_options_leaves_the_picker_as_it_is():
    at = _open()
    at.selectbox(key="pick").set_value("c · y").run()
    at.sidebar.selectbox(key="side").set_value("z · x").run()
    assert not at.exception and at.selectbox(key="pick").value == "c · y"
    at.sidebar.multiselect(key="side_langs").set_value(["xx"]).run()
    assert at.multiselect(key="langs_1").value == ["en"]  # no sidebar item counts: it stays
    at.sidebar.selectbox(key="side").set_value("a · x").run()  # a valid value again: followed
    assert at.selectbox(key="pick").value == "a · x"


def test_a_new_picker_with_no_sidebar_value_among_the_options_takes_the_default():
    at = _open()
    at.sidebar.multiselect(key="side_langs").set_value(["xx"]).run()
    assert at.multiselect(key="langs_1").value == ["en"]  # an open picker stays ...
    at.radio(key="group").set_value("2").run()  # ... a new one takes the default
    assert at.multiselect(key="langs_2").value == ["sw"]


def test_the_sidebar_value_a_picker_follows_is_the_first_sidebar_model_among_its_options():
    """`Selection.first_model_among`, what the Layers, Heads and Live-run pages pass to
    `seed_picker`: the sidebar's order decides, and a "model · task" option needs the
    sidebar's task."""
    from views._common import Selection

    sel = Selection(["z", "b", "a"], "x", ["en"])
    assert sel.first_model_among(["a", "b", "c"]) == "b"  # the sidebar's order, not the options'
    runs = ["a · x", "b · y", "c · x"]
    assert sel.first_model_among(runs, with_task=True) == "a · x"  # b has no run on task x
    assert sel.first_model_among(["c", "d"]) is None
    assert Selection(["b"], "y", []).first_model_among(runs, with_task=True) == "b · y"
    assert Selection(["a"], None, []).first_model_among(runs, with_task=True) is None
