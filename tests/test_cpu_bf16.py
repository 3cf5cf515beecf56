"""bf16 autocast on CPU: agreement with fp32 on a tiny random BERT, the refusal where the CPU has
no native bf16, and bf16 runs kept apart from fp32 runs in the store.

The CPUs these tests run on may lack native bf16; torch's CPU autocast computes bf16 correctly
either way (emulated, slower), so the tests pretend the CPU has it (`native_bf16`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from mbp.cli import main
from mbp.engine import device as device_mod
from mbp.engine.device import autocast, resolved_precision
from mbp.engine.evaluate import predict
from mbp.engine.importance import head_importance
from mbp.errors import MbpError
from mbp.models import tiny_bert
from mbp.tasks.encode import Encoded
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2

CPU = torch.device("cpu")
#: Share of examples whose predicted class must be the same in bf16 as in fp32.
MIN_ARGMAX_AGREEMENT = 0.95


@pytest.fixture
def native_bf16(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: True)


@pytest.fixture
def no_native_bf16(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    monkeypatch.delenv(device_mod.EMULATE_ENV, raising=False)


def _encoded(n: int = 64, vocab: int = 100, seed: int = 0) -> Encoded:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(5, vocab, size=int(rng.integers(3, 20))).astype(np.int64) for _ in range(n)]
    return Encoded(
        input_ids=ids, token_type_ids=None, labels=rng.integers(0, 2, n), ids=np.arange(n)
    )


def test_bf16_on_cpu_predicts_like_fp32(native_bf16):
    model, _ = tiny_bert(layers=2, heads=4, hidden=32)
    encoded = _encoded()
    fp32 = predict(model, encoded, pad_id=0, device=CPU, precision="fp32")
    bf16 = predict(model, encoded, pad_id=0, device=CPU, precision="bf16")
    assert not np.array_equal(fp32, bf16)  # autocast really ran in bf16
    scale = np.abs(fp32).max()
    assert np.abs(fp32 - bf16).max() <= 0.05 * scale  # bf16 keeps ~3 significant digits
    agreement = (fp32.argmax(-1) == bf16.argmax(-1)).mean()
    assert agreement >= MIN_ARGMAX_AGREEMENT


def test_head_importance_gradients_under_cpu_bf16_autocast(native_bf16):
    model, _ = tiny_bert(layers=2, heads=4, hidden=32)
    encoded = _encoded()
    kwargs = dict(regression=False, pad_id=0, device=CPU)
    fp32 = head_importance(model, encoded, precision="fp32", **kwargs).scores
    bf16 = head_importance(model, encoded, precision="bf16", **kwargs).scores
    assert torch.isfinite(bf16).all() and (bf16 > 0).all()
    assert spearmanr(fp32.flatten(), bf16.flatten())[0] >= 0.9


def test_precision_resolution_on_cpu(native_bf16):
    assert resolved_precision(CPU, "auto") == device_mod.CPU_AUTO == "fp32"
    assert resolved_precision(CPU, "bf16") == "bf16"
    with autocast(CPU, "bf16"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled(
            "cpu"
        )
    with autocast(CPU, "auto"):
        assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(MbpError, match="fp16 runs on CUDA only"):
        resolved_precision(CPU, "fp16")


def test_bf16_is_refused_on_a_cpu_without_it(no_native_bf16, monkeypatch):
    with pytest.raises(
        MbpError, match=r"--precision bf16 on CPU needs native bf16.*use --precision fp32"
    ):
        resolved_precision(CPU, "bf16")
    with pytest.raises(MbpError, match="needs native bf16"):
        autocast(CPU, "bf16")
    monkeypatch.setenv(device_mod.EMULATE_ENV, "1")  # asked for explicitly: emulated bf16
    assert resolved_precision(CPU, "bf16") == "bf16"


@pytest.mark.parametrize(("precision", "message"), [
    ("bf16", "--precision bf16 on CPU needs native bf16 (avx512_bf16 or amx_bf16)"),
    ("fp16", "--precision fp16 runs on CUDA only"),
])  # fmt: skip
def test_cli_refuses_in_one_line_before_any_work(no_native_bf16, tmp_path, monkeypatch, capsys,
                                                 precision, message):  # fmt: skip
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = make_tiny_model_dir(tmp_path / "tiny-model")
    data = make_tiny_sst2(tmp_path / "data")
    store = tmp_path / "store.duckdb"
    capsys.readouterr()  # the tiny model's save messages
    args = ["sweep", "--model", str(model), "--task", "sst2", "--device", "cpu", "--quiet",
            "--precision", precision, "--store", str(store), "--data-dir", str(data)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert not (tmp_path / "cache" / "checkpoints").exists()  # nothing was fine-tuned


def test_bf16_and_fp32_runs_are_different_runs_that_coexist(native_bf16, tmp_path, monkeypatch):
    from mbp.engine.finetune import find_checkpoint
    from mbp.experiments.checkpoints import finetune_spec
    from mbp.experiments.context import RunContext
    from mbp.experiments.params import Experiment, FinetuneParams
    from mbp.experiments.runner import run_sweep
    from mbp.store import ResultsStore

    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = str(make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4))
    data = str(make_tiny_sst2(tmp_path / "data"))
    store = ResultsStore(tmp_path / "store.duckdb")
    opts = FinetuneParams(train_examples=32, epochs=1, batch_size=8)
    exp = Experiment(model, "sst2", "en", n_examples=24, finetune=opts, importance_examples=16)
    run_ids = {}
    for precision in ("fp32", "bf16"):
        ctx = RunContext(store=store, data_dir=data, device="cpu", precision=precision,
                         progress=False, batch_size=16)  # fmt: skip
        run_ids[precision] = run_sweep(ctx, exp, order="importance", grid=(0.0, 0.5, 1.0))
    assert run_ids["fp32"] != run_ids["bf16"]
    runs = store.runs().set_index("run_id")
    assert set(run_ids.values()) <= set(runs.index)
    assert (runs.loc[list(run_ids.values()), "status"] == "done").all()
    specs = {p: json.loads(runs.loc[r, "spec_json"]) for p, r in run_ids.items()}
    assert specs["fp32"]["precision"] == "fp32" and specs["bf16"]["precision"] == "bf16"
    assert specs["fp32"]["checkpoint"] != specs["bf16"]["checkpoint"]  # its own fine-tune
    assert specs["fp32"]["importance"] != specs["bf16"]["importance"]  # and its own scores
    # the fp32 recipe's key is the one it had before precision joined the recipe
    fp32_spec, bf16_spec = finetune_spec(exp), finetune_spec(exp, "bf16")
    assert "precision" not in fp32_spec.to_dict() and bf16_spec.to_dict()["precision"] == "bf16"
    both = [find_checkpoint(fp32_spec), find_checkpoint(bf16_spec)]
    assert all(c is not None for c in both) and both[0].path != both[1].path
    assert len(store.curve_points(run_ids=list(run_ids.values()))) == 6


def test_bench_section_reports_agreement_and_the_auto_rule():
    from bench.bf16 import Cell, Result, section

    result = Result(native=False, flags=(), load_start="1.0", load_end="1.0")
    result.cells = [Cell("SST-2 dev", "unpruned", 0, 0.86, 0.86, 0, 64, 0.01),
                    Cell("SST-2 dev", "random", 72, 0.52, 0.50, 3, 64, 0.05)]  # fmt: skip
    result.spearman, result.top_overlap = {"SST-2 dev": 0.99}, {"SST-2 dev": 0.9}
    result.finetune = {"fp32": 0.80, "bf16": 0.80}
    result.speed_fp32_s, result.speed_bf16_s = [1.0, 1.1, 0.9], [2.0, 2.2, 1.8]
    sec = section(result)
    text = "\n".join(f"{r.figure} | {r.value} | {r.met}" for r in sec.rows)
    assert "2.0 pt (SST-2 dev, random) | no" in text and "3 of 128" in text
    assert "0.50x" in text and not result.auto_rule_met()  # emulated: never switches auto
    assert "no native bf16" in "\n".join(sec.details)
