"""The seven benchmark figures as sections: each runs its measurement and returns table rows plus
the Markdown for docs/BENCHMARKS.md, including, where a target is missed, what bounds it."""

from __future__ import annotations

import contextlib
import importlib
import time
from dataclasses import dataclass

import numpy as np
import psutil
import torch

from bench import importance as imp_bench
from bench import memory as mem_bench
from bench import prune as prune_bench
from bench import sweep as sweep_bench
from bench.common import (
    LANGS,
    MBERT_VOCAB,
    Row,
    Section,
    forward_flops,
    kept_heads,
    lengths,
    matmul_gflops,
    mbert_base,
    median,
    met,
    remap_vocab,
    spread,
    xnli_pool,
)
from bench.iterative import GRID as ITERATIVE_GRID
from bench.report import markdown_table
from mbp.engine.orders import heads_at_fraction, prune_order
from mbp.engine.prune import prune_heads

GiB = 2**30


@dataclass
class Settings:
    repeats: int = 3
    mbert_per_lang: int = 2  # x 8 languages = 16 pairs
    e5_per_lang: int = 2  # x 8 languages = 16 pairs
    limit_per_lang: int = 32  # x 8 = 256 pairs: figure 2's mbp-only sweeps, batches as in a run
    importance_per_lang: int = 3  # x 8 = 24 pairs (one batch; the loop dominates the cost)
    iterative_per_lang: int = 3  # x 8 = 24 scoring + 24 evaluated pairs (figure 13)
    prune_batch: int = 16
    prune_repeats: int = 4
    peak_gflops: float = 0.0  # the dense matmul rate measured by figure 2 (reused by figure 3)

    def describe(self) -> dict[str, str]:
        n = len(LANGS)
        return {
            "XNLI dev languages": ", ".join(LANGS),
            "tokenizer": "e5-small's (XLM-R sentencepiece), pairs, max_length 128",
            "sweep grid x orders": f"{sweep_bench.GRID} x {sweep_bench.ORDERS}",
            "sweep examples, mBERT-base size": f"{self.mbert_per_lang * n} "
            f"({self.mbert_per_lang} per language)",
            "sweep examples, e5-small": f"{self.e5_per_lang * n} ({self.e5_per_lang} per language)",
            "figure 2 sweep examples (mbp only, both models)": f"{self.limit_per_lang * n} "
            f"({self.limit_per_lang} per language)",
            "repeats (interleaved)": str(self.repeats),
            "importance examples": f"{self.importance_per_lang * n}",
            "figure 13 iterative sweep: scoring + evaluated pairs, grid points": (
                f"{self.iterative_per_lang * n} + {self.iterative_per_lang * n}, "
                f"{len(ITERATIVE_GRID)}"
            ),
            "pruning latency batch / repeats": f"{self.prune_batch} / {self.prune_repeats}",
            "torch threads": str(torch.get_num_threads()),
        }


def _ops_table(top: list[tuple[str, float]]) -> str:
    return markdown_table(("op", "self CPU %"), [(name, f"{pct:.1f}") for name, pct in top])


# ---------------------------------------------------------------- figures 1 and 2


def _flop_ratio_at_scale(tokenizer, config, cells, per_lang: int, vocab_fold: bool) -> float:
    """Executed-FLOP ratio (baseline / mbp) of the same grid on `per_lang` pairs per language,
    each language swept on its own as the runner does (a FLOP count, not a timing)."""
    base, mbp = 0.0, 0.0
    full = [config.num_attention_heads] * config.num_hidden_layers
    unique = sweep_bench.distinct(cells)
    for i, lang in enumerate(LANGS):
        pool = xnli_pool(tokenizer, per_lang, (lang,), seed=i)
        if vocab_fold:
            pool = remap_vocab(pool, MBERT_VOCAB)
        seq = lengths(pool)
        padded = sweep_bench.padded_lengths(seq, sweep_bench.MBP_BATCH)
        base += len(cells) * forward_flops(config, np.full(len(seq), 128), full)
        mbp += sweep_bench.sweep_flops(config, padded, unique)
    return base / mbp


def _ffn_share(config) -> float:
    full = [config.num_attention_heads] * config.num_hidden_layers
    total = forward_flops(config, [1], full, attention=False)
    ffn = 2 * 2 * config.hidden_size * config.intermediate_size * config.num_hidden_layers
    return ffn / total


def _pruned_share(config, cells) -> float:
    """Mean, over the grid's cells, of a cell's per-token linear FLOPs / the unpruned model's."""
    full = [config.num_attention_heads] * config.num_hidden_layers
    base = forward_flops(config, [1], full, attention=False)
    return float(
        np.mean([forward_flops(config, [1], kept_heads(config, h), attention=False) for h in cells])
        / base
    )


def sweeps(tokenizer, e5_model, s: Settings) -> tuple[Section, Section]:
    pad = tokenizer.pad_token_id
    sec1 = Section("1. Sweep throughput: mbp's default path vs the anchor-style baseline")
    sec2 = Section("2. Distance to the limit: useful FLOP rate vs dense matmul rate")
    results, limits = [], []
    specs = [("mBERT-base size", s.mbert_per_lang, True), ("e5-small", s.e5_per_lang, False)]
    for label, per_lang, is_mbert in specs:
        model = mbert_base() if is_mbert else e5_model
        pool = xnli_pool(tokenizer, per_lang)
        held_out = xnli_pool(tokenizer, 1, seed=100)
        if is_mbert:
            pool, held_out = remap_vocab(pool, MBERT_VOCAB), remap_vocab(held_out, MBERT_VOCAB)
        ranking = sweep_bench.importance_ranking(model, held_out, pad)
        print(f"  {label}: {len(pool.input_ids)} pairs x {s.repeats} interleaved passes ...")
        t0 = time.perf_counter()
        r = sweep_bench.compare(
            label, model, pool, pad, ranking, repeats=s.repeats, threads=is_mbert
        )
        print(
            f"    mbp {spread(r.mbp_s)} s, baseline {spread(r.base_s)} s per pass; "
            f"{time.perf_counter() - t0:.0f} s"
        )
        big = xnli_pool(tokenizer, s.limit_per_lang, seed=300)
        if is_mbert:
            big = remap_vocab(big, MBERT_VOCAB)
        print(f"  {label}: figure 2, mbp alone on {len(big.input_ids)} pairs x {s.repeats} ...")
        t0 = time.perf_counter()
        limit = sweep_bench.compare(
            label, model, big, pad, ranking, repeats=s.repeats, profile=True, baseline=False
        )
        limit.threads = r.threads
        limits.append(limit)
        print(f"    mbp {spread(limit.mbp_s)} s per pass; {time.perf_counter() - t0:.0f} s")
        r.scale_ratio = _flop_ratio_at_scale(tokenizer, model.config, r.cells, 500, is_mbert)
        r.ffn_share = _ffn_share(model.config)
        r.pruned_share = _pruned_share(model.config, r.cells)
        results.append(r)
        del model
    peak = median([x for r in results + limits for x in r.matmul_gflops])
    s.peak_gflops = peak
    for r in results:
        sec1.rows += [
            Row("1", f"sweep {r.label}: mbp", f"{r.mbp_rate:.2f} example-evals/s"),
            Row("1", f"sweep {r.label}: anchor baseline", f"{r.base_rate:.2f} example-evals/s"),
            Row(
                "1",
                f"sweep {r.label}: mbp / baseline",
                f"{r.ratio:.2f}x",
                ">= 5x",
                met(r.ratio >= 5),
            ),
        ]
    sec2.rows.append(
        Row("2", "dense fp32 matmul rate (2048x2048, all cores)", f"{peak:.1f} GFLOP/s")
    )
    for r in limits:
        if r.threads:
            names = list(r.threads)
            t_all, t_one = median(r.threads[names[0]]), median(r.threads[names[1]])
            sec2.rows.append(
                Row(
                    "2",
                    f"diagnostic, {r.label}: unpruned evaluation, {names[0]} / {names[1]}",
                    f"{t_all:.2f} s / {t_one:.2f} s ({t_all / t_one:.2f}x)",
                )
            )
        sec2.rows.append(
            Row(
                "2",
                f"useful FLOP rate / matmul rate, {r.label}",
                f"{100 * r.limit_fraction:.0f}% "
                f"({r.useful_flops / median(r.mbp_s) / 1e9:.1f} GFLOP/s)",
                ">= 50%",
                met(r.limit_fraction >= 0.5),
            )
        )
    for r in results:
        sec2.rows.append(
            Row(
                "2",
                f"diagnostic, {r.label}: the same on figure 1's {r.n_examples} pairs",
                f"{100 * r.limit_fraction:.0f}%",
            )
        )
    sec1.details += _sweep_details(results)
    sec2.details += _limit_details(limits, results, peak)
    return sec1, sec2


def _sweep_details(results) -> list[str]:
    rows = []
    for r in results:
        rows.append(
            (
                r.label,
                r.n_examples,
                f"{r.n_cells} ({r.n_distinct} distinct)",
                " / ".join(f"{x:.1f}" for x in r.mbp_s),
                " / ".join(f"{x:.1f}" for x in r.base_s),
                " / ".join(f"{x:.2f}" for x in r.pass_ratios),
                f"{r.ratio:.2f}x",
                f"{r.flop_ratio:.2f}x",
                f"{r.acc_max_diff:.3f}",
            )
        )
    out = [
        "mbp's path is the runner's own `Evaluator` (a `prune_heads` copy per cell, SDPA, "
        "length-sorted per-batch padding, batch 64, identical head sets evaluated once per "
        "process); the baseline (`bench/baseline.py`) pads every pair to 128 tokens and runs the "
        "full-width model with eager attention, heads multiplied by a 0/1 mask (mbp's "
        "`head_gate`), batch 32, fp32, every cell evaluated. Same weights (the baseline is an "
        "eager-attention twin sharing the parameters), same pairs, same cells. Both on all "
        "cores. Throughput = pairs x grid cells / sweep seconds. The mBERT-base-size model is "
        "randomly initialised (BertConfig 768 x 12 layers x 12 heads, FFN 3072, vocab 119,547; "
        "e5 token ids >= 119,547 are folded into range, which leaves every length unchanged); "
        "e5-small is the real converted model. The importance order comes from mbp's gradient "
        "importance on 8 other pairs (one per language).",
        "",
        f"**Fewer examples than a real sweep.** On this CPU an mBERT-base-size forward pass of a "
        f"128-token pair costs about {forward_flops(_cfg(results[0]), [128], [12] * 12) / 1e9:.0f} "
        "GFLOP, so the baseline's side of one pass over the grid costs "
        f"{median(results[0].base_s):.0f} s even on {results[0].n_examples} pairs; to stay "
        "within the 15-minute budget with repeats, the sweeps use "
        + " and ".join(f"{r.n_examples} pairs ({r.label})" for r in results)
        + ". With so few pairs mbp's batch of 64 holds all of them and pads to the longest, "
        "which understates mbp: see the 500-pair FLOP ratio below.",
        "",
        markdown_table(
            (
                "model",
                "pairs",
                "cells",
                "mbp s per pass",
                "baseline s per pass",
                "ratio per pass",
                "ratio (medians)",
                "executed-FLOP ratio",
                "max |accuracy diff| per cell",
            ),
            rows,
        ),
        "",
        "The accuracy of every cell is compared between the two paths as a correctness check "
        "(structural pruning and a zero mask are the same function; SDPA vs eager and different "
        "padding may flip a near-tie).",
    ]
    for r in results:
        out += ["", _sweep_analysis(r)]
    return out


def _cfg(r):
    from bench.common import e5_small_sized_config, mbert_base_config

    return mbert_base_config() if r.label.startswith("mBERT") else e5_small_sized_config()


def _sweep_analysis(r) -> str:
    verdict = "meets" if r.ratio >= 5 else "misses"
    efficiency = r.ratio / r.flop_ratio
    prune_share = r.prune_s / median(r.mbp_s)
    text = (
        f"**{r.label}: {r.ratio:.2f}x {verdict} the 5x target.** The ratio is the executed-FLOP "
        f"ratio ({r.flop_ratio:.2f}x: how much less arithmetic mbp's path runs) times how fast "
        f"each path runs its arithmetic ({efficiency:.2f}: mbp's FLOP/s over the baseline's). "
        "The FLOP ratio is bounded by (1) padding: the baseline pads to 128 tokens, these pairs "
        f"average {r.mean_length:.1f} tokens, and mbp's single batch pads them to "
        f"{r.mean_padded_length:.1f} on average (at most {128 / r.mean_padded_length:.2f}x "
        "here); (2) head pruning removes only attention work: the FFN is "
        f"{100 * r.ffn_share:.0f}% of a layer's linear FLOPs, so averaged over the grid a pruned "
        f"model still does {100 * r.pruned_share:.0f}% of the unpruned model's linear FLOPs; "
        f"(3) the memo skips {r.n_cells - r.n_distinct} of {r.n_cells} cells (and the prefix "
        "cache the layers below each cell's first changed layer)."
    )
    why = (
        f"`prune_heads` copies the kept weights for every cell ({r.prune_s:.1f} s per sweep, "
        f"measured separately = {100 * prune_share:.0f}% of mbp's sweep time, a fixed cost per "
        f"cell that a real sweep of 500 pairs amortises), its batch is {r.n_examples} x "
        f"{r.mean_padded_length:.0f} tokens against the baseline's {r.n_examples} x 128, and "
        "pruned layers run narrower GEMMs"
    )
    if efficiency < 1:
        text += f" The efficiency factor is below 1 because mbp's pieces of work are small: {why}."
    else:
        text += f" mbp's path runs its arithmetic at least as fast as the baseline, despite: {why}."
    if r.ratio < 5:
        text += (
            " **What would move it:** real sweep sizes: with 500 pairs per language (the "
            "runner's default), swept per language, the same grid's executed-FLOP ratio is "
            f"{r.scale_ratio:.2f}x (counted FLOPs on the real lengths, not a timing), and the "
            "per-cell pruning cost becomes negligible; packing pairs without any padding "
            "(variable-length attention) would reach this run's useful-FLOP ratio, "
            f"{r.base_executed_flops / r.useful_flops:.2f}x. 5x needs less arithmetic than head "
            "pruning can remove: pruning FFN neurons as well, or sharing more cells."
        )
    return text


def _limit_details(limits, small, peak: float) -> list[str]:
    sizes = " and ".join(f"{r.n_examples} ({r.label})" for r in limits)
    out = [
        "Useful FLOPs count only real tokens and kept heads: Q/K/V/O projections of kept heads, "
        "attention scores and context of kept heads over the real lengths, the FFN, pooler and "
        "classifier, for each distinct evaluation of one mbp sweep. Useful FLOP rate = that / "
        "the median mbp sweep time. The limit is torch.matmul of two 2048x2048 fp32 matrices on "
        "all cores, sampled (untimed) before every timed sweep pass in the same run "
        f"(samples {spread([x for r in limits + small for x in r.matmul_gflops])} GFLOP/s, "
        f"median {peak:.1f}).",
        "",
        "This figure is measured on mbp's path alone, over sweeps of "
        f"{sizes} other real XNLI dev pairs (same grid, orders and importance ranking as figure "
        "1), so that its length-sorted batches of 64 are as full as in a real run (the runner "
        "sweeps 500 pairs per language). Figure 1 must keep its sweeps small because the "
        "baseline's side costs 128 tokens per pair; on those few pairs mbp's one batch pads to "
        "its longest pair, and the same measurement gives "
        + ", ".join(f"{100 * r.limit_fraction:.0f}% ({r.label})" for r in small)
        + " (diagnostic rows in the table).",
    ]
    for r in limits:
        useful_over_exec = r.useful_flops / r.mbp_executed_flops
        exec_rate = r.mbp_executed_flops / median(r.mbp_s)
        p = r.profile
        text = (
            f"**{r.label}: {100 * r.limit_fraction:.0f}%"
            f" {'meets' if r.limit_fraction >= 0.5 else 'misses'} the 50% target.** It is the "
            f"product of {100 * useful_over_exec:.0f}% (the share of the FLOPs mbp executes that "
            f"are useful; the rest is padding inside its batch: mean width "
            f"{r.mean_padded_length:.1f} for mean length {r.mean_length:.1f}) and "
            f"{100 * exec_rate / (peak * 1e9):.0f}% (executed FLOP/s over the matmul rate, "
            f"pruning copies included: {100 * r.prune_s / median(r.mbp_s):.0f}% of the time)."
        )
        if p is not None:
            gemm_share_of_peak = p.gemm_rate / (peak * 1e9)
            shapes = (
                "these skinny shapes run below it"
                if gemm_share_of_peak < 0.9
                else "the GEMMs themselves run at the reference rate"
            )
            text += (
                f" In a profiled evaluation (one cell after its sweep's unpruned pass, "
                f"torch.profiler) {100 * p.gemm_share:.0f}% of the CPU time is in GEMM kernels "
                f"(aten::addmm/mm/bmm), running at {p.gemm_rate / 1e9:.1f} GFLOP/s = "
                f"{100 * gemm_share_of_peak:.0f}% of the 2048x2048 rate ({shapes}); the rest is "
                "elementwise work (bias copies inside addmm, LayerNorm, residual adds, GELU, mask "
                "building) and attention, which is where the remaining distance to the limit is."
            )
        if r.threads:
            names = list(r.threads)
            t_all, t_one = median(r.threads[names[0]]), median(r.threads[names[1]])
            text += (
                f" On figure 1's pairs, the unpruned evaluation with {names[0]} took {t_all:.2f} s and with "
                f"{names[1]} {t_one:.2f} s (median of {len(r.threads[names[0]])}, interleaved): "
            )
            text += (
                "on this shared VM one thread is faster, because every multi-threaded op "
                "waits until all its threads are scheduled, and the elementwise ops are many "
                "and short (the ~MB-sized bias copies take milliseconds each in the profile)."
                if t_one < t_all
                else "using every core pays off here."
            )
        if r.limit_fraction < 0.5:
            text += (
                " **What would move it:** more pairs per sweep (more, tighter length-sorted "
                "batches, pruning copies amortised) or packed variable-length batches for the "
                "padding share; fused kernels for the elementwise share (GELU and bias into the "
                "GEMM, fused LayerNorm + residual: torch.compile or oneDNN post-ops); on a "
                "shared machine, fewer threads than cores; on an unshared one, the same code "
                "runs closer to the GEMM rate."
            )
        out += ["", text]
        if p is not None:
            out += ["", f"Top ops by self CPU time, {r.label}, mbp path:", "", _ops_table(p.top)]
    return out


# ---------------------------------------------------------------- figure 3


def importance(tokenizer, e5_model, s: Settings) -> Section:
    sec = Section("3. Importance: one backward pass per batch vs a batch-size-1 loop")
    pad = tokenizer.pad_token_id
    pool = xnli_pool(tokenizer, s.importance_per_lang, seed=200)
    print(f"  e5-small: {len(pool.input_ids)} pairs x {s.repeats} interleaved repeats ...")
    r = imp_bench.compare(e5_model, pool, pad, repeats=s.repeats)
    prof, ops_per_pair = imp_bench.profile_loop(e5_model, pool, pad, n=4)
    peak = s.peak_gflops or median([matmul_gflops() for _ in range(3)])
    seq = lengths(pool)
    padded = sweep_bench.padded_lengths(seq, imp_bench.BATCH)
    config = e5_model.config
    full = [config.num_attention_heads] * config.num_hidden_layers
    # forward + backward ~ 3 forward passes of matmul FLOPs (an approximation, labelled so)
    batched_rate = 3 * forward_flops(config, padded, full) / median(r.batched_s) / 1e9
    loop_rate = 3 * forward_flops(config, seq, full) / median(r.loop_s) / 1e9
    sec.rows += [
        Row(
            "3",
            "importance (e5-small): batch 32 vs batch-1 loop",
            f"{r.ratio:.2f}x",
            ">= 10x",
            met(r.ratio >= 10),
        ),
        Row(
            "3",
            "same per-example gradients (allclose)",
            f"{'yes' if r.allclose else 'NO'} (max |diff| {r.max_abs_diff:.1e})",
            "allclose",
            met(r.allclose),
        ),
    ]
    text = [
        "`per_example_gate_gradients` with batch 32 (a per-example gate of shape (batch, "
        "layers, heads): one backward of the summed loss gives every example's own gradient) "
        "vs the same function with batch_size=1 (one forward + backward per pair), on "
        f"{r.n_examples} real XNLI dev pairs ({len(LANGS)} languages; with batch 32 they form "
        "one batch) with the real e5-small weights and a fresh 3-way head, fp32, all cores, "
        "interleaved repeats. Fewer pairs than the runner's 256 because the batch-1 loop "
        "dominates the cost of this figure.",
        "",
        markdown_table(
            ("", "seconds per repeat", "median", "approx. GFLOP/s (3x forward matmul FLOPs)"),
            [
                (
                    "batch 32",
                    " / ".join(f"{x:.2f}" for x in r.batched_s),
                    f"{median(r.batched_s):.2f}",
                    f"{batched_rate:.1f} (padded tokens counted)",
                ),
                (
                    "batch-1 loop",
                    " / ".join(f"{x:.2f}" for x in r.loop_s),
                    f"{median(r.loop_s):.2f}",
                    f"{loop_rate:.1f}",
                ),
            ],
        ),
        "",
        f"The two agree: torch.allclose(rtol=1e-4, atol=1e-5) = {r.allclose}, max |diff| "
        f"{r.max_abs_diff:.2e} for gradients up to {r.max_abs_grad:.2e}.",
    ]
    if r.ratio < 10:
        text += [
            "",
            f"**{r.ratio:.2f}x misses the 10x target. What bounds it:** the batched pass "
            f"already runs at about {batched_rate:.0f} GFLOP/s, "
            f"{100 * batched_rate / peak:.0f}% of the dense matmul rate ({peak:.1f} GFLOP/s), "
            f"while doing {100 * (padded.mean() / seq.mean() - 1):.0f}% more token work than "
            f"the loop (one batch padded to its longest pair: mean width {padded.mean():.1f} vs "
            f"mean length {seq.mean():.1f}). So the speed-up is set by how slow the loop is: "
            f"here about {loop_rate:.1f} GFLOP/s, with GEMMs of only ~{seq.mean():.0f} rows "
            f"(one pair's tokens) and {ops_per_pair:,.0f} aten ops per pair (profiler count, "
            "forward + backward), each paying dispatch, autograd and hook overhead and, on this "
            "shared VM, a wait for both of its threads to be scheduled (the loop's time per "
            f"repeat: {spread(r.loop_s)} s). On a quiet CPU the loop runs faster and the ratio "
            "drops. Where the batch-1 loop spends its time:",
            "",
            _ops_table(prof),
            "",
            "**What would move it:** a GPU, where one pair's kernels are far too small to fill "
            "the device and the loop is bound by kernel-launch latency (there one backward per "
            "batch pays off by far more); on CPU, more pairs per importance run (the runner "
            "uses 256: eight length-sorted batches pad far less than one batch of 32 here).",
        ]
    sec.details += text
    return sec


# ---------------------------------------------------------------- figure 4


def pruning(tokenizer, s: Settings) -> Section:
    sec = Section("4. Structural pruning: latency vs the FLOP-predicted speed-up")
    pad = tokenizer.pad_token_id
    model = mbert_base()
    pool = remap_vocab(xnli_pool(tokenizer, 8, seed=300), MBERT_VOCAB)
    print(f"  mBERT-base size: batch {s.prune_batch}, {s.prune_repeats} repeats per level ...")
    results = prune_bench.latency(model, pool, pad, batch=s.prune_batch, repeats=s.prune_repeats)
    summary = prune_bench.summary(results)
    for level, achieved, predicted, ratio in summary[1:]:
        sec.rows.append(
            Row(
                "4",
                f"{int(level * 100)}% heads removed: achieved/predicted",
                f"{ratio:.2f} ({achieved:.2f}x of {predicted:.2f}x)",
                ">= 0.9",
                met(ratio >= 0.9),
            )
        )
    chosen = prune_bench.median_window(pool, s.prune_batch)
    width = int(lengths(chosen).max())
    table_rows = [
        (
            f"{int(res.level * 100)}%",
            res.heads_removed,
            " / ".join(f"{x:.2f}" for x in res.seconds),
            f"{median(res.seconds):.3f}",
            f"{achieved:.2f}x",
            f"{predicted:.2f}x",
            f"{ratio:.2f}",
        )
        for res, (_, achieved, predicted, ratio) in zip(results, summary, strict=True)
    ]
    sec.details += [
        f"mBERT-base size (random weights), one fixed batch of {s.prune_batch} real XNLI pairs "
        f"around the median length, padded per batch to {width} tokens like mbp's batches; "
        "heads removed in mbp's random order (seed 0) with `prune_heads`; each level timed "
        f"{s.prune_repeats} times, levels interleaved in rotating order. Predicted speed-up = "
        "counted matmul FLOPs of the unpruned forward / those of the pruned one (Q/K/V/O and "
        "attention of kept heads, FFN, pooler, classifier).",
        "",
        markdown_table(
            (
                "removed",
                "heads",
                "seconds per repeat",
                "median s",
                "achieved",
                "predicted",
                "achieved/predicted",
            ),
            table_rows,
        ),
    ]
    bad = [(lvl, ratio) for lvl, _, _, ratio in summary[1:] if ratio < 0.9]
    if bad:
        prof0 = sweep_bench.op_profile(lambda: _forward(model, chosen, pad), 0.0, top=6)
        ranking = prune_order(None, "random", seed=0, shape=(12, 12))
        pruned = prune_heads(model, heads_at_fraction(ranking, 0.9, layers=12, heads=12))
        prof9 = sweep_bench.op_profile(lambda: _forward(pruned, chosen, pad), 0.0, top=6)
        sec.details += [
            "",
            "**Missed at "
            + ", ".join(f"{int(lv * 100)}% ({ratio:.2f})" for lv, ratio in bad)
            + ". What bounds it:** the prediction counts matmul FLOPs only; the work head "
            "pruning cannot remove (embeddings, LayerNorm, GELU, residual adds, bias copies) "
            "stays, so its share of the time grows as heads go, and the remaining Q/K/V/O "
            "GEMMs become skinny (a few heads x 64 columns) and run below full-width "
            f"efficiency. GEMM share of CPU time: unpruned {100 * prof0.gemm_share:.0f}%, 90% "
            f"removed {100 * prof9.gemm_share:.0f}%. Top ops at 90% removed:",
            "",
            _ops_table(prof9.top),
            "",
            "**What would move it:** less fixed work per layer: fusing the elementwise ops into "
            "the GEMMs (bias and GELU as GEMM epilogues, fused LayerNorm + residual: "
            "torch.compile or oneDNN post-ops), and on a shared machine fewer threads than "
            "cores (figure 2's diagnostic), since those short ops are the ones that wait for "
            "thread scheduling. Layers that lose all their heads already skip attention "
            "(`NoHeads`).",
        ]
    sec.details += [
        "",
        "Noise: on this shared 2-core VM single forward passes vary by tens of percent between "
        "repeats (see the per-repeat seconds); the medians are what the table reports.",
    ]
    return sec


def _forward(model, encoded, pad: int) -> None:
    from mbp.engine.batching import length_sorted_batches

    with torch.inference_mode():
        for b in length_sorted_batches(encoded, len(encoded.input_ids), pad, save_padding=False):
            model(**b.inputs)


# ---------------------------------------------------------------- figure 5


MEMORY_PLAN: dict[str, tuple[str, list[int]]] = {
    "e5": ("0,0.9", [16, 64]),
    "mbert": ("0,0.9", [16, 64]),
}


def memory(tokenizer, s: Settings) -> Section:
    sec = Section("5. Peak memory of a sweep")
    sizes = sorted({b for _, batches in MEMORY_PLAN.values() for b in batches})
    pools = {
        b: remap_vocab(xnli_pool(tokenizer, b // len(LANGS), seed=400), MBERT_VOCAB) for b in sizes
    }
    print(
        "  one child process each: "
        + ", ".join(f"{k} batch {b}" for k, (_, bs) in MEMORY_PLAN.items() for b in bs)
        + " ..."
    )
    points = mem_bench.run_all(pools, MEMORY_PLAN)
    ram = psutil.virtual_memory().total
    names = {"e5": "e5-small size", "mbert": "mBERT-base size"}
    lines = {}
    for size in MEMORY_PLAN:
        mine = sorted((p for p in points if p.size == size), key=lambda p: p.tokens)
        lines[size] = mem_bench.Line.through(mine[0], mine[-1])
    for p in points:
        sec.rows.append(
            Row(
                "5",
                f"sweep peak RSS, {names[p.size]}, batch {p.batch} x {p.width} tokens (measured)",
                f"{p.peak_sweep / GiB:.2f} GiB (model built: {p.rss_model / GiB:.2f})",
            )
        )
    for size, line in lines.items():
        measured = {p.batch for p in points if p.size == size}
        todo = [b for b in (64, 256, 1024) if b not in measured]
        sec.rows.append(
            Row(
                "5",
                f"peak RSS, {names[size]}, batch {' / '.join(map(str, todo))} x 128 tokens "
                "(EXTRAPOLATED)",
                " / ".join(f"{line.extrapolate(b) / GiB:.2f}" for b in todo) + " GiB",
            )
        )
    sec.rows.append(
        Row(
            "5",
            f"largest batch in {ram / GiB:.1f} GiB RAM at 128 tokens (EXTRAPOLATED)",
            ", ".join(f"{names[k]} ~{line.largest_batch(ram):,}" for k, line in lines.items()),
        )
    )
    sec.details += [
        "Each configuration runs in its own child process (`python -m bench.memory_child`, "
        "started through `sh -c` so its ru_maxrss is its own, not inherited from this large "
        "process), so peaks are separate. A child builds a randomly initialised model of that "
        "size, then runs mbp's sweep path (`_evaluate_heads`: `prune_heads` + length-sorted "
        "batches) over the cells 0% and 90% (random order) on B real XNLI pairs with batch B: "
        "one batch, padded to its longest pair, because the peak of any sweep is its first, "
        "longest batch. Peak = RSS sampled every 2 ms during the sweep (psutil); ru_maxrss "
        "covers the whole child (model build included). On CPU the bound is the machine's RAM "
        f"({ram / GiB:.1f} GiB here, shared with other processes).",
        "",
        markdown_table(
            (
                "model",
                "batch",
                "padded width",
                "RSS after model build",
                "peak during sweep",
                "child ru_maxrss",
                "seconds",
            ),
            [
                (
                    names[p.size],
                    p.batch,
                    p.width,
                    f"{p.rss_model / GiB:.2f} GiB",
                    f"{p.peak_sweep / GiB:.2f} GiB",
                    f"{p.ru_maxrss / GiB:.2f} GiB",
                    f"{p.seconds:.1f}",
                )
                for p in points
            ],
        ),
        "",
        "**Extrapolated, not measured:** the other batch sizes. Inference activations grow "
        "linearly in batch x width (one layer's activations are live at a time), so peak RSS "
        "is extrapolated along the straight line through the two measured points of each "
        "size, at the worst-case width 128 (max_length): "
        + "; ".join(
            f"{names[k]}: {line.intercept / GiB:.2f} GiB + {line.slope / 1024:.1f} KiB per "
            "example-token"
            for k, line in lines.items()
        )
        + ". Larger batches were not run to keep the bench within 15 minutes on this CPU (one "
        "mBERT-base-size batch of 256 long pairs is several TFLOP). The largest batch is where "
        "the line reaches the machine's RAM; a sweep also needs its pruned copy (a few MB to "
        "~100 MB) and whatever else runs on the machine.",
    ]
    return sec


# ---------------------------------------------------------------- figures 6 and 7


def _rows_from(item) -> list[Row]:
    """Table rows from whatever `bench_dashboard.run()` hands back: its per-page dicts
    (first render / widget change vs their targets), generic dicts, tuples or Rows."""
    if isinstance(item, Row):
        return [item]
    if isinstance(item, dict) and "page" in item and "first_render_s" in item:
        problems = "; ".join(item.get("problems") or [])
        out = []
        for key, label in (("first_render", "first render"), ("widget_change", "widget change")):
            value, target = item.get(f"{key}_s"), item.get(f"{key}_target_s")
            if value is None:
                continue
            ok = target is None or value < target
            out.append(
                Row(
                    "6",
                    f"dashboard {item['page']}: {label}",
                    f"{value:.3f} s"
                    + (f" ({problems})" if problems and key == "first_render" else ""),
                    f"< {target} s" if target is not None else "-",
                    met(ok and not problems),
                )
            )
        return out
    if isinstance(item, dict):
        m = item.get("met", item.get("ok", "-"))
        return [
            Row(
                "6",
                str(item.get("figure", item.get("name", "dashboard"))),
                str(item.get("value", "")),
                str(item.get("target", "-")),
                met(m) if isinstance(m, bool) else str(m if m is not None else "-"),
            )
        ]
    if isinstance(item, (tuple, list)):
        vals = [*list(item), "-", "-", "-"][:4]
        m = vals[3]
        return [
            Row(
                "6",
                str(vals[0]),
                str(vals[1]),
                str(vals[2]),
                met(m) if isinstance(m, bool) else str(m),
            )
        ]
    return [Row("6", "dashboard", str(item))]


def dashboard() -> Section:
    """Rows of `bench.bench_dashboard.run()` when that module exists (another engineer's)."""
    sec = Section("6. Dashboard")
    try:
        module = importlib.import_module("bench.bench_dashboard")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench.bench_dashboard", "bench"):
            sec.rows.append(Row("6", "dashboard", f"not measured (import failed: {exc})"))
            return sec
        sec.rows.append(Row("6", "dashboard", "not measured (bench_dashboard missing)"))
        return sec
    try:
        result = module.run()
    except Exception as exc:  # another engineer's module: report, never abort the bench
        sec.rows.append(Row("6", "dashboard", f"not measured (run() failed: {exc!r})"[:200]))
        return sec
    items = getattr(result, "rows", result)
    if items is None:
        items = []
    if isinstance(items, dict):
        items = [items]
    if hasattr(module, "print_table") and items and all(isinstance(i, dict) for i in items):
        # its own printer is a nicety; the rows below are what counts
        with contextlib.suppress(Exception):
            module.print_table(items)
    for item in items:
        sec.rows += _rows_from(item)
    for row in sec.rows:
        row.section = "6"
    if not sec.rows:
        sec.rows.append(Row("6", "dashboard", "bench_dashboard.run() returned no rows"))
    sec.details.append(
        "Rows from `bench.bench_dashboard.run()` (bench/bench_dashboard.py, maintained "
        "separately; see its docstring for what it times)."
    )
    return sec


def gpu(tokenizer) -> Section:
    sec = Section("7. GPU paper-scale XNLI sweep")
    if not torch.cuda.is_available():
        sec.rows.append(Row("7", "GPU paper-scale XNLI sweep", "not measured (no GPU lent)"))
        sec.details.append(
            "No GPU was visible to this run, so nothing was measured and nothing is estimated. "
            "`bench/gpu.py` holds the code path (mbp's sweep on CUDA with bf16 autocast; the "
            "anchor baseline in fp32) and runs automatically when `torch.cuda.is_available()`."
        )
        return sec
    from bench import gpu as gpu_bench

    t0 = time.perf_counter()
    r = gpu_bench.paper_scale(tokenizer)
    sec.rows += [
        Row(
            "7",
            f"GPU paper-scale sweep ({r.examples} pairs x {r.cells} cells), mbp bf16",
            f"{r.mbp_rate:.0f} example-evals/s ({median(r.mbp_s):.0f} s per sweep)",
        ),
        Row(
            "7",
            "GPU: mbp / anchor baseline (fp32, baseline on en only)",
            f"{r.mbp_rate / r.base_rate:.2f}x",
        ),
    ]
    sec.details.append(
        f"{r.device}: mbp passes {' / '.join(f'{x:.1f}' for x in r.mbp_s)} s; baseline "
        f"({r.base_examples} pairs) {' / '.join(f'{x:.1f}' for x in r.base_s)} s; section took "
        f"{time.perf_counter() - t0:.0f} s."
    )
    return sec


# ---------------------------------------------------------------- figure 9


def browser(reps: int = 3) -> Section:
    """The dashboard in Chromium (bench/browser_timing.py): first charts and a widget change per
    page, over the shipped store and 1,000,000 curve rows, with the split of each visit."""
    from pathlib import Path

    from bench import browser_timing

    sec = Section("9. The dashboard in a browser")
    if not Path(browser_timing.CHROMIUM).exists():
        sec.rows.append(Row("9", "dashboard in Chromium", "not measured (no /usr/bin/chromium)"))
        return sec
    load = browser_timing.load_average()
    results = browser_timing.run(reps=reps)
    for r in results:
        where = f"dashboard in Chromium, {r['store']} store, {r['page']}"
        sec.rows += [
            Row("9", f"{where}: first charts", f"{r['first_s']:.2f} s (rep 1 {r['first_rep1_s']:.2f})",
                f"< {r['first_target_s']:g} s", met(r["first_met"] and not r["problems"]),
                "; ".join(r["problems"])),
            Row("9", f"{where}: widget change", f"{r['widget_s']:.2f} s", f"< {r['widget_target_s']:g} s",
                met(r["widget_met"])),
        ]  # fmt: skip
    sec.details += browser_timing.markdown(results, load)
    from bench import browser_floor  # what Streamlit and each chart library cost without mbp

    load = browser_timing.load_average()
    floor = browser_floor.run(reps=reps)
    text_only = floor[0]["median_s"]
    sec.rows.append(Row("9", "floor: Streamlit page with text only (no mbp)", f"{text_only:.2f} s",
                        f"< {browser_timing.FIRST_TARGET_S:g} s",
                        met(text_only < browser_timing.FIRST_TARGET_S)))  # fmt: skip
    sec.rows += [
        Row("9", f"floor: {r['variant']} added", f"{r['added_s']:+.2f} s") for r in floor[1:]
    ]
    sec.details += browser_floor.markdown(floor, load)
    return sec


# ---------------------------------------------------------------- figure 10


def bf16(repeats: int = 3) -> Section:
    """bf16 vs fp32 on CPU (bench/bf16.py): agreement on the real e5-small (accuracy per cell,
    prediction flips, importance Spearman), a short fine-tune's dev score, and the speed ratio."""
    from bench import bf16 as bf16_bench

    return bf16_bench.section(bf16_bench.measure(repeats=repeats))


# ---------------------------------------------------------------- figure 11


def finetune_speed(repeats: int = 3) -> Section:
    """Fine-tuning throughput (bench/finetune_speed.py): mbp's default recipe and mbp with the
    levers against the Hugging Face Trainer on the same recipe, with dev scores."""
    from bench import finetune_speed as ft_bench

    return ft_bench.section(ft_bench.measure(repeats=repeats))


# ---------------------------------------------------------------- figure 12


def plan_cost() -> Section:
    """The paper-protocol plan's cost (bench/plan_cost.py): each retrain step's measured minutes
    in the shipped results, and the labelled projection to the paper's recipe."""
    from bench import plan_cost as cost

    sec = Section(
        "12. The paper-protocol plan's cost: measured, and projected to the paper's recipe"
    )
    runs = cost.measured_runs(cost.ROOT / "precomputed")
    table = cost.project(runs)
    for row in table.to_dict("records"):
        done = row["state"] == "done"
        measured = f"{row['measured min']:.1f} min on {row['device']}" if done else "-"
        projected = f"{row['projected h']:,.1f} h (PROJECTION)" if done else "-"
        sec.rows.append(Row("12", f"plan step {row['step']} ({row['recipe']})", measured,
                            note=f"{row['state']}; at {row['paper recipe']}: {projected}"))  # fmt: skip
    from bench.report import markdown_table

    sec.details += [
        "From the shipped results (`python -m bench.plan_cost`): a step's minutes are its cells' "
        "own times (a retrained cell's fine-tune plus its evaluations). The projection carries "
        "each finished step's seconds per training example-epoch to the task's whole training "
        "set x 3 epochs on the same device; it is a projection, not a measurement. Its rate is "
        "the results' CELL seconds (fine-tune plus evaluations), not the checkpoints' "
        "TRAINING-loop seconds per example-epoch that `mbp.experiments.finetune_estimate` "
        "announces before one fine-tune.",
        markdown_table(tuple(table.columns), [tuple("" if v != v else v for v in r)
                                              for r in table.itertuples(index=False)]),
        cost.gpu_note(runs),
    ]  # fmt: skip
    return sec


# ---------------------------------------------------------------- figure 13


def iterative(tokenizer, e5_model, s: Settings) -> Section:
    """The iterative order (bench/iterative.py): mbp's runner path vs the anchor's
    re-score-every-step loop, same pairs, grid and weights, interleaved repeats."""
    from bench import iterative as it_bench

    result = it_bench.measure(per_lang=s.iterative_per_lang, repeats=s.repeats, model=e5_model,
                              tokenizer=tokenizer)  # fmt: skip
    return it_bench.section(result)
