"""Hosted-demo policy and live-run requests: what the dashboard may launch, checked before launch.

Pure functions over plain values (no Streamlit), so every rule is unit-tested:

- `demo_settings(os.environ, secrets)`: demo mode is on when `MBP_MODE=demo` (environment) or
  `secrets["MBP_MODE"] == "demo"`. In demo mode the store is a read-only copy of
  `precomputed/` and live runs are off, unless `MBP_DEMO_LIVE_RUNS=capped` allows small ones
  (`CAPPED`: <= 200 examples, <= 6 grid points, one run at a time, a wall-time limit).
- `LiveRunRequest` + `validate_request`: only registry model names (never a path or a hub id
  typed by a user), known tasks, languages and orders; the caps of the mode.
- `sweep_argv`: the `python -m mbp sweep ... --store PATH --json` command a valid request runs.
- `estimate_seconds`: a rough time estimate (measured seconds per example when the store has
  them).

    python -c "import os; from mbp.live.demo import demo_settings; print(demo_settings(os.environ))"
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mbp.durations import format_duration
from mbp.errors import MbpError
from mbp.experiments.params import (
    RANKED_ORDERS,
    FinetuneParams,
    RunParams,
    default_of,
    format_grid,
    parse_grid,
)

LiveRuns = Literal["on", "capped", "off"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
TINY_MODEL = "tiny-bert"  # a 2-layer random BERT for end-to-end tests (MBP_ALLOW_TINY=1)
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LiveRunCaps:
    """Upper limits on a live run (None = no limit)."""

    max_examples: int | None = None
    max_grid_points: int | None = None
    max_concurrent: int | None = None
    wall_time_s: float | None = None
    max_langs: int | None = None
    max_seeds: int | None = None
    max_train_examples: int | None = None
    max_epochs: float | None = None


#: The hosted demo's limits when MBP_DEMO_LIVE_RUNS=capped.
CAPPED = LiveRunCaps(
    max_examples=200,
    max_grid_points=6,
    max_concurrent=1,
    wall_time_s=900.0,
    max_langs=3,
    max_seeds=3,
    max_train_examples=2000,
    max_epochs=1.0,
)
#: Outside demo mode: generous sanity limits only.
LOCAL = LiveRunCaps(max_examples=100_000, max_grid_points=101, max_seeds=50)


@dataclass(frozen=True)
class DemoSettings:
    """How the dashboard runs: demo or not, and whether live runs are on, capped or off."""

    demo: bool = False
    live_runs: LiveRuns = "on"
    allow_tiny: bool = False
    # where live runs compute (outside demo mode): `MBP_LIVE_EXECUTOR=ray` and
    # `MBP_RAY_ADDRESS` (default auto: the cluster the dashboard runs in); docs/CLUSTER.md
    executor_argv: tuple[str, ...] = ()

    @property
    def caps(self) -> LiveRunCaps | None:
        """The live-run limits of this mode, or None when live runs are off."""
        return {"on": LOCAL, "capped": CAPPED, "off": None}[self.live_runs]

    @property
    def store_read_only(self) -> bool:
        return self.demo


def demo_settings(
    environ: Mapping[str, str], secrets: Mapping[str, Any] | None = None
) -> DemoSettings:
    """Settings from the environment and (optionally) Streamlit secrets.

    `MBP_MODE=demo` or `secrets["MBP_MODE"] == "demo"` turns demo mode on; in demo mode live
    runs are off unless `MBP_DEMO_LIVE_RUNS=capped` (environment or secrets). `MBP_ALLOW_TINY=1`
    offers the tiny random test model. Outside demo mode, `MBP_LIVE_EXECUTOR=ray` sends live
    runs' cells to the Ray cluster at `MBP_RAY_ADDRESS` (default auto).
    """
    secrets = secrets or {}

    def value(key: str) -> str:
        raw = environ.get(key)
        if raw is None:
            raw = secrets.get(key)
        return str(raw).strip().lower() if raw is not None else ""

    demo = value("MBP_MODE") == "demo"
    live: LiveRuns = "on"
    if demo:
        live = "capped" if value("MBP_DEMO_LIVE_RUNS") == "capped" else "off"
    executor: tuple[str, ...] = ()
    if not demo and value("MBP_LIVE_EXECUTOR") == "ray":
        address = str(environ.get("MBP_RAY_ADDRESS") or secrets.get("MBP_RAY_ADDRESS") or "auto")
        executor = ("--executor", "ray", "--ray-address", address.strip())
    return DemoSettings(
        demo=demo,
        live_runs=live,
        allow_tiny=value("MBP_ALLOW_TINY") in _TRUE,
        executor_argv=executor,
    )


def allowed_models(settings: DemoSettings) -> list[str]:
    """Registry names a live run may use: offline models in demo mode, all outside it."""
    from mbp.models.registry import MODELS

    names = [n for n, info in MODELS.items() if not settings.demo or info.source == "offline"]
    if settings.allow_tiny and TINY_MODEL not in names:
        names.append(TINY_MODEL)
    return names


@dataclass(frozen=True)
class LiveRunRequest:
    """What the Live-run form asks for, as typed (grid and seeds as text, like the CLI's flags).

    Its defaults are a quick-run preset (fewer examples and training steps than a paper run);
    everything else, and every rule, is `RunParams`'."""

    model: str
    task: str
    langs: tuple[str, ...] = ("en",)
    orders: tuple[str, ...] = ("importance", "random")
    seeds: str | tuple[int, ...] = format_grid(default_of("seeds")).replace(",", " ")
    grid: str = "0:1:0.2"
    examples: int = 200
    device: str = "auto"
    train_examples: int = 2000
    epochs: float = 1.0
    protocol: str = "posthoc"  # retrain: every cell is a fine-tune (the paper's protocol)
    finetune: bool = True  # False: the model as it is (the CLI's --no-finetune)
    extra: Mapping[str, Any] = field(default_factory=dict)


def tiny_model_folder() -> Path:
    """Where the dashboard writes the tiny random test model (at launch, in the child)."""
    from mbp.paths import cache_dir

    return cache_dir() / TINY_MODEL


def model_location(request: LiveRunRequest) -> str | None:
    """The folder that replaces the model name for the tiny test model, else None."""
    from mbp.models.registry import MODELS

    if request.model == TINY_MODEL and request.model not in MODELS:
        return str(tiny_model_folder())
    return None


def to_params(request: LiveRunRequest) -> RunParams:
    """The request as RunParams (MbpError with one line when a value is bad)."""
    return RunParams(
        model=model_location(request) or request.model,
        task=request.task,
        langs=tuple(request.langs),
        orders=tuple(request.orders),
        seeds=request.seeds if "random" in request.orders else (0,),
        grid=request.grid,
        examples=request.examples,
        device=request.device,
        finetune=FinetuneParams(
            enabled=request.finetune, train_examples=request.train_examples, epochs=request.epochs
        ),
        protocol=request.protocol,
    )


def cells_total(request: LiveRunRequest) -> int:
    """Sweep cells the request will store: per language and order, grid points x seeds."""
    try:
        params = to_params(request)
    except MbpError:
        return 0
    return params.cells_per_lang() * len(params.langs)


def validate_request(
    request: LiveRunRequest,
    settings: DemoSettings,
    *,
    active_jobs: int = 0,
    cuda_available: bool | None = None,
) -> list[str]:
    """Everything wrong with `request` under `settings` (an empty list means it may run):
    the first rule of `RunParams` it breaks, then every cap of the mode it exceeds. In demo
    mode each refusal says "not available in the demo". `cuda_available=False` refuses a
    CUDA device up front (None: not checked)."""
    caps = settings.caps
    if caps is None:
        return ["live runs are not available in this demo: the results shown are precomputed"]
    here = "in the demo" if settings.demo else "on this dashboard"
    problems: list[str] = []
    models = allowed_models(settings)
    if request.model not in models:
        problems.append(f"model {request.model!r} is not available {here}: choose one of {models}")
    if request.device not in DEVICES:
        problems.append(f"device {request.device!r} is not one of {list(DEVICES)}")
    elif request.device == "cuda" and cuda_available is False:
        problems.append("device 'cuda' is not available on this server (no CUDA GPU is "
                        "visible): choose cpu or auto")  # fmt: skip
    if not request.langs:
        problems.append("choose at least one language")
    if not request.orders:
        problems.append("choose at least one prune order")
    if problems:
        return problems
    try:
        params = to_params(request)
    except MbpError as err:
        return [str(err)]

    def cap(value: float, limit: float | None, what: str) -> None:
        if limit is not None and value > limit:
            problems.append(f"{what} {value:g} is not available {here}: the limit is {limit:g}")

    cap(params.examples, caps.max_examples, "examples")
    cap(len(params.grid), caps.max_grid_points, "grid points")
    cap(len(params.langs), caps.max_langs, "languages")
    if "random" in params.orders:
        cap(len(params.seeds), caps.max_seeds, "random seeds")
    train = params.finetune.train_examples if params.finetune.enabled else 1
    if caps.max_train_examples is not None and train == 0:
        problems.append(
            f"training examples 0 (all) is not available {here}: the limit is "
            f"{caps.max_train_examples}"
        )
    cap(train, caps.max_train_examples, "training examples")
    cap(params.finetune.epochs, caps.max_epochs, "epochs")
    if caps.max_concurrent is not None and active_jobs >= caps.max_concurrent:
        fix = ("wait for it to finish" if settings.demo  # a visitor cannot cancel another's run
               else "wait for it or cancel it")  # fmt: skip
        problems.append(
            f"{active_jobs} live run(s) already running; {'the demo' if settings.demo else 'this dashboard'} "
            f"allows {caps.max_concurrent} at a time: {fix}"
        )
    return problems


def sweep_argv(
    request: LiveRunRequest,
    store_path: str | Path,
    *,
    python: str = sys.executable,
    executor: tuple[str, ...] = (),
) -> list[str]:
    """The CLI command of a validated request: `RunParams.to_argv`, with the store (and the
    executor the dashboard is configured with)."""
    return [
        python,
        "-m",
        "mbp",
        *to_params(request).to_argv("sweep"),
        "--store",
        str(store_path),
        "--json",
        *executor,
    ]


# Rough forward-pass seconds per example on a CPU for the registry's model sizes, from
# layers x hidden^2 relative to e5-small (12 x 384^2) at ~2 ms per example; a GPU ~30x faster.
_CPU_S_PER_EXAMPLE_E5 = 0.002
_GPU_SPEEDUP = 30.0
_STARTUP_S = 15.0
_IMPORTANCE_EXAMPLES = 256


def default_seconds_per_example(model: str, device: str = "cpu") -> float:
    """A prior for one forward pass of one example (before anything was measured)."""
    from mbp.models.registry import find_model

    info = find_model(model)
    if model == TINY_MODEL:
        size = 2 * 16**2
    elif info is None:
        size = 12 * 768**2
    else:
        size = info.layers * info.hidden**2
    seconds = _CPU_S_PER_EXAMPLE_E5 * size / (12 * 384**2)
    return seconds / _GPU_SPEEDUP if device.startswith("cuda") else seconds


def estimate_seconds(
    request: LiveRunRequest, *, measured_s_per_example: float | None = None
) -> float:
    """Wall time estimate: start-up + fine-tuning (if no checkpoint yet) + importance + cells."""
    spe = measured_s_per_example or default_seconds_per_example(request.model, request.device)
    cells = cells_total(request)
    evaluation = cells * request.examples * spe
    importance = 0.0
    if any(o in RANKED_ORDERS for o in request.orders):
        importance = len(request.langs) * _IMPORTANCE_EXAMPLES * 3 * spe
    if "iterative" in request.orders:
        with contextlib.suppress(MbpError):
            importance *= max(1, len(parse_grid(request.grid)))
    train = request.train_examples or 50_000
    finetune = train * request.epochs * 3 * spe if request.finetune else 0.0
    if request.protocol == "retrain":  # one fine-tune per distinct head set, shared by languages
        langs = max(1, len(request.langs))
        finetune *= 1 + max(0, cells // langs - len(request.orders))
    return _STARTUP_S + finetune + importance + evaluation


def describe_caps(caps: LiveRunCaps) -> list[str]:
    """Human-readable limits for the Live-run page."""
    parts = []
    for label, value in (
        ("examples per language", caps.max_examples),
        ("grid points", caps.max_grid_points),
        ("languages", caps.max_langs),
        ("random seeds", caps.max_seeds),
        ("training examples", caps.max_train_examples),
        ("epochs", caps.max_epochs),
        ("run(s) at a time", caps.max_concurrent),
    ):
        if value is not None:
            parts.append(f"≤ {value:g} {label}")
    if caps.wall_time_s is not None:
        parts.append(f"stopped after {format_duration(caps.wall_time_s)}")
    return parts


@dataclass(frozen=True)
class DashboardStore:
    """The store the dashboard reads, and how it came to be (for the sidebar caption)."""

    store: Any  # mbp.store.ResultsStore
    path: str
    read_only: bool
    imported_from: str | None
    note: str
    # the export (precomputed/) when the store holds an older version of it than it now holds
    stale_from: str | None = None


def has_export(folder: str | Path) -> bool:
    """True when `folder` holds a store export (manifest.json written by `mbp export`)."""
    return (Path(folder) / "manifest.json").is_file()


def holds_older_export(store: Any, folder: str | Path) -> bool:
    """True when `store` was filled from another version of the export at `folder` than the one
    there now: the identity it recorded differs, or (a store filled before stores recorded it)
    it holds runs of the export and no record. An unreadable export is not "newer"."""
    from mbp.store.transfer import MANIFEST, holds_other_version, recorded_export

    try:
        if recorded_export(store, folder) is not None:
            return holds_other_version(store, folder)
        runs = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8")).get("runs") or []
    except (MbpError, OSError, ValueError, AttributeError):
        return False
    shipped = {r.get("run_id") for r in runs if isinstance(r, dict)}
    return bool(shipped & set(store.sql("SELECT run_id FROM runs")["run_id"]))


def replace_command(folder: str | Path, store_path: str | Path) -> str:
    """The shell command that makes a store hold the export's current version of its runs."""
    return shlex.join(["mbp", "import", str(folder), "--replace", "--store", str(store_path)])


def stale_export_note(folder: str | Path, store_path: str | Path) -> str:
    """The dashboard's notice for a store filled from an older version of `folder`."""
    return (
        f"**{Path(folder).name}/ changed since this store was filled from it**: its shipped runs "
        "still show the old numbers. To take the new ones (your own runs stay): "
        f"`{replace_command(folder, store_path)}`, or the button on the Runs & data page."
    )


def open_dashboard_store(
    path: str | Path, *, demo: bool, precomputed: str | Path, workdir: str | Path | None = None
) -> DashboardStore:
    """Open the dashboard's store; fill it from `precomputed` when that helps.

    Demo mode: import the export into a fresh store under `workdir` (a temporary folder by
    default), then reopen that copy read-only: the dashboard can never write, and nothing the
    demo does touches `precomputed/`. Otherwise: open `path` (writable, for live runs) and, if it
    holds no runs yet, import the export into it once; if it holds an older version of the
    export, say so in `stale_from` (replacing it is the user's call: `replace_command`).
    """
    import tempfile

    from mbp.store import ResultsStore, import_into

    source = Path(precomputed)
    export = has_export(source)
    if demo:
        folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="mbp-demo-"))
        copy = folder / "demo.duckdb"
        if export:
            import_into(ResultsStore(copy), str(source))
        note = (
            f"demo mode: a read-only copy of {source.name}/"
            if export
            else f"demo mode: {source.name}/ holds no export, so the store is empty"
        )
        store = ResultsStore(copy, read_only=True)
        return DashboardStore(store, str(copy), True, str(source) if export else None, note)
    store = ResultsStore(path)
    imported = None
    if export and store.counts()["runs"] == 0:
        import_into(store, str(source))
        imported = str(source)
    stale = export and not imported and holds_older_export(store, source)
    note = f"imported {source.name}/ at start-up" if imported else ""
    return DashboardStore(
        store, str(store.path), False, imported, note, str(source) if stale else None
    )
