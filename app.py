"""mbp dashboard: how prunable are the attention heads of (multilingual) BERT models?

    streamlit run app.py                      # reads $MBP_STORE, else the user data dir's store
    MBP_MODE=demo streamlit run app.py        # hosted demo: read-only copy of precomputed/

The router: page config, the shared sidebar (model(s), task, language(s), mirrored in the URL so
every view is a shareable link) and the pages in views/, registered explicitly (not pages/: Streamlit would treat that folder
as its own page directory and route deep links around the router). An empty store
is filled from precomputed/ (the store's own Parquet export) on start-up. See docs/DASHBOARD.md.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(
    page_title="mbp · prunability of attention heads",
    page_icon=":material/content_cut:",
    layout="wide",
    initial_sidebar_state="expanded",
)

from views import _common as common  # noqa: E402  (after set_page_config, by design)

# Streamlit serves the default page at `/` only (its url_path is reserved, not served), so the
# Overview reserves "home" and a hidden page at `/overview` sends a visitor to `/`, link kept.
OVERVIEW = st.Page(
    "views/overview.py", title="Overview", icon=":material/home:", url_path="home", default=True
)
OVERVIEW_PATH = "overview"
PAGES = [
    OVERVIEW,
    st.Page("views/curves.py", title="Pruning curves", icon=":material/show_chart:",
            url_path="curves"),
    st.Page("views/layers.py", title="Layer importance", icon=":material/stacks:",
            url_path="layers"),
    st.Page("views/heads.py", title="Head importance", icon=":material/grid_on:",
            url_path="heads"),
    st.Page("views/claims.py", title="Paper claims", icon=":material/fact_check:",
            url_path="claims"),
    st.Page("views/live_run.py", title="Live run", icon=":material/play_circle:",
            url_path="live"),
    st.Page("views/runs_data.py", title="Runs & data", icon=":material/table_view:",
            url_path="runs"),
]  # fmt: skip


def sidebar() -> None:
    """Store status, the shared selection, and the chart download format."""
    try:
        _, info = common.open_store()
        common.refresh_token()
    except Exception as err:  # a broken store path must not take the router down
        st.sidebar.error(f"Cannot open the results store: {err}")
        return
    cfg = common.settings()
    notice = common.stale_export_notice()
    if notice:  # replaced only when the user asks (Runs & data, or the command it names)
        st.sidebar.warning(notice, icon=":material/update:")
    if cfg.demo:
        live = {"off": "live runs off", "capped": "small live runs only"}.get(cfg.live_runs, "")
        st.sidebar.info(f"**Demo mode** · precomputed results, read-only · {live}")
    try:
        common.sidebar_selection()
    except Exception as err:
        st.sidebar.error(f"The selectors failed: {err}")
    st.sidebar.divider()
    st.sidebar.radio(
        "Chart downloads", ["png", "svg"], key="image_format", horizontal=True,
        format_func=str.upper, help="Format of the download button under each chart",
    )  # fmt: skip
    if not cfg.demo:  # a hosted demo shows no server paths
        st.sidebar.caption(f"Store: `{info.path}`" + (f" · {info.note}" if info.note else ""))


def _to_overview() -> None:
    """`/overview`: the Overview at `/`, with the link's query parameters."""
    st.switch_page(OVERVIEW, query_params={k: st.query_params.get_all(k) for k in st.query_params})


OVERVIEW_LINK = st.Page(_to_overview, title="Overview", url_path=OVERVIEW_PATH, visibility="hidden")
navigation = st.navigation([*PAGES, OVERVIEW_LINK], position="sidebar")
if navigation.url_path == OVERVIEW_PATH:  # before the sidebar: it would be drawn twice
    _to_overview()
sidebar()
common.glossary()  # every page: the terms its charts use
navigation.run()
