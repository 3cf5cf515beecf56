"""bf16 vs fp32 on CPU: agreement on the real e5-small, a short fine-tune, and the speed ratio.

    .venv/bin/python -m bench.bf16                      # 64 SST-2, 0 XNLI, fine-tune on 384
    .venv/bin/python -m bench.bf16 --sst2 200 --xnli 100 --finetune 1000 --repeats 5

For a few head sets of the fine-tuned e5-small (stored checkpoints in mbp's cache) on real dev
examples it measures, bf16 against fp32: |accuracy difference| per cell, prediction flips, the
Spearman correlation of gradient head importance, and (from a short fine-tune of minilm-l6,
both precisions from the same seed) the fine-tuned dev score. Every number goes through mbp's
own `predict`, `head_importance` and `finetune`.

Where the CPU has native bf16 (avx512_bf16 / amx_bf16) the bf16 side is mbp's own
`torch.autocast("cpu", torch.bfloat16)` and the speed ratio is what `--precision bf16` gains
(interleaved repeats, medians). Where it has not, mbp refuses `--precision bf16`; this bench
allows it (MBP_CPU_BF16_EMULATE=1) so that torch emulates the bf16 kernels: the same values up to
accumulation order, so the agreement holds, but the speed row is then the emulation's (slower).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.common import Row, Section, load_average, median, met, speedup
from bench.report import markdown_table

# The switch rule for `auto` on CPU (mbp.engine.device.CPU_AUTO): bf16 only if all hold.
MAX_CELL_DIFF = 0.005  # |accuracy difference| per cell, fraction
MIN_SPEARMAN = 0.95  # head-importance rank correlation
MAX_FINETUNE_DIFF = 0.01  # fine-tuned dev score difference
MIN_SPEEDUP = 1.3  # bf16 / fp32 throughput, native bf16 only


# ---------------------------------------------------------------- bf16 without native support


@contextlib.contextmanager
def emulated_allowed():
    """Allow `--precision bf16` on a CPU without native bf16 (torch emulates it: same values
    up to accumulation order, slower), so that agreement can be measured on such a CPU."""
    from mbp.engine.device import EMULATE_ENV

    old = os.environ.get(EMULATE_ENV)
    os.environ[EMULATE_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(EMULATE_ENV, None)
        else:
            os.environ[EMULATE_ENV] = old


# ---------------------------------------------------------------- the measurement


@dataclass
class Cell:
    task: str
    label: str
    n_heads: int
    acc_fp32: float
    acc_bf16: float
    flips: int
    n: int
    max_logit_diff: float

    @property
    def diff(self) -> float:
        return abs(self.acc_bf16 - self.acc_fp32)


@dataclass
class Result:
    native: bool
    flags: tuple[str, ...]
    load_start: str
    cells: list[Cell] = field(default_factory=list)
    spearman: dict[str, float] = field(default_factory=dict)  # task -> rho
    top_overlap: dict[str, float] = field(default_factory=dict)  # task -> Jaccard of top 50 %
    importance_examples: int = 0
    speed_fp32_s: list[float] = field(default_factory=list)
    speed_bf16_s: list[float] = field(default_factory=list)
    speed_examples: int = 0
    finetune: dict[str, float] = field(default_factory=dict)  # precision -> dev score
    finetune_s: dict[str, float] = field(default_factory=dict)
    finetune_recipe: str = ""
    load_end: str = ""
    seconds: float = 0.0

    @property
    def speedup(self) -> float:
        if not self.speed_bf16_s:
            return float("nan")
        return speedup(self.speed_fp32_s, self.speed_bf16_s)

    def auto_rule_met(self) -> bool:
        ok = bool(self.cells) and max(c.diff for c in self.cells) <= MAX_CELL_DIFF
        ok = ok and all(r >= MIN_SPEARMAN for r in self.spearman.values())
        if len(self.finetune) == 2:
            ok = ok and abs(self.finetune["bf16"] - self.finetune["fp32"]) <= MAX_FINETUNE_DIFF
        return ok and self.native and self.speedup >= MIN_SPEEDUP


def _checkpoint(prefix: str) -> Path:
    """The stored fine-tune of e5-small for `prefix` (e.g. 'e5-small-sst2') with most data."""
    import json

    from mbp.paths import cache_dir

    found = []
    for marker in (cache_dir() / "checkpoints").glob(f"{prefix}-*/mbp_finetune.json"):
        info = json.loads(marker.read_text())
        found.append((info.get("n_train", 0), marker.parent))
    if not found:
        raise SystemExit(f"no {prefix} checkpoint in {cache_dir()}: run `mbp finetune` first")
    return max(found)[1]


def _data(task: str, langs: tuple[str, ...], n: int, tokenizer, seed: int = 0):
    from bench.common import DATA_DIR, concat
    from mbp.tasks import encode, get_task, load_examples, subsample

    info = get_task(task)
    split = info.eval_splits[0]
    per = max(1, n // len(langs))
    parts = [
        encode(tokenizer, subsample(load_examples(task, split, lang, DATA_DIR), per, seed), 128)
        for lang in langs
    ]
    return concat(parts) if len(parts) > 1 else parts[0]


def _head_sets(scores: torch.Tensor, seed: int = 0) -> list[tuple[str, dict[int, list[int]]]]:
    from mbp.engine.orders import heads_at_fraction, prune_order

    layers, heads = scores.shape
    out: list[tuple[str, dict[int, list[int]]]] = [("unpruned", {})]
    order = prune_order(scores, "importance")
    for frac in (0.3, 0.5):
        cut = heads_at_fraction(order, frac, layers=layers, heads=heads)
        out.append((f"importance order, {frac:.0%} pruned", cut))
    rand = prune_order(scores, "random", seed=seed)
    cut = heads_at_fraction(rand, 0.5, layers=layers, heads=heads)
    out.append(("random order, 50% pruned", cut))
    out.append((f"layer {layers // 2} removed", {layers // 2: list(range(heads))}))
    return out


def _cells(task_label, model, encoded, task, pad, sets, ctx) -> list[Cell]:
    from mbp.engine.evaluate import predict, predictions_from_logits
    from mbp.engine.prune import prune_heads
    from mbp.tasks import compute_metrics

    labels = np.asarray(encoded.labels)
    out = []
    for label, heads in sets:
        pruned = prune_heads(model, heads) if heads else model
        logits = {}
        for precision in ("fp32", "bf16"):
            with ctx():
                logits[precision] = predict(pruned, encoded, pad_id=pad, precision=precision)
        preds = {p: predictions_from_logits(x, False) for p, x in logits.items()}
        acc = {p: compute_metrics(task, preds[p], labels)["accuracy"] for p in preds}
        out.append(
            Cell(task_label, label, sum(len(h) for h in heads.values()), acc["fp32"], acc["bf16"],
                 int((preds["fp32"] != preds["bf16"]).sum()), len(labels),
                 float(np.abs(logits["fp32"] - logits["bf16"]).max()))
        )  # fmt: skip
        print(f"    {task_label} {label}: acc {acc['fp32']:.3f} / {acc['bf16']:.3f}, "
              f"{out[-1].flips} flips", flush=True)  # fmt: skip
    return out


def _importance(model, encoded, pad, ctx) -> tuple[torch.Tensor, torch.Tensor]:
    from mbp.engine.importance import head_importance

    got = {}
    for precision in ("fp32", "bf16"):
        with ctx():
            got[precision] = head_importance(
                model, encoded, regression=False, pad_id=pad, precision=precision
            ).scores
    return got["fp32"], got["bf16"]


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a.flatten().numpy(), b.flatten().numpy())[0])


def _top_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    k = a.numel() // 2
    top_a = set(torch.topk(a.flatten(), k).indices.tolist())
    top_b = set(torch.topk(b.flatten(), k).indices.tolist())
    return len(top_a & top_b) / len(top_a | top_b)


def _speed(model, encoded, pad, repeats: int, result: Result) -> None:
    """Interleaved fp32 / bf16 `predict` passes (without native bf16: torch's emulation)."""
    from bench.common import interleaved
    from mbp.engine.evaluate import predict

    def run(precision):
        return lambda: predict(model, encoded, pad_id=pad, precision=precision)

    ctx = contextlib.nullcontext if result.native else emulated_allowed
    with ctx():
        times = interleaved({"fp32": run("fp32"), "bf16": run("bf16")}, repeats)
    result.speed_fp32_s, result.speed_bf16_s = times["fp32"], times["bf16"]
    result.speed_examples = len(encoded.input_ids)


def _finetune(n_train: int, n_dev: int, ctx, result: Result) -> None:
    """minilm-l6 on `n_train` SST-2 examples, 2 epochs at lr 1e-4 (few steps), max length 64,
    in fp32 and in bf16 (same seed); dev accuracy on `n_dev` dev examples. Both checkpoints
    are deleted afterwards."""
    from mbp.engine import finetune as ft
    from mbp.models import model_checksum
    from mbp.spec import FinetuneSpec

    for precision in ("fp32", "bf16"):
        spec = FinetuneSpec("minilm-l6", model_checksum("minilm-l6"), "sst2",
                            train_examples=n_train, epochs=2.0, lr=1e-4, batch_size=16,
                            max_length=64, seed=0, precision=precision)  # fmt: skip
        existed = ft.find_checkpoint(spec) is not None
        t0 = time.perf_counter()
        with ctx():
            ckpt = ft.finetune(spec, data_dir=_data_dir(), device="cpu", dev_examples=n_dev,
                               progress=False)  # fmt: skip
        result.finetune[precision] = ckpt.dev_value
        result.finetune_s[precision] = time.perf_counter() - t0
        if not existed:
            shutil.rmtree(ckpt.path, ignore_errors=True)
        print(f"    fine-tune {precision}: dev accuracy {ckpt.dev_value:.3f} "
              f"({result.finetune_s[precision]:.0f} s)", flush=True)  # fmt: skip
    result.finetune_recipe = (
        f"minilm-l6 fine-tuned on {n_train} SST-2 train examples, 2 epochs, batch 16, lr 1e-4, "
        f"max length 64, seed 0, {ft.FINETUNE_THREADS} thread(s); dev accuracy on {n_dev} SST-2 "
        "dev examples"
    )


def _data_dir() -> str:
    from bench.common import DATA_DIR

    return DATA_DIR


def measure(sst2: int = 64, xnli: int = 0, importance: int = 32, finetune: int = 384,
            finetune_dev: int = 128, repeats: int = 3, speed_examples: int = 32,
            check_examples: int = 16) -> Result:  # fmt: skip
    from mbp.engine.device import cpu_bf16_flags, cpu_has_native_bf16
    from mbp.engine.finetune import load_checkpoint
    from mbp.tasks import get_task

    t0 = time.perf_counter()
    native = cpu_has_native_bf16()
    result = Result(native=native, flags=cpu_bf16_flags(), load_start=load_average())
    ctx = contextlib.nullcontext if native else emulated_allowed
    jobs = [("sst2", "SST-2 dev", ("en",), sst2, "e5-small-sst2"),
            ("xnli", "XNLI dev (en, de)", ("en", "de"), xnli, "e5-small-mnli")]  # fmt: skip
    for task, label, langs, n, prefix in jobs:
        if n <= 0:
            continue
        model, tokenizer = load_checkpoint(_checkpoint(prefix))
        model.eval()
        pad = tokenizer.pad_token_id or 0
        encoded = _data(task, langs, n, tokenizer)
        held_out = _data(task, langs, importance, tokenizer, seed=1)  # other examples
        print(f"  {label}: importance on {len(held_out.input_ids)} examples ...", flush=True)
        fp32_scores, bf16_scores = _importance(model, held_out, pad, ctx)
        result.spearman[label] = _spearman(fp32_scores, bf16_scores)
        result.top_overlap[label] = _top_overlap(fp32_scores, bf16_scores)
        result.importance_examples = len(held_out.input_ids)
        sets = _head_sets(fp32_scores)
        print(f"  {label}: {len(sets)} head sets on {len(encoded.input_ids)} examples ...")
        result.cells += _cells(label, model, encoded, get_task(task), pad, sets, ctx)
        if task == "sst2":
            from bench.common import take

            # without native bf16 the emulated autocast is ~30x slower: time a few examples
            k = speed_examples if native else check_examples
            small = take(encoded, np.arange(min(k, len(encoded.input_ids))))
            print(f"  speed on {len(small.input_ids)} examples x {repeats} ...", flush=True)
            _speed(model, small, pad, repeats, result)
    if finetune > 0:
        print(f"  fine-tune minilm-l6 on {finetune} SST-2 examples, fp32 and bf16 ...", flush=True)
        _finetune(finetune, finetune_dev, ctx, result)
    result.load_end = load_average()
    result.seconds = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------- the report


def section(r: Result) -> Section:
    sec = Section("10. bf16 on CPU: agreement with fp32 and speed")
    how = "native bf16" if r.native else "bf16 emulated by torch: no native bf16 here"
    worst = max(r.cells, key=lambda c: c.diff) if r.cells else None
    flips = sum(c.flips for c in r.cells)
    preds = sum(c.n for c in r.cells)
    if worst is not None:
        sec.rows.append(Row("10", f"bf16 vs fp32, max |accuracy diff| per cell ({how})",
                            f"{100 * worst.diff:.1f} pt ({worst.task}, {worst.label})",
                            f"<= {100 * MAX_CELL_DIFF:.1f} pt", met(worst.diff <= MAX_CELL_DIFF)))  # fmt: skip
        sec.rows.append(Row("10", "bf16 vs fp32, prediction flips",
                            f"{flips} of {preds} ({100 * flips / preds:.1f}%)"))  # fmt: skip
    for task, rho in r.spearman.items():
        sec.rows.append(Row("10", f"bf16 vs fp32, head-importance Spearman, {task}",
                            f"{rho:.3f} (top-50% overlap {r.top_overlap[task]:.2f})",
                            f">= {MIN_SPEARMAN}", met(rho >= MIN_SPEARMAN)))  # fmt: skip
    if len(r.finetune) == 2:
        d = abs(r.finetune["bf16"] - r.finetune["fp32"])
        sec.rows.append(Row("10", "fine-tuned dev accuracy, bf16 vs fp32",
                            f"{r.finetune['bf16']:.3f} vs {r.finetune['fp32']:.3f} "
                            f"({100 * d:.1f} pt)", f"<= {100 * MAX_FINETUNE_DIFF:.0f} pt",
                            met(d <= MAX_FINETUNE_DIFF)))  # fmt: skip
    if r.speed_bf16_s:
        label = "native" if r.native else "emulated (no native bf16: why it is refused)"
        sec.rows.append(Row("10", f"bf16 / fp32 evaluation throughput, {label}",
                            f"{r.speedup:.2f}x", f">= {MIN_SPEEDUP}x" if r.native else "-",
                            met(r.speedup >= MIN_SPEEDUP) if r.native else "n/a"))  # fmt: skip
    sec.rows.append(Row("10", "`--precision auto` on CPU", "fp32 (CPU_AUTO)", "-",
                        "-", "rule met: " + met(r.auto_rule_met())))  # fmt: skip
    sec.details += _details(r)
    return sec


def _details(r: Result) -> list[str]:
    flags = ", ".join(r.flags) or "none"
    out = [
        f"Measured on a loaded machine: load average (1/5/15 min) {r.load_start} at the start, "
        f"{r.load_end} at the end; {r.seconds / 60:.1f} min in all; torch threads "
        f"{torch.get_num_threads()}. CPU bf16 flags: {flags}.",
        "",
    ]
    if not r.native:
        out += [
            "**This CPU has no native bf16** (no avx512_bf16 / amx_bf16), so `--precision bf16` "
            "is refused on it. The bf16 numbers below come from torch's emulation of the bf16 "
            "kernels (allowed in this bench by MBP_CPU_BF16_EMULATE=1): the same values as native "
            "bf16 up to accumulation order, so the agreement stands; the speed ratio is the "
            "emulation's, not what native bf16 gains.",
            "",
        ]
    rows = [
        (c.task, c.label, c.n_heads, c.n, f"{c.acc_fp32:.3f}", f"{c.acc_bf16:.3f}",
         f"{100 * c.diff:.1f}", c.flips, f"{c.max_logit_diff:.3f}")
        for c in r.cells
    ]  # fmt: skip
    out += [
        "The fine-tuned e5-small checkpoints in mbp's cache (sentence-embedding fine-tune of a "
        "BERT-style encoder, not a raw masked-LM checkpoint), real dev examples, head sets "
        "from fp32 gradient importance on other examples "
        f"({r.importance_examples} per task):",
        "",
        markdown_table(
            (
                "data",
                "head set",
                "heads pruned",
                "examples",
                "acc fp32",
                "acc bf16",
                "abs diff pt",
                "flips",
                "max abs logit diff",
            ),
            rows,
        ),
        "",
    ]
    if r.speed_bf16_s:
        out.append(
            f"Speed: `predict` on {r.speed_examples} SST-2 dev examples, {len(r.speed_fp32_s)} "
            f"interleaved repeats: fp32 {' / '.join(f'{x:.2f}' for x in r.speed_fp32_s)} s, "
            f"bf16 {' / '.join(f'{x:.2f}' for x in r.speed_bf16_s)} s (medians "
            f"{median(r.speed_fp32_s):.2f} / {median(r.speed_bf16_s):.2f} s)."
        )
    if r.finetune:
        out.append(
            f"Fine-tune: {r.finetune_recipe}: fp32 {r.finetune.get('fp32', float('nan')):.3f} "
            f"({r.finetune_s.get('fp32', 0):.0f} s), bf16 {r.finetune.get('bf16', float('nan')):.3f} "
            f"({r.finetune_s.get('bf16', 0):.0f} s)."
        )
    out += [
        "",
        "**`auto` on CPU stays fp32** (`mbp.engine.device.CPU_AUTO`). The rule for making it "
        f"bf16: every cell within {100 * MAX_CELL_DIFF:.1f} accuracy points, head-importance "
        f"Spearman >= {MIN_SPEARMAN}, fine-tuned dev score within {100 * MAX_FINETUNE_DIFF:.0f} "
        f"point, and >= {MIN_SPEEDUP}x faster with native bf16; this run "
        + ("meets it." if r.auto_rule_met() else f"does not meet it ({_unmet(r)})."),
    ]
    return out


def _unmet(r: Result) -> str:
    """Which parts of the `auto` rule this run missed."""
    out = []
    if not r.cells or max(c.diff for c in r.cells) > MAX_CELL_DIFF:
        out.append("accuracy per cell")
    if any(rho < MIN_SPEARMAN for rho in r.spearman.values()):
        out.append("importance ranking")
    if len(r.finetune) == 2 and abs(r.finetune["bf16"] - r.finetune["fp32"]) > MAX_FINETUNE_DIFF:
        out.append("fine-tuned dev score")
    if not r.native:
        out.append("no native bf16 here, so no speed-up to measure")
    elif not r.speedup >= MIN_SPEEDUP:
        out.append("speed-up")
    return "; ".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bf16", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sst2", type=int, default=64, help="SST-2 dev examples per cell")
    parser.add_argument("--xnli", type=int, default=0, help="XNLI dev pairs per cell (en+de)")
    parser.add_argument("--importance", type=int, default=32, help="examples heads are scored on")
    parser.add_argument("--finetune", type=int, default=384, help="train examples (0: skip)")
    parser.add_argument("--finetune-dev", type=int, default=128, help="dev examples")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved speed repeats")
    parser.add_argument("--speed-examples", type=int, default=32)
    args = parser.parse_args(argv)
    import warnings

    from transformers.utils import logging as hf_logging

    from mbp.engine.device import use_all_cores

    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    use_all_cores()
    result = measure(args.sst2, args.xnli, args.importance, args.finetune, args.finetune_dev,
                     args.repeats, args.speed_examples)  # fmt: skip
    from bench.report import print_section

    print_section(section(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
