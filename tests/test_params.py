"""One definition of a run's parameters: the CLI, the dashboard and the plan read them alike,
stored run keys stay what they were, and the wings import only downwards."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mbp.cli import build_parser
from mbp.errors import MbpError
from mbp.experiments.flags import parse_command, run_params
from mbp.experiments.params import FinetuneParams, RunParams, parse_grid
from mbp.live import demo
from mbp.spec import DataSpec, RunSpec

ROOT = Path(__file__).resolve().parents[1]


def cli_params(*argv: str) -> RunParams:
    """RunParams exactly as `mbp sweep ...` builds them (the CLI's own parser)."""
    return run_params(build_parser().parse_args(["sweep", *argv]))


def live_params(**changes) -> RunParams:
    request = demo.LiveRunRequest(**{"model": "minilm-l6", "task": "sst2", **changes})
    return demo.to_params(request)


@pytest.mark.parametrize(
    ("text", "points"),
    [
        ("0:0.5:0.2", (0.0, 0.2, 0.4)),  # never past the stop (the dashboard used to add 0.6)
        ("0:1:0.25", (0.0, 0.25, 0.5, 0.75, 1.0)),
        ("0:0.3:0.1", (0.0, 0.1, 0.2, 0.3)),  # 0.3/0.1 = 2.9999999999999996: stop included
        ("0.5, 0, 0.5,1", (0.0, 0.5, 1.0)),
    ],
)
def test_the_cli_and_the_dashboard_read_a_grid_the_same_way(text, points):
    base = ("--model", "minilm-l6", "--task", "sst2")
    assert cli_params(*base, "--grid", text).grid == points
    assert live_params(grid=text, orders=("importance",)).grid == points
    assert parse_grid(text) == points
    assert demo.cells_total(demo.LiveRunRequest("minilm-l6", "sst2", orders=("importance",),
                                                grid=text)) == len(points)  # fmt: skip


def test_list_options_take_commas_or_spaces_everywhere():
    base = ("--model", "e5-small", "--task", "xnli", "--order", "random")
    spaced = cli_params(*base, "--seeds", "0", "1", "2", "--lang", "en", "de")
    commas = cli_params(*base, "--seeds", "0,1,2", "--lang", "en,de")
    assert spaced == commas and spaced.seeds == (0, 1, 2) and spaced.langs == ("en", "de")
    assert cli_params(*base, "--order", "importance,random").orders == ("importance", "random")
    # duplicates collapse; the live form's text field reads the same
    assert cli_params(*base, "--lang", "en", "en", "de").langs == ("en", "de")
    form = live_params(task="xnli", langs=("en", "de"), orders=("random",), seeds="0, 1 2")
    assert form.seeds == (0, 1, 2)


def test_the_cli_and_the_dashboard_take_the_same_defaults():
    cli = cli_params("--model", "minilm-l6", "--task", "sst2")
    assert cli == RunParams("minilm-l6", "sst2")
    assert cli.finetune == FinetuneParams()
    # the live form's preset changes only what it shows; everything else is RunParams'
    live = live_params()
    for name in ("split", "data_seed", "importance_examples", "estimator", "floor", "precision",
                 "batch_size"):  # fmt: skip
        assert getattr(live, name) == getattr(cli, name), name
    assert live.finetune.lr == cli.finetune.lr and live.finetune.max_length == 128


def test_params_survive_the_command_line_round_trip():
    params = RunParams(
        "e5-small", "xnli", langs=("en", "sw"), orders=("random", "iterative"), seeds=(3, 1),
        grid=(0, 0.35, 1), floor=2, examples=77, estimator="fisher", normalize=True,
        finetune=FinetuneParams(train_examples=100, epochs=0.5, lr=1e-4, freeze_embeddings=True),
    )  # fmt: skip
    command, parsed = parse_command("mbp " + " ".join(params.to_argv("sweep")))
    assert command == "sweep" and parsed == params
    assert demo.sweep_argv(demo.LiveRunRequest("minilm-l6", "sst2"), "s.duckdb")[3:-3] == (
        live_params().to_argv("sweep")
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"floor": -1}, "--floor -1 must be at least 0"),
        ({"floor": 12}, "--floor 12 keeps every head"),
        ({"seeds": "0,-1"}, "--seeds value -1 is negative"),
        ({"orders": ("best",)}, "unknown order 'best'"),
        ({"langs": ("de",)}, "has no language 'de'"),
        ({"grid": "0:2:0.5"}, "grid value 1.5 is outside [0, 1]"),
        ({"finetune": "lr"}, "--lr -1"),
    ],
)
def test_every_bad_value_is_refused_when_the_params_are_built(changes, message):
    if changes.get("finetune") == "lr":
        with pytest.raises(MbpError, match="--lr -1"):
            FinetuneParams(lr=-1)
        return
    with pytest.raises(MbpError) as err:
        RunParams("minilm-l6", "sst2", **changes)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_keys_of_every_shipped_run_are_unchanged():
    """Structured data provenance must not change a stored run's key (its id)."""
    runs = pd.read_parquet(ROOT / "precomputed" / "runs.parquet")
    assert len(runs) > 100
    for run in runs.itertuples():
        spec = RunSpec.from_dict(json.loads(run.spec_json))
        assert spec.key == run.run_id
        assert spec.data.label == run.split  # the store's split column
    importance = [RunSpec.from_dict(json.loads(s)).data for s in runs[runs.kind == "importance"]
                  .spec_json]  # fmt: skip
    assert {(d.source_task, d.complement) for d in importance} >= {("", True)}
    assert DataSpec.from_dict(DataSpec("xnli", "en", "train", 5, source_task="mnli").to_dict())


def test_stored_commands_carry_no_machine_local_paths():
    from mbp.provenance import portable_command

    command = "mbp sweep --model m --store /home/me/r.duckdb --data-dir=/data --grid 0,1 --quiet"
    assert portable_command(command) == "mbp sweep --model m --grid 0,1 --quiet"


# ------------------------------------------------------------------------------ layering

BOTTOM = ("mbp.engine", "mbp.store", "mbp.tasks", "mbp.models", "mbp.figures", "mbp.spec")
WINGS = ("mbp.experiments", "mbp.analysis", "mbp.live", "mbp.cli")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_nothing_below_imports_upwards():
    for path in sorted((ROOT / "mbp").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        imports = _imports(path)
        assert not any(i.startswith("streamlit") for i in imports), module
        if module.startswith(BOTTOM):
            upward = sorted(i for i in imports if i.startswith(WINGS))
            assert not upward, f"{module} imports {upward}"
        if module.startswith("mbp.analysis"):
            launcher = sorted(
                i for i in imports
                if i.startswith(("mbp.experiments.runner", "mbp.experiments.precompute",
                                 "mbp.experiments.executor", "mbp.live", "mbp.cli"))
            )  # fmt: skip
            assert not launcher, f"{module} imports {launcher}"


def test_the_analysis_wing_and_the_plan_load_no_torch():
    script = (
        "import sys, mbp.analysis.report, mbp.analysis.claims, mbp.analysis.tables, "
        "mbp.experiments.plan, mbp.experiments.params, mbp.live.demo; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('mbp.experiments.')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)
    assert "torch" not in loaded
    assert "mbp.experiments.runner" not in loaded and "mbp.experiments.precompute" not in loaded
