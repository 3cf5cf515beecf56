"""Figure 7: a paper-scale XNLI sweep on a GPU (mbp's path on CUDA with bf16 autocast).

Runs only where CUDA is visible; otherwise the figure is "not measured (no GPU lent)", never an
estimate. Paper scale: all 15 XNLI languages x the full dev set (2,490 pairs each), the default
grid (0 to 1 by 0.1) x importance and random orders, mBERT-base size, batch 64, bf16 autocast.
The anchor-style baseline (fp32, eager, pad 128, batch 32) runs the same cells on one language
for a same-run ratio (its cost per example does not depend on which pairs it sees).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from bench.baseline import anchor_sweep
from bench.common import (
    LANGS,
    eager_twin,
    mbert_base,
    median,
    remap_vocab,
    xnli_pool,
)
from bench.sweep import ORDERS, distinct, grid_cells, importance_ranking, mbp_sweep
from mbp.engine.orders import DEFAULT_GRID

XNLI_ALL: tuple[str, ...] = (
    "ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh",
)  # fmt: skip
FULL_DEV = 2490


@dataclass
class GpuResult:
    device: str
    examples: int
    cells: int
    distinct: int
    mbp_s: list[float]
    base_examples: int
    base_s: list[float]

    @property
    def mbp_rate(self) -> float:
        return self.examples * self.cells / median(self.mbp_s)

    @property
    def base_rate(self) -> float:
        return self.base_examples * self.cells / median(self.base_s)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def paper_scale(
    tokenizer,
    *,
    device: str = "cuda",
    precision: str = "bf16",
    langs: tuple[str, ...] = XNLI_ALL,
    per_lang: int = FULL_DEV,
    base_langs: tuple[str, ...] = ("en",),
    grid: tuple[float, ...] = DEFAULT_GRID,
    repeats: int = 3,
    model=None,
) -> GpuResult:
    """Interleaved passes of mbp's sweep over every language and of the baseline on
    `base_langs`; `device="cpu"` with tiny sizes exercises the same code path."""
    from bench.common import MBERT_VOCAB

    model = (model or mbert_base()).to(device)
    vocab = model.config.vocab_size
    pool = xnli_pool(tokenizer, per_lang, langs)
    base_pool = xnli_pool(tokenizer, per_lang, base_langs)
    if vocab == MBERT_VOCAB:
        pool, base_pool = remap_vocab(pool, vocab), remap_vocab(base_pool, vocab)
    pad_id = tokenizer.pad_token_id
    held_out = xnli_pool(tokenizer, 4, LANGS, seed=100)
    if vocab == MBERT_VOCAB:
        held_out = remap_vocab(held_out, vocab)
    ranking = importance_ranking(model, held_out, pad_id, device=device)
    cells = grid_cells(model, ranking, grid, ORDERS)
    twin = eager_twin(model)
    mbp_s, base_s = [], []
    for r in range(repeats):
        for which in ("mbp", "base") if r % 2 == 0 else ("base", "mbp"):
            _sync(device)
            t0 = time.perf_counter()
            if which == "mbp":
                mbp_sweep(model, pool, pad_id, cells, device=device, precision=precision)
            else:
                anchor_sweep(twin, base_pool, pad_id, cells, device=device)
            _sync(device)
            (mbp_s if which == "mbp" else base_s).append(time.perf_counter() - t0)
    return GpuResult(
        device=torch.cuda.get_device_name(0) if device.startswith("cuda") else device,
        examples=len(pool.input_ids),
        cells=len(cells),
        distinct=len(distinct(cells)),
        mbp_s=mbp_s,
        base_examples=len(base_pool.input_ids),
        base_s=base_s,
    )
