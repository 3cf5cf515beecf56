"""What every page shares: the store, cached queries, the sidebar selection, charts, errors.

Not a page itself (app.py registers the pages explicitly). The engine side (`mbp.*`) never
imports Streamlit; this module is the only Streamlit glue besides the pages and app.py.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import streamlit as st

from mbp import figures
from mbp.analysis import tables as dashboard_data
from mbp.errors import MbpError
from mbp.figures import chart_image, model_label, safe_filename
from mbp.live.demo import (
    DashboardStore,
    DemoSettings,
    demo_settings,
    open_dashboard_store,
    stale_export_note,
)

if TYPE_CHECKING:  # the claims module is imported where claims are computed, not on start-up
    from mbp.analysis.claims import ClaimResult

REPO_ROOT = Path(__file__).resolve().parent.parent
PRECOMPUTED = REPO_ROOT / "precomputed"


def precomputed_dir() -> Path:
    """The export the dashboard starts from: `$MBP_PRECOMPUTED`, else the repo's precomputed/."""
    return Path(os.environ.get("MBP_PRECOMPUTED") or PRECOMPUTED)


_TOKEN_KEY = "_mbp_version_token"


# ----------------------------------------------------------------------------- settings & store


def _secrets() -> dict[str, Any]:
    """st.secrets as a dict; {} when there is no secrets file (or it is unreadable)."""
    try:
        return {k: st.secrets[k] for k in ("MBP_MODE", "MBP_DEMO_LIVE_RUNS") if k in st.secrets}
    except Exception:  # no secrets.toml, or a malformed one: secrets are optional
        return {}


def settings() -> DemoSettings:
    return demo_settings(os.environ, _secrets())


@st.cache_resource(show_spinner="Opening the results store ...")
def _open_store(path: str, demo: bool, precomputed: str) -> DashboardStore:
    """Open (and on first use fill) the store once per server process."""
    return open_dashboard_store(path, demo=demo, precomputed=precomputed)


def store_path_setting() -> str:
    from mbp.paths import store_path

    return str(store_path(os.environ.get("MBP_STORE") or None))


def open_store() -> tuple[Any, DashboardStore]:
    """(ResultsStore, how it was opened) for this process's settings."""
    cfg = settings()
    opened = _open_store(store_path_setting(), cfg.demo, str(precomputed_dir()))
    return opened.store, opened


def store() -> Any:
    return open_store()[0]


def stale_export_notice() -> str | None:
    """The notice for a store filled from an older precomputed/ (None when it is current, or in
    demo mode, which imports a fresh copy at each start)."""
    _, info = open_store()
    if info.stale_from is None or info.read_only:
        return None
    return stale_export_note(info.stale_from, info.path)


def replace_stale_export() -> int:
    """Replace the store's copies of precomputed/'s runs with its current version (the user's
    own runs stay), then drop the opened store and every cached query so all re-read it.
    Returns the runs replaced."""
    from mbp.store import import_into

    s, info = open_store()
    if info.stale_from is None or info.read_only:
        return 0
    replaced = import_into(s, info.stale_from, replace=True)["replaced"]
    _open_store.clear()  # re-opening re-checks the export: the notice goes
    _TOKENS.pop(info.path, None)
    st.cache_data.clear()
    return replaced


_TOKENS: dict[str, tuple[tuple, str]] = {}  # store path -> (file signature, version token)


def _file_signature(path: str) -> tuple:
    """(mtime, ctime, size) of the store file and its write-ahead log: every committed write
    changes one of them, and reading them costs microseconds instead of a connection."""
    out = []
    for name in (path, f"{path}.wal"):
        try:
            info = os.stat(name)
            out.append((info.st_mtime_ns, info.st_ctime_ns, info.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def refresh_token() -> str:
    """The store's version token for this run: re-read (one short connection) only when the
    store's files changed since the last read."""
    s, info = open_store()
    signature = _file_signature(info.path)  # before the token: the token is never older
    cached = _TOKENS.get(info.path)
    if cached is not None and cached[0] == signature:
        token = cached[1]
    else:
        token = s.version_token()
        _TOKENS[info.path] = (signature, token)
    st.session_state[_TOKEN_KEY] = token
    return token


def token() -> str:
    """The version token read at the start of this script run (app.py refreshes it)."""
    return st.session_state.get(_TOKEN_KEY) or refresh_token()


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple | set):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _thaw(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(_store: Any, store_key: str, version: str, name: str, kwargs: tuple) -> Any:
    fn = getattr(dashboard_data, name)
    return fn(_store, **{k: _thaw(v) for k, v in kwargs})


def query(name: str, **kwargs: Any) -> Any:
    """`mbp.analysis.tables.<name>(store, **kwargs)`, cached until the store changes."""
    s, info = open_store()
    return _cached(s, info.path, token(), name, _freeze(kwargs))


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_claims(
    store_key: str,
    version: str,
    bert: str | None,
    mbert: str | None,
    protocol: str,
    _curves: Any,
    _drops: Any,
) -> list[Any]:
    from mbp.analysis.claims import ModelPair, claim_draws, evaluate_claims_from

    pair = ModelPair(bert, mbert)
    draws = claim_draws(open_store()[0], pair, protocol, _curves)  # intervals, where stored
    return evaluate_claims_from(_curves, _drops, languages(), pair, protocol, *draws)


def stored_models() -> list[str]:
    """Every model with any stored run (curves, layers or importance), sorted."""
    return sorted(query("store_inventory")["model"].dropna().unique().tolist())


def claims(
    bert: str | None = None, mbert: str | None = None, protocol: str = "posthoc"
) -> list[Any]:
    """The three ClaimResults under `protocol` (default model pair unless given), cached until
    the store changes. Reuses the cached curve query the Overview page also draws from."""
    from mbp.analysis.claims import default_pair

    curves = query("curve_summary", protocol=protocol)
    if not (bert or mbert):
        pair = default_pair(stored_models())
        bert, mbert = pair.bert, pair.mbert
    drops = query("layer_drops", model=mbert, task="xnli", protocol=protocol) if mbert else None
    return _cached_claims(open_store()[1].path, token(), bert, mbert, protocol, curves, drops)


def stored_protocols() -> list[str]:
    """Protocols with stored sweep or layer-wise runs, the paper's (retrain) first."""
    return query("protocols")


PROTOCOL_LABELS = {
    "retrain": "retrain (the paper's)",
    "posthoc": "posthoc",
    "both": "both",
}
PROTOCOL_HELP = (
    "retrain, the paper's protocol: heads are removed from the PRE-TRAINED model, which is then "
    "fine-tuned with them removed. posthoc (Michel et al. 2019): heads are removed from the "
    "fine-tuned model, with no retraining. 'both' overlays them where a page can."
)


@st.cache_data(show_spinner=False, max_entries=256)
def _figure(name: str, args: tuple, kwargs: tuple) -> Any:
    return getattr(figures, name)(*args, **dict(kwargs))


def figure(name: str, *args: Any, **kwargs: Any) -> Any:
    """`mbp.figures.<name>(*args, **kwargs)`, cached on its inputs: a rerun with the same
    selection skips building the chart again."""
    return _figure(name, args, tuple(sorted(kwargs.items())))


def verdict_badge(verdict: str) -> str:
    color = {"supported": "green", "not supported": "red"}.get(verdict, "gray")
    return f":{color}-badge[{verdict}]"


def verdict_text(result: ClaimResult, *, markdown: bool = False) -> str:
    """`verdict value (95% interval [low, high])`, or `(no interval)`; no value when the claim
    has no statistic. `markdown`: a coloured badge and a gray interval (the Overview's cards);
    plain text otherwise (a table cell on the Paper claims page)."""
    value = "" if result.value is None else f" {result.value:{result.value_format}}"
    if markdown:
        return f"{verdict_badge(result.verdict)}{value} :gray[({result.interval_short})]"
    return f"{result.verdict}{value} ({result.interval_short})"


# ----------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """The sidebar's shared choice: models, one task, languages."""

    models: list[str]
    task: str | None
    langs: list[str]
    protocol: str = "posthoc"  # posthoc | retrain | both

    @property
    def protocols(self) -> list[str]:
        """The protocols to show: one, or both (the paper's first)."""
        return ["retrain", "posthoc"] if self.protocol == "both" else [self.protocol]

    def first_model_among(self, options: Sequence[str], *, with_task: bool = False) -> str | None:
        """The first sidebar model that is one of a page's `options` (as its "model · task"
        option with the sidebar's task when `with_task`), else None: the sidebar value a page's
        own picker follows (`seed_picker`)."""
        wanted = (f"{m} · {self.task}" if with_task else m for m in self.models)
        return next((o for o in wanted if o in options), None)


SEL_MODELS, SEL_TASK, SEL_LANGS = "sel_models", "sel_task", "sel_langs"
_INIT = "_mbp_selection_initialised"
_SELECTION = "_mbp_selection"
_MIRROR = "_mbp_selection_in_url"


MAX_URL_VALUES = 64  # more values than any selector offers (15 languages, a few models)
_NOTICES = "_mbp_url_notices"


def _shown(value: str, limit: int = 40) -> str:
    """A URL value quoted for a notice, cut short: a hostile link cannot flood the page."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def url_notice(text: str) -> None:
    """Queue a one-line notice about a link value that was dropped or replaced; `run_page`
    shows the queue under the page title."""
    notes = st.session_state.setdefault(_NOTICES, [])
    if text not in notes:
        notes.append(text)


def _param_list(name: str, *, notify: bool = False) -> list[str]:
    """A comma-separated URL parameter as a list: duplicates dropped, at most MAX_URL_VALUES
    values (a notice says so when `notify`)."""
    raw = [v for item in st.query_params.get_all(name) for v in str(item).split(",") if v]
    values = list(dict.fromkeys(raw))
    if notify and len(values) < len(raw):
        url_notice(f"Link: {len(raw) - len(values)} repeated {name}= value(s) dropped.")
    if len(values) > MAX_URL_VALUES:
        if notify:
            url_notice(f"Link: {name}= has {len(values)} values; only the first "
                       f"{MAX_URL_VALUES} are read.")  # fmt: skip
        values = values[:MAX_URL_VALUES]
    return values


def _drop_unknown(name: str, wanted: Sequence[str], known: Sequence[str], fix: str) -> list[str]:
    """The wanted values that exist; one notice naming those that do not."""
    unknown = [v for v in wanted if v not in known]
    if unknown:
        url_notice(f"Link: {name}={', '.join(_shown(v) for v in unknown[:5])}"
                   f"{' ...' if len(unknown) > 5 else ''} not available here: {fix}.")  # fmt: skip
    return [v for v in wanted if v in known]


def sidebar_selection() -> Selection:
    """Model(s), task and language(s) in the sidebar, mirrored in the URL query parameters."""
    inventory = query("store_inventory")
    tasks = sorted(inventory["task"].dropna().unique()) if len(inventory) else []
    in_url = (st.query_params.get("task"), _param_list("model"), _param_list("lang"))
    linked = in_url[0] is not None and in_url != st.session_state.get(_MIRROR)
    checked = False  # the link's values are checked (and dropped ones noticed) once
    if not st.session_state.get(_INIT) or linked:  # a new session, or a link changed the URL
        st.session_state[_INIT] = True
        checked = True
        in_url = (in_url[0], _param_list("model", notify=True), _param_list("lang", notify=True))
        wanted_task = in_url[0]
        if wanted_task is not None and wanted_task not in tasks:
            _drop_unknown("task", [wanted_task], tasks, f"no stored results; showing "
                          f"{_default_task(tasks)}, choose another in the sidebar")  # fmt: skip
        st.session_state[SEL_TASK] = wanted_task if wanted_task in tasks else _default_task(tasks)
        st.session_state[SEL_MODELS] = in_url[1] or None
        st.session_state[SEL_LANGS] = in_url[2] or None
    if not tasks:
        st.session_state[_SELECTION] = Selection([], None, [])
        st.sidebar.info("The store holds no results yet: the selectors appear once it does.")
        return Selection([], None, [])
    if st.session_state.get(SEL_TASK) not in tasks:
        st.session_state[SEL_TASK] = _default_task(tasks)
    task = st.sidebar.selectbox("Task", tasks, key=SEL_TASK, help="GLUE task or XNLI")
    here = inventory[inventory["task"] == task]
    models = sorted(here["model"].dropna().unique())
    wanted_models = st.session_state.get(SEL_MODELS) or []
    if checked:
        wanted_models = _drop_unknown("model", wanted_models, models,
                                      f"no {task} results stored for it; choose in the sidebar")  # fmt: skip
    chosen = [m for m in wanted_models if m in models]
    st.session_state[SEL_MODELS] = chosen or _default_models(models)
    picked = st.sidebar.multiselect(
        "Model(s)", models, key=SEL_MODELS, format_func=model_label,
        help="Several models are overlaid where a page can compare them",
    )  # fmt: skip
    absent = absent_models_note(task, models, inventory["model"].dropna().unique())
    if absent:  # say so rather than drop a model (e.g. minilm-l6 on XNLI) silently
        st.sidebar.caption(absent)
    langs = sorted(here[here["model"].isin(picked)]["lang"].dropna().unique(), key=lang_key)
    wanted_langs = st.session_state.get(SEL_LANGS) or []
    if checked:
        wanted_langs = _drop_unknown("lang", wanted_langs, langs,
                                     "no results stored in that language for the chosen model(s)")  # fmt: skip
    chosen_langs = [lang for lang in wanted_langs if lang in langs]
    st.session_state[SEL_LANGS] = chosen_langs or langs[:1]
    picked_langs = st.sidebar.multiselect(
        "Language(s)", langs, key=SEL_LANGS, format_func=_lang_name,
        help="XNLI languages; GLUE tasks are English only",
    )  # fmt: skip
    protocol = _protocol_selector()
    st.query_params["task"] = task
    st.query_params["model"] = ",".join(picked)
    st.query_params["lang"] = ",".join(picked_langs)
    st.session_state[_MIRROR] = (task, list(picked), list(picked_langs))
    selection = Selection(list(picked), task, list(picked_langs), protocol)
    st.session_state[_SELECTION] = selection
    return selection


SEL_PROTOCOL = "sel_protocol"


def _protocol_selector() -> str:
    """posthoc, retrain or both, from the stored runs; mirrored in the URL (`protocol=`)."""
    have = stored_protocols() or ["posthoc"]
    options = [*have, "both"] if len(have) > 1 else have
    wanted = st.query_params.get("protocol")
    if wanted is not None and wanted not in options:
        _drop_unknown("protocol", [wanted], options, f"choose one of {', '.join(options)}")
    if wanted in options and st.session_state.get(SEL_PROTOCOL) != wanted:
        st.session_state[SEL_PROTOCOL] = wanted
    if st.session_state.get(SEL_PROTOCOL) not in options:
        st.session_state[SEL_PROTOCOL] = "posthoc" if "posthoc" in options else options[0]
    if len(options) == 1:
        st.sidebar.caption(f"Protocol: **{options[0]}** (the only one stored)", help=PROTOCOL_HELP)
        protocol = options[0]
    else:
        protocol = st.sidebar.radio(
            "Protocol", options, key=SEL_PROTOCOL, format_func=PROTOCOL_LABELS.get,
            help=PROTOCOL_HELP,
        )  # fmt: skip
    st.query_params["protocol"] = protocol
    return protocol


def sidebar_state() -> Selection:
    """The selection app.py's sidebar made in this run."""
    return st.session_state.get(_SELECTION) or Selection([], None, [])


def absent_models_note(task: str, here: Sequence[str], stored: Sequence[str]) -> str | None:
    """One line naming the stored models with no `task` runs (so not offered), and why where
    the registry knows (an English-only model on XNLI); None when every model has some."""
    from mbp.models.registry import find_model

    missing = sorted(set(stored) - set(here))
    if not missing:
        return None

    def why(name: str) -> str:
        info = find_model(name)
        english = info is not None and info.languages == ("en",)
        label = model_label(name)
        return f"{label} (English-only)" if english and task == "xnli" else label

    return f"No {task} runs stored for {', '.join(map(why, missing))}: not offered here."


def _default_task(tasks: Sequence[str]) -> str | None:
    return "xnli" if "xnli" in tasks else (tasks[0] if tasks else None)


def _default_models(models: Sequence[str]) -> list[str]:
    preferred = [m for m in ("e5-small", "bert-base-multilingual-cased") if m in models]
    return preferred[:1] or list(models[:1])


def lang_key(code: str) -> tuple[int, str]:
    from mbp.tasks.registry import XNLI_LANGUAGES

    return (XNLI_LANGUAGES.index(code) if code in XNLI_LANGUAGES else 99, code)


@st.cache_data(show_spinner=False)
def _languages() -> pd.DataFrame:
    return dashboard_data.language_table()


def languages() -> pd.DataFrame:
    """XNLI language metadata, indexed by code."""
    return _languages()


def _lang_name(code: str) -> str:
    table = languages()
    return f"{code} · {table.loc[code, 'name']}" if code in table.index else code


lang_name = _lang_name


def param(name: str, default: str, allowed: Sequence[str] | None = None) -> str:
    """A page's own query parameter, validated against `allowed` (a value outside it is
    replaced by `default`, with a notice)."""
    value = st.query_params.get(name, default)
    if allowed is None or value in allowed:
        return value
    _drop_unknown(name, [value], allowed, f"showing {default}")
    return default


def _linked_option(model_key: str, task_key: str, options: Sequence[str], fallback: Any) -> Any:
    """The "model · task" option a link names (`model_key=`, `task_key=`), else `fallback`;
    a link naming one with no stored results gets a notice."""
    model, task = st.query_params.get(model_key), st.query_params.get(task_key)
    if model is None and task is None:
        return fallback
    linked = f"{model} · {task}"
    if linked in options:
        return linked
    url_notice(f"Link: {model_key}={_shown(str(model))} {task_key}={_shown(str(task))} has no "
               f"stored results on this page: showing {fallback}.")  # fmt: skip
    return fallback


def seed_picker(
    key: str,
    options: Sequence[Any],
    sidebar_value: Any,
    default: Any = None,
    *,
    link: tuple[str, str] | None = None,
) -> None:
    """Seed a page's own picker (widget `key` over `options`, created after this call WITHOUT
    a default of its own) and make it follow the sidebar.

    The sidebar's value counts only where it is among `options` (a multiselect's list: its
    items that are, none if no item is). A new picker starts at the link's "model · task"
    option (`link=(model_key, task_key)` names the URL parameters; a link naming no option
    gets a notice), else the sidebar's value, else `default` (None: the first option). While
    the page is open, the picker moves to the sidebar's value whenever that changes and
    counts; otherwise it keeps the visitor's own choice.
    """
    if isinstance(sidebar_value, list | tuple):
        sidebar = [v for v in sidebar_value if v in options] or None
    else:
        sidebar = sidebar_value if sidebar_value in options else None
    start = sidebar if sidebar is not None else default
    if start is None:
        start = next(iter(options), None)
    if link is not None:
        start = _linked_option(*link, options, start)
    seen = f"_follow_{key}"
    changed = seen in st.session_state and st.session_state[seen] != sidebar
    st.session_state[seen] = sidebar
    if key not in st.session_state:
        st.session_state[key] = start
    elif changed and sidebar is not None:
        st.session_state[key] = sidebar


def param_list(name: str, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    """A page's own comma-separated query parameter: de-duplicated, bounded, values outside
    `allowed` dropped with a notice; `default` when none is left."""
    wanted = _param_list(name, notify=True)
    chosen = _drop_unknown(name, wanted, allowed, f"choose among {', '.join(allowed)}")
    return chosen or list(default)


def interval_toggle(where: Any, *, key: str, help: str) -> bool:
    """A chart page's "95 % intervals" switch, mirrored in the URL as `ci=1` (one key for
    every page, so a link keeps it across pages)."""
    on = param("ci", "0", ["0", "1"]) == "1"
    return where.toggle("95 % intervals", value=on, key=key, help=help)


def set_params(**values: str | None) -> None:
    for key, value in values.items():
        if value is None or value == "":
            st.query_params.pop(key, None)
        else:
            st.query_params[key] = value


# ----------------------------------------------------------------------------- rendering


def image_format() -> str:
    return st.session_state.get("image_format", "png")


def chart(fig: Any, name: str, *, key: str | None = None) -> None:
    """An Altair (Vega-Lite) chart across the column, with a download of it as PNG or SVG
    (the sidebar's choice), rendered by vl-convert only when clicked.

    Streamlit turns off Vega-embed's own actions menu (its toolbar offers a PNG only), hence
    the button.
    """
    if not isinstance(fig, alt.TopLevelMixin):
        raise TypeError(
            f"chart() draws Altair charts, got {type(fig).__name__}: build it with mbp.figures"
        )
    st.altair_chart(fig, width="stretch", key=key)
    fmt = image_format()
    st.download_button(
        f"{fmt.upper()}", data=lambda: chart_image(fig, fmt),  # type: ignore[arg-type]
        file_name=f"{safe_filename(f'mbp-{name}')}.{fmt}",
        mime="image/png" if fmt == "png" else "image/svg+xml", icon=":material/download:",
        type="tertiary", on_click="ignore", key=f"dl-{key or name}",
        help=f"Download this chart as {fmt.upper()} (format: sidebar, 'Chart downloads')",
    )  # fmt: skip


def empty_state(what: str, command: str, extra: str | None = None) -> None:
    """Say what is missing and which `mbp` command fills it.

    The command is inline code, one line each, not a fenced block: a fenced block loads the
    syntax highlighter (Prism), measured at 8 % of a loaded page's browser CPU (BENCHMARKS 9).
    """
    lines = "  \n".join(f"`{line.strip()}`" for line in command.splitlines() if line.strip())
    text = f"**{what}**\n\nFill it with:  \n{lines}"
    if extra:
        text += f"\n{extra}"
    st.info(text, icon=":material/inbox:")


def glossary() -> None:
    """The sidebar's Glossary expander (every page: app.py calls it once), from the one
    definition list in `mbp.analysis.glossary`."""
    from mbp.analysis.glossary import GLOSSARY

    with st.sidebar.expander("Glossary", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items()))


def run_page(title: str, body: Callable[[], None], *, icon: str | None = None) -> None:
    """Title + body; any error becomes a friendly message (details folded away), never a
    traceback on the page. Streamlit's own rerun/stop signals pass through (BaseException)."""
    st.title(title, anchor=False)
    notices = st.container()
    try:
        body()
    except MbpError as err:
        st.error(str(err), icon=":material/error:")
    except Exception as err:
        st.error(
            f"This page hit a problem it could not handle ({type(err).__name__}). The rest of the "
            "dashboard still works; the details below help a bug report.",
            icon=":material/error:",
        )
        with st.expander("Details"):
            st.code("".join(traceback.format_exception(err)), language="text")
    finally:  # what the sidebar and the page dropped from the link, under the title
        for text in st.session_state.pop(_NOTICES, []):
            notices.warning(text, icon=":material/link_off:")


def fmt_time(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "—"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


# ----------------------------------------------------------------------------- provenance

RUNS_PARAM = "runs"  # the URL's picked run ids (`runs=ID,ID`), shared by every chart page


def pinned_runs(key: str) -> list[str]:
    """Run ids picked for this page: the picker's state once it exists, else the URL's."""
    if key in st.session_state:
        return list(st.session_state[key] or [])
    return _param_list(RUNS_PARAM)


def _seed_list(text: Any) -> list[str]:
    """A run's stored seeds ("[0, 1, 2]") as strings."""
    return [s.strip() for s in str(text or "").strip("[]").split(",") if s.strip()]


def _run_label(row: Any) -> str:
    seeds = ",".join(_seed_list(row.seeds))
    return (
        f"{row.run_id[:8]} · {model_label(row.model)} · {row.lang} · {row.method} · "
        f"{row.protocol} · {row.n_examples or '?'} ex · seeds {seeds} · "
        f"{pd.Timestamp(row.created_at):%Y-%m-%d} · {row.status}"
    )


def provenance_line(runs: pd.DataFrame) -> str:
    """One line saying what the shown runs are: how many, examples, seeds, protocol, dates,
    and the fine-tuned checkpoint(s) they rest on (id and weights hash prefix)."""
    shown = runs[runs["shown"]]
    if shown.empty:
        return "No stored run matches this selection."
    examples = sorted({int(n) for n in shown["n_examples"].dropna()})
    seeds = sorted({int(s) for text in shown["seeds"].dropna() for s in _seed_list(text)})
    first, last = pd.Timestamp(shown["created_at"].min()), pd.Timestamp(shown["created_at"].max())
    dates = f"{first:%Y-%m-%d}" + (f" to {last:%Y-%m-%d}" if last.date() != first.date() else "")
    ckpts = []
    for ckpt, sha in (
        shown[["checkpoint", "weights_sha256"]].drop_duplicates().itertuples(index=False)
    ):
        if isinstance(ckpt, str) and ckpt:  # NaN where a shown run has no fine-tune
            ckpts.append(
                f"`{ckpt[:8]}`" + (f" (weights {sha[:8]})" if isinstance(sha, str) else "")
            )
    protocols = ", ".join(sorted(shown["protocol"].dropna().unique()))
    pinned = int(shown["pinned"].sum())
    return (
        f"From {len(shown)} stored run(s){f', {pinned} picked' if pinned else ''}: "
        f"{' / '.join(map(str, examples)) or '?'} examples · seeds {' '.join(map(str, seeds))} · "
        f"{protocols} · {dates}" + (f" · fine-tuned checkpoint {', '.join(ckpts)}" if ckpts else "")
    )


def lazy_expander(label: str, *, key: str) -> Any:
    """An expander whose body the page draws only while it is open (check `.open`): a closed
    "Runs shown" then costs the browser no table (BENCHMARKS 9: tables and charts, not the
    server, are what a visitor waits for)."""
    return st.expander(label, key=key, on_change="rerun")


def _run_picker(runs: pd.DataFrame, labels: dict[str, str], wanted: list[str], key: str) -> None:
    """The "Runs shown" body of a chart with a picker: the picker (where there is a choice)
    and the shown runs' details."""
    if len(runs) > int(runs["shown"].sum()) or wanted:
        st.multiselect(
            "Pick runs (each replaces the most complete run of its line)",
            list(labels), default=[r for r in wanted if r in labels] if key not in
            st.session_state else None, format_func=labels.get, key=key,
            help="Default: per line, a run fine-tuned with training seed 0, then the one with "
            "the most examples, then the most finished cells, then the newest.",
        )  # fmt: skip
    table = runs[runs["shown"]].drop(columns=["shown"])
    st.dataframe(table, hide_index=True, column_config={
        "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
        "dev_value": st.column_config.NumberColumn("fine-tuned dev score", format="%.4f"),
    })  # fmt: skip


def run_provenance(runs: pd.DataFrame, *, key: str, pick: bool = True) -> None:
    """Under a chart: the one-line provenance, the shown runs' details, and (`pick`) where
    other runs could feed it too, a picker mirrored in the URL as `runs=`. Charts that must
    match the report (claims, overview) show their runs without a picker."""
    st.caption(provenance_line(runs), help="Which stored runs this chart draws from. Where "
               "several runs measure the same line, the most complete is shown unless you pick "
               "another under 'Runs shown'.")  # fmt: skip
    if runs.empty:
        return
    if not pick:
        box = lazy_expander(f"Runs shown ({int(runs['shown'].sum())})", key=f"{key}_open")
        if box.open:
            box.dataframe(runs[runs["shown"]].drop(columns=["shown", "pinned"]), hide_index=True)
        return
    labels = {row.run_id: _run_label(row) for row in runs.itertuples()}
    wanted = pinned_runs(key)
    if key not in st.session_state:
        missing = [run_id for run_id in wanted if run_id not in labels]
        if missing:
            st.warning(f"Picked run(s) {', '.join(missing)} from the link do not match this "
                       "chart's selection and are ignored.", icon=":material/link_off:")  # fmt: skip
    box = lazy_expander(f"Runs shown ({int(runs['shown'].sum())} of {len(runs)} matching)",
                        key=f"{key}_open")  # fmt: skip
    if box.open:  # closed, the picker is not drawn: its choice lives on in the URL
        with box:
            _run_picker(runs, labels, wanted, key)
    picked = st.session_state.get(key, wanted)
    set_params(**{RUNS_PARAM: ",".join(r for r in picked if r in labels) or None})
