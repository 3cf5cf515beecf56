"""The paper's protocol (`--protocol retrain`): remove heads from the pre-trained model, fine-tune
with them removed, evaluate; on a tiny random BERT, through the real CLI.

Accuracy on the tiny data barely moves, so equality is checked on what a cell IS: the sha256 of
the retrained checkpoint's weights (kept with --keep-checkpoints) and the stored values."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mbp.cli import main
from mbp.store import ResultsStore
from tests.tiny_project import REPO, make_tiny_model_dir, make_tiny_sst2, wait_for_cells

RECIPE = ["--train-examples", "48", "--epochs", "1", "--train-batch-size", "8", "--lr", "1e-3"]


@pytest.fixture(name="tiny")
def _tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4)
    data = make_tiny_sst2(tmp_path / "data")
    return str(model), str(data), tmp_path


def sweep_args(model: str, data: str, store: Path, *extra: str) -> list[str]:
    return [
        "sweep", "--model", model, "--task", "sst2", "--data-dir", data, "--store", str(store),
        "--examples", "24", "--importance-examples", "16", *RECIPE, "--quiet", *extra,
    ]  # fmt: skip


def kept_weights(cache: Path) -> dict[tuple, str]:
    """Pruned head set -> weights sha256 of every retrained checkpoint kept in `cache`."""
    out = {}
    for marker in (cache / "checkpoints").glob("*/mbp_finetune.json"):
        info = json.loads(marker.read_text())
        heads = tuple(map(tuple, info["spec"]["pruned_heads"]))
        out[heads] = info["weights_sha256"]
    return out


def test_a_retrain_cell_is_fine_tuning_with_those_heads_removed_then_evaluating(tiny, monkeypatch):
    from mbp.engine.evaluate import evaluate
    from mbp.engine.finetune import finetune, load_checkpoint
    from mbp.experiments.checkpoints import finetune_spec
    from mbp.experiments.params import Experiment, FinetuneParams
    from mbp.tasks import encode, get_task, load_examples, subsample

    model, data, tmp = tiny
    store = tmp / "store.duckdb"
    extra = ("--protocol", "retrain", "--order", "random", "--seeds", "3", "--grid", "0,0.5,1")
    assert main([*sweep_args(model, data, store, *extra), "--keep-checkpoints"]) == 0
    points = ResultsStore(store, read_only=True).curve_points()
    cell = points[(points.fraction == 0.5) & (points.metric == "accuracy")].iloc[0]
    heads = tuple(map(tuple, json.loads(cell.pruned_heads)))
    assert len(heads) == 4  # half of 2 x 4 heads

    # by hand, in another cache: the same recipe on the pre-trained model with those heads gone
    monkeypatch.setenv("MBP_CACHE", str(tmp / "by-hand"))
    opts = FinetuneParams(train_examples=48, epochs=1, batch_size=8, lr=1e-3)
    spec = finetune_spec(Experiment(model, "sst2", finetune=opts))
    ckpt = finetune(spec.__class__(**{**spec.__dict__, "pruned_heads": heads}), data_dir=data,
                    device="cpu", progress=False)  # fmt: skip
    assert kept_weights(tmp / "cache")[heads] == ckpt.weights_sha256
    pruned, tokenizer = load_checkpoint(ckpt.path)
    examples = subsample(load_examples("sst2", "dev", data_dir=data), 24, 0)
    metrics = evaluate(pruned.eval(), encode(tokenizer, examples, 128), get_task("sst2"),
                       pad_id=tokenizer.pad_token_id or 0)  # fmt: skip
    assert metrics["accuracy"] == cell.value


def test_posthoc_and_retrain_runs_of_the_same_settings_coexist(tiny):
    model, data, tmp = tiny
    store = tmp / "store.duckdb"
    base = ("--order", "random", "--seeds", "0", "--grid", "0,1")
    assert main(sweep_args(model, data, store, *base)) == 0
    assert main(sweep_args(model, data, store, *base, "--protocol", "retrain")) == 0
    assert main(sweep_args(model, data, store, *base, "--protocol", "retrain")) == 0  # no-op
    runs = ResultsStore(store, read_only=True).runs()
    sweeps = runs[runs.kind == "sweep"].set_index("protocol")
    assert sorted(sweeps.index) == ["posthoc", "retrain"]
    assert (sweeps.status == "done").all() and sweeps.run_id.nunique() == 2
    specs = {p: json.loads(s) for p, s in sweeps.spec_json.items()}
    assert "protocol" not in specs["posthoc"] and specs["retrain"]["protocol"] == "retrain"
    # the retrained 0 % cell is the posthoc model itself: the same unpruned fine-tune
    points = ResultsStore(store, read_only=True).curve_points()
    zero = points[(points.fraction == 0) & (points.metric == "accuracy")]
    assert zero.value.nunique() == 1


def test_layers_retrain_fills_every_layer_and_third(tiny):
    model, data, tmp = tiny
    store = tmp / "store.duckdb"
    args = ["layers", "--model", model, "--task", "sst2", "--data-dir", data, "--store",
            str(store), "--examples", "24", *RECIPE, "--protocol", "retrain", "--quiet"]  # fmt: skip
    assert main(args) == 0
    rows = ResultsStore(store, read_only=True).layer_importance()
    assert sorted(rows.target.unique()) == sorted(
        ["layer:0", "layer:1", "group:bottom", "group:middle", "group:top"]
    )
    for row in rows.itertuples():
        assert row.drop == pytest.approx(row.base_value - row.value)
    # the checkpoints of the cells are gone; only the unpruned reference is kept
    kept = kept_weights(tmp / "cache")
    assert list(kept) == [()]


def test_bad_retrain_requests_are_refused_in_one_line(tiny, capsys):
    model, data, tmp = tiny
    store = tmp / "store.duckdb"
    for extra, message in (
        (("--protocol", "retrain", "--order", "iterative"), "has no retrain form"),
        (("--protocol", "retrain", "--no-finetune"), "drop --no-finetune"),
        (("--protocol", "again"), "unknown protocol 'again'"),
    ):
        assert main(sweep_args(model, data, store, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    assert not store.exists() or ResultsStore(store, read_only=True).counts()["runs"] == 0


def _cli(args: list[str], cache: Path) -> subprocess.Popen:
    env = {**os.environ, "MBP_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mbp", *args], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_equals_an_uninterrupted_run(tiny):
    """A retrain run killed while it fine-tunes its cells resumes at the unfinished cell and
    ends with the same stored values, and the same models, as a run never interrupted."""
    model, data, tmp = tiny
    extra = ("--protocol", "retrain", "--order", "random", "--seeds", "0,1",
             "--grid", "0,0.25,0.5,0.75,1", "--keep-checkpoints")  # fmt: skip
    recipe = ["--train-examples", "64", "--epochs", "6"]  # longer fine-tunes: a wider target

    # uninterrupted
    clean = _cli([*sweep_args(model, data, tmp / "clean.duckdb", *extra), *recipe], tmp / "c1")
    assert clean.wait(timeout=600) == 0, clean.stderr.read().decode()[-2000:]

    # killed with SIGKILL once some cells are stored (so it is inside a later fine-tune)
    store = tmp / "killed.duckdb"
    proc = _cli([*sweep_args(model, data, store, *extra), *recipe], tmp / "c2")
    wait_for_cells(proc, store, 2, timeout=300)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = ResultsStore(store, read_only=True)
    assert 2 <= stored.counts()["cells"] < 10  # killed mid-run
    assert (stored.runs().query("kind == 'sweep'").status == "running").all()

    again = _cli([*sweep_args(model, data, store, *extra), *recipe], tmp / "c2")
    assert again.wait(timeout=600) == 0, again.stderr.read().decode()[-2000:]

    def values(path: Path):
        frame = ResultsStore(path, read_only=True).curve_points()
        return frame.sort_values(["seed", "fraction", "metric"])[
            ["run_id", "seed", "fraction", "metric", "value", "pruned_heads"]
        ].reset_index(drop=True)

    assert values(store).equals(values(tmp / "clean.duckdb"))
    assert kept_weights(tmp / "c2") == kept_weights(tmp / "c1")
    runs = ResultsStore(store, read_only=True).runs()
    assert (runs.status == "done").all() and ResultsStore(store, read_only=True).counts()[
        "curve_points"
    ] == len(values(tmp / "clean.duckdb"))


def test_the_same_spec_trains_to_the_same_weights_whatever_the_threads(tmp_path):
    """Fine-tuning fixes its intra-op thread count (results depend on it: measured), and seeds
    the new classifier itself, so two processes with different thread settings and different
    random histories train the same spec to bitwise the same weights."""
    model = make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4)
    data = make_tiny_sst2(tmp_path / "data")
    script = (
        "import sys, torch; from mbp.engine.finetune import finetune; "
        "from mbp.spec import FinetuneSpec; "
        "torch.set_num_threads(int(sys.argv[3])); torch.rand(int(sys.argv[4])); "
        "spec = FinetuneSpec(sys.argv[1], 'x', 'sst2', train_examples=48, epochs=1, "
        "batch_size=8, lr=1e-3); "
        "print(finetune(spec, data_dir=sys.argv[2], device='cpu', progress=False).weights_sha256)"
    )
    hashes = set()
    for i, (threads, draws) in enumerate(((1, 0), (2, 7))):
        env = {**os.environ, "MBP_CACHE": str(tmp_path / f"cache-{i}")}
        out = subprocess.run(
            [sys.executable, "-c", script, str(model), str(data), str(threads), str(draws)],
            env=env, cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        hashes.add(out.stdout.strip().splitlines()[-1])
    assert len(hashes) == 1 and len(next(iter(hashes))) == 64


def test_a_plan_step_stops_before_any_cell_when_its_reference_learnt_nothing(tiny, capsys):
    """The tiny recipe leaves the model at the majority class: with --stop-if-weak (the plan's
    retrain steps pass it) nothing is fine-tuned beyond the reference and no run is stored."""
    model, data, tmp = tiny
    store = tmp / "store.duckdb"
    extra = ("--protocol", "retrain", "--order", "random", "--grid", "0,0.5", "--stop-if-weak")
    assert main(sweep_args(model, data, store, *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the unpruned reference") and "learnt nothing" in err[-1]
    stored = ResultsStore(store, read_only=True)
    assert stored.counts()["runs"] == 0 and len(stored.checkpoints()) == 1  # the reference
    assert list(kept_weights(tmp / "cache")) == [()]
