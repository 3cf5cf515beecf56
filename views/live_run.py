"""Live run: launch a small sweep as a child process and watch its cells arrive in the store."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from mbp.engine.names import PROTOCOLS
from mbp.errors import MbpError
from mbp.experiments.params import ORDERS
from mbp.figures import ORDER_LABELS
from mbp.live import demo
from mbp.live.jobs import Job, JobRegistry, mark_interrupted_runs, new_job_id, tiny_model_command
from mbp.tasks import TASKS
from views import _common as common

STATUS_ICONS = {
    "running": ":blue[:material/progress_activity:]",
    "done": ":green[:material/check_circle:]",
    "failed": ":red[:material/error:]",
    "cancelled": ":gray[:material/stop_circle:]",
    "timed out": ":orange[:material/timer_off:]",
    "lost": ":gray[:material/help:]",
}


@st.cache_resource
def registry(root: str) -> JobRegistry:
    """One job registry per server process (survives reruns, reloads and closed tabs)."""
    return JobRegistry(root)


def jobs() -> JobRegistry:
    from mbp.paths import cache_dir

    root = os.environ.get("MBP_JOBS_DIR") or str(cache_dir() / "jobs")
    return registry(root)


def visitor() -> str:
    """This browser session's token: in demo mode a visitor sees and controls only the runs
    launched with it."""
    if "mbp_visitor" not in st.session_state:
        import uuid

        st.session_state["mbp_visitor"] = uuid.uuid4().hex
    return st.session_state["mbp_visitor"]


def visible(job: Job, cfg: demo.DemoSettings) -> bool:
    return not cfg.demo or job.meta.get("owner") == visitor()


def body() -> None:
    cfg = common.settings()
    caps = cfg.caps
    job_id = st.query_params.get("job")
    if job_id:
        job = jobs().get(job_id)
        if job is not None and not visible(job, cfg):
            st.warning(
                f"Live run {job_id!r} is not available in the demo: a visitor sees only the "
                "runs started in their own browser session.",
                icon=":material/lock:",
            )
        elif job is None:
            st.warning(f"No live run {job_id!r} on this server (it may have been cleaned up).")
        else:
            _job_panel(job)
    if caps is None:
        st.info(
            "**Live runs are off in this demo**: it shows precomputed results from a read-only "
            "store. To run your own sweeps, install mbp and run e.g.\n```bash\nmbp sweep "
            "--model e5-small --task xnli --lang en sw --order importance random\n```",
            icon=":material/block:",
        )
        _history(cfg)
        return
    if cfg.live_runs == "capped":
        st.caption("Demo limits: " + ", ".join(demo.describe_caps(caps)) + ".")
    _form(cfg)
    _history(cfg)


def _form(cfg: demo.DemoSettings) -> None:
    st.subheader("Launch a sweep", anchor=False)
    st.caption(
        "Runs `mbp sweep` in a background process: it fine-tunes the model on the task (once; "
        "later runs reuse the checkpoint), scores the heads, then evaluates every grid point. "
        "Each finished cell is written to the store at once, so the other pages show the "
        "curve as it grows. You can leave this page; the run goes on."
    )
    models = demo.allowed_models(cfg)
    sel = common.sidebar_state()  # the form starts from the sidebar's choice where it can run
    with st.container(border=True):
        c1, c2, c3 = st.columns([1.4, 1, 2.6])
        common.seed_picker("lr_model", models, sel.first_model_among(models))
        model = c1.selectbox("Model", models, key="lr_model", format_func=_model_option)
        common.seed_picker("lr_task", list(TASKS), sel.task, "sst2")
        task = c2.selectbox("Task", list(TASKS), key="lr_task")
        info = TASKS[task]
        common.seed_picker(f"lr_langs_{task}", info.languages, sel.langs, list(info.languages[:1]))
        langs = c3.multiselect("Languages", list(info.languages), key=f"lr_langs_{task}",
                               format_func=common.lang_name)  # fmt: skip
        c4, c5, c6 = st.columns([2.6, 1, 1.4])
        orders = c4.multiselect(
            "Orders", ORDERS, default=["importance", "random"], key="lr_orders",
            help="; ".join(ORDER_LABELS.get(order, order) for order in ORDERS),
        )  # fmt: skip
        seeds_text = c5.text_input(
            "Random seeds", demo.LiveRunRequest.seeds, key="lr_seeds",
            disabled="random" not in orders,
            help="seeds of the random order, e.g. '0 1 2': one curve each, drawn as their mean "
            "with a band (used only when the random order is chosen)",
        )  # fmt: skip
        grid = c6.text_input("Grid (fractions)", "0:1:0.2", key="lr_grid",
                             help="'0,0.3,0.6' or start:stop:step, inclusive")  # fmt: skip
        c7, c8, c9, c10 = st.columns(4)
        limit = cfg.caps.max_examples if cfg.caps else None
        examples = int(c7.number_input(
            "Examples per language", 1, limit or 100_000, min(200, limit or 200),
            key="lr_examples", help="evaluation examples per language at every grid point (a "
            "label-stratified sample of the evaluation split)",
        ))  # fmt: skip
        device = c8.selectbox("Device", demo.DEVICES, key="lr_device",
                              help="auto = the GPU (cuda) if one is visible, else cpu")  # fmt: skip
        c11, c12 = st.columns([3, 2], vertical_alignment="bottom")
        protocol = c11.segmented_control(
            "Protocol", PROTOCOLS, default="posthoc", key="lr_protocol", required=True,
            format_func=common.PROTOCOL_LABELS.get, help=common.PROTOCOL_HELP,
        ) or "posthoc"  # fmt: skip
        finetune = c12.toggle(
            "Fine-tune first", value=True, key="lr_finetune",
            help="Off = the CLI's --no-finetune: evaluate the model as it is (an already "
            "fine-tuned model; a pre-trained encoder has an untrained classifier and scores "
            "near chance). The paper's protocol (retrain) always fine-tunes.",
        )  # fmt: skip
        train = int(c9.number_input("Fine-tuning examples", 0, 1_000_000, 2000, step=500,
                                    key="lr_train", help="0 = the whole training split",
                                    disabled=not finetune))  # fmt: skip
        epochs = float(c10.number_input("Epochs", 0.1, 10.0, 1.0, step=0.5, key="lr_epochs",
                                        disabled=not finetune))  # fmt: skip
    request = demo.LiveRunRequest(
        model=model, task=task, langs=tuple(langs), orders=tuple(orders), seeds=seeds_text,
        grid=grid, examples=examples, device=device, train_examples=train, epochs=epochs,
        protocol=protocol, finetune=finetune,
    )  # fmt: skip
    _sample_size_help(c7, request)
    active = jobs().active()
    problems = demo.validate_request(request, cfg, active_jobs=len(active),
                                     cuda_available=_cuda_available() if device == "cuda" else None)  # fmt: skip
    measured = common.query("seconds_per_example", model=model)
    estimate = demo.estimate_seconds(request, measured_s_per_example=measured)
    cells = demo.cells_total(request)
    basis = "measured on this store" if measured else "a rough prior; no runs of it measured yet"
    st.markdown(
        f"**{cells} cells** ({len(langs)} language(s)) · estimated **{demo.format_duration(estimate)}**"
        f" on {device} ({basis}; the first run of a model fine-tunes it first)."
    )
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if st.button("Launch", type="primary", disabled=bool(problems), key="lr_launch"):
        job = _launch(request, cfg, estimate, cells)
        st.query_params["job"] = job.job_id
        st.rerun()


def _sample_size_help(where, request: demo.LiveRunRequest) -> None:
    """'How many examples?' under the example count: the examples (and seeds) a run needs to
    separate two languages by a chosen gap (mbp.analysis.power), against the count chosen."""
    from mbp.analysis import power

    with where.popover("How many examples?", icon=":material/calculate:", width="stretch"):
        gap = st.slider("Gap to detect (points)", 1, 20, 5, key="lr_gap",
                        help="the difference between two languages' scores the run should "
                        "tell apart from noise")  # fmt: skip
        level = st.slider("Scores near (%)", 20, 80, 50, key="lr_level",
                          help="the languages' typical accuracy; 50 % is the worst case (the "
                          "most noise per example)")  # fmt: skip
        try:
            p1, p2 = power.around(level / 100, gap / 100)
            needed = power.examples_needed(p1, p2)
            smallest = power.detectable_difference(request.examples, level / 100)
        except MbpError as exc:
            st.warning(str(exc))
            return
        verdict = ":green[enough]" if needed <= request.examples else ":red[not enough]"
        st.markdown(
            f"Separating two languages **{gap} points** apart needs **{needed:,} examples per "
            f"language**: your {request.examples:,} are {verdict} (one model, a deterministic "
            "order; seeds below)."
        )
        if smallest is not None:
            st.markdown(f"{request.examples:,} examples per language separate gaps of "
                        f"**{smallest * 100:.1f} points** or more.")  # fmt: skip
        spread = common.query("seed_spread", model=request.model, task=request.task)
        _seed_lines(spread, request, p1, p2)
        metric = TASKS[request.task].primary_metric
        caveat = "" if metric == "accuracy" else (
            f" {request.task} is scored by {metric}, not accuracy: read these as a rough guide."
        )  # fmt: skip
        st.caption(power.ASSUMPTIONS + caveat)


def _seed_lines(spread: pd.DataFrame, request: demo.LiveRunRequest, p1: float, p2: float) -> None:
    """What seeds add: the random order's seeds (this form's) and fine-tuning seeds, each at
    the spread measured in the store, or why it is unknown."""
    from mbp.analysis import power

    by_source = spread.set_index("source") if len(spread) else pd.DataFrame()
    n = request.examples
    for source, what in (("random order", "random-order seeds"), ("fine-tuning", "fine-tunes")):
        if source not in by_source.index:
            st.markdown(f"**{what.capitalize()}**: spread unknown: no {request.model} run on "
                        f"{request.task} with two or more of them stored.")  # fmt: skip
            continue
        sd, seeds = float(by_source.loc[source, "sd"]), int(by_source.loc[source, "seeds"])
        k = power.seeds_needed(p1, p2, n, sd)
        if k is not None:
            need = f"**{k}** per language"
        elif power.examples_needed(p1, p2) > n:
            need = f"no number of them: {n:,} examples alone are too few"
        else:
            need = f"more than {power.MAX_SEEDS}"
        line = (f"**{what.capitalize()}**: one seed's score spreads by {sd * 100:.1f} points "
                f"(stored, {seeds} seeds); with {n:,} examples the gap needs {need}")  # fmt: skip
        if source == "random order" and "random" in request.orders and k is not None:
            try:
                chosen = len(demo.to_params(request).seeds)
            except MbpError:
                chosen = None
            if chosen is not None:
                line += f"; you chose {chosen}"
        st.markdown(line + ".")


def _model_option(name: str) -> str:
    from mbp.models.registry import MODELS, availability

    if name not in MODELS:
        return f"{name} (tiny random test model)"
    return f"{name} ({MODELS[name].source}, {availability(name)})"


@st.cache_resource(show_spinner=False)
def _cuda_available() -> bool:
    """Whether this server sees a CUDA GPU (torch imported only when someone asks for one)."""
    import torch

    return torch.cuda.is_available()


def _launch(request: demo.LiveRunRequest, cfg: demo.DemoSettings, estimate: float,
            cells: int) -> Job:  # fmt: skip
    store_path = common.open_store()[1].path
    location = demo.model_location(request)
    commands: list[list[str]] = []
    if location:
        commands.append(tiny_model_command(location, sys.executable))
    job_id = new_job_id()
    commands.append(
        [*demo.sweep_argv(request, store_path, executor=cfg.executor_argv), "--job-id", job_id]
    )
    caps = cfg.caps
    return jobs().launch(
        commands,
        job_id=job_id,
        cwd=str(common.REPO_ROOT),
        wall_time_s=caps.wall_time_s if caps else None,
        meta={
            "model": location or request.model,
            "label": request.model,
            "task": request.task,
            "langs": list(request.langs),
            "orders": list(request.orders),
            "protocol": request.protocol,
            "examples": request.examples,
            "cells_total": cells,
            "estimate_s": estimate,
            "store": store_path,
            "owner": visitor(),
        },
    )


def _job_panel(job: Job) -> None:
    if job.finished:
        _job_view(job)
    else:
        _live_job(job.job_id)


@st.fragment(run_every=2)
def _live_job(job_id: str) -> None:
    job = jobs().get(job_id)
    if job is None:
        return
    _job_view(job)
    if job.finished:  # refresh the whole page once: results and the form's limits changed
        st.rerun()


def _job_view(job: Job) -> None:
    meta = job.meta
    with st.container(border=True):
        head, button = st.columns([5, 1])
        icon = STATUS_ICONS.get(job.status, "")
        head.markdown(
            f"**Live run `{job.job_id}`** · {icon} **{job.status}** · {meta.get('label', '?')} on "
            f"{meta.get('task', '?')} ({' '.join(meta.get('langs', []))}) · "
            f"{', '.join(meta.get('orders', []))} · {demo.format_duration(job.elapsed_s)}"
        )
        cfg = common.settings()
        if (
            not job.finished
            and visible(job, cfg)
            and button.button("Cancel", key=f"cancel_{job.job_id}", type="secondary")
        ):
            job = jobs().cancel(job.job_id)
            _mark_stopped(job, "cancelled from the dashboard")
            st.rerun()
        done, total = _progress(job)
        fraction = done / total if total else 0.0
        remaining = _eta(job, done, total)
        label = f"{done} / {total} cells" + (f" · about {remaining} left" if remaining else "")
        training = _finetune_phase(job)
        if training and not job.finished:  # fine-tuning first: its steps are not cells
            label = f"fine-tuning: step {training[0]} / {training[1]} · then {total} cells"
            fraction = training[0] / training[1] if training[1] else 0.0
        st.progress(min(1.0, fraction), text=label)
        if not cfg.demo:  # the log names commands and server paths
            st.code(jobs().log_tail(job.job_id, lines=14) or "(no output yet)", language="text")
        if job.finished and job.status in ("done", "failed", "cancelled", "timed out") and done:
            st.page_link(
                "views/curves.py", label="See its curves", icon=":material/show_chart:",
                query_params={"model": meta.get("model", ""), "task": meta.get("task", ""),
                              "lang": ",".join(meta.get("langs", [])),
                              "protocol": meta.get("protocol", "posthoc"),
                              "orders": ",".join(meta.get("orders", [])),
                              "examples": str(meta.get("examples", "")),
                              common.RUNS_PARAM: ",".join(_sweep_runs(job))},
            )  # fmt: skip
        if job.status in ("failed", "timed out", "lost"):
            _mark_stopped(job, f"live run {job.status}")


def _job_sweeps(job: Job) -> pd.DataFrame:
    """The sweep runs this job stored (its curves; head scoring is its importance runs' one
    cell), empty when the store has none yet."""
    try:
        return common.store().job_runs(job.job_id).query("kind == 'sweep'")
    except MbpError:
        return pd.DataFrame()


def _sweep_runs(job: Job) -> list[str]:
    frame = _job_sweeps(job)
    return frame["run_id"].tolist() if len(frame) else []


def _progress(job: Job) -> tuple[int, int]:
    """Cells done/total of this job's own runs (tagged with its id in the store), else the
    cell bars in its log (fine-tuning bars are steps, not cells)."""
    total = int(job.meta.get("cells_total") or 0)
    frame = _job_sweeps(job)
    if len(frame):
        done = int(frame["cells_done"].sum())
        return done, max(total, int(frame["cells_total"].fillna(0).sum()))
    bars = {k: v for k, v in jobs().progress_from_log(job.job_id).items()
            if not k.startswith("fine-tune")}  # fmt: skip
    done = sum(d for d, _ in bars.values())
    return done, max(total, sum(t for _, t in bars.values()))


def _finetune_phase(job: Job) -> tuple[int, int] | None:
    """(step, steps) of a fine-tune the job is in the middle of, from its log."""
    bars = jobs().progress_from_log(job.job_id)
    for name, (done, steps) in reversed(list(bars.items())):
        if name.startswith("fine-tune") and done < steps:
            return done, steps
    return None


def _eta(job: Job, done: int, total: int) -> str | None:
    """Time left from the measured rate of this job's cells (the store's per-cell times, so
    fine-tuning and start-up do not inflate it), else the launch estimate."""
    if job.finished or not total:
        return None
    if done:
        try:
            spent = (
                common.store()
                .sql(
                    "SELECT sum(c.elapsed_s) AS s FROM cells c JOIN run_jobs j USING (run_id) "
                    "WHERE j.job_id = ?",
                    [job.job_id],
                )["s"]
                .iloc[0]
            )
        except MbpError:
            spent = None
        rate = float(spent) / done if spent and spent == spent else job.elapsed_s / done
        return demo.format_duration(rate * (total - done))
    estimate = float(job.meta.get("estimate_s") or 0)
    return demo.format_duration(max(estimate - job.elapsed_s, 0)) if estimate else None


def _mark_stopped(job: Job, reason: str) -> None:
    if common.settings().store_read_only:
        return
    key = f"_marked_{job.job_id}"
    if st.session_state.get(key):
        return
    st.session_state[key] = True
    with contextlib.suppress(MbpError):
        mark_interrupted_runs(common.store(), job, reason)


def _history(cfg: demo.DemoSettings) -> None:
    if cfg.demo:  # other visitors' runs, commands and paths are none of a visitor's business
        return
    recent = jobs().jobs()[:20]
    if not recent:
        return
    st.subheader("Recent live runs", anchor=False)
    rows = [
        {
            "job": job.job_id,
            "status": job.status,
            "model": job.meta.get("label", ""),
            "task": job.meta.get("task", ""),
            "languages": " ".join(job.meta.get("langs", [])),
            "orders": ", ".join(job.meta.get("orders", [])),
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.started_at)),
            "seconds": round(job.elapsed_s),
            "log": str(Path(job.log_path)),
        }
        for job in recent
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("Open a run again with `?job=<id>` in the URL.")


common.run_page("Live run", body)
