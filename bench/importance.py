"""Figure 3: exact per-example gate gradients in one backward pass per batch of 32 vs a
batch-size-1 loop (the same function with batch_size=1: one forward and backward per example).

Both give dL_i/dxi_i for every example; the check is that the numbers agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bench.common import interleaved, speedup
from mbp.engine.importance import per_example_gate_gradients

BATCH = 32


@dataclass
class ImportanceResult:
    n_examples: int
    batched_s: list[float]
    loop_s: list[float]
    max_abs_diff: float
    max_abs_grad: float
    allclose: bool
    profile: list[tuple[str, float]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return speedup(self.loop_s, self.batched_s)


def compare(model, encoded, pad_id: int, *, repeats: int) -> ImportanceResult:
    out: dict[str, torch.Tensor] = {}

    def batched():
        out["batched"] = per_example_gate_gradients(
            model, encoded, regression=False, pad_id=pad_id, batch_size=BATCH
        )

    def loop():
        out["loop"] = per_example_gate_gradients(
            model, encoded, regression=False, pad_id=pad_id, batch_size=1
        )

    times = interleaved({"batched": batched, "loop": loop}, repeats)
    a, b = out["batched"], out["loop"]
    return ImportanceResult(
        n_examples=len(encoded.input_ids),
        batched_s=times["batched"],
        loop_s=times["loop"],
        max_abs_diff=float((a - b).abs().max()),
        max_abs_grad=float(b.abs().max()),
        allclose=bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5)),
    )


def profile_loop(model, encoded, pad_id: int, n: int = 8) -> tuple[list[tuple[str, float]], float]:
    """Where the batch-size-1 loop spends its time (self CPU %, top ops) on n examples, and how
    many aten ops it runs per example."""
    from torch.profiler import ProfilerActivity, profile

    from bench.common import take

    part = take(encoded, range(min(n, len(encoded.input_ids))))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        per_example_gate_gradients(model, part, regression=False, pad_id=pad_id, batch_size=1)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:6]
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    return [(e.key, 100 * e.self_cpu_time_total / total) for e in top], calls / len(part.input_ids)
