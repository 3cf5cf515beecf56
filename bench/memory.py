"""Figure 5: peak memory (process RSS) of a sweep, one child process per configuration.

On CPU the bound is the machine's RAM. Each child builds a randomly initialised model of the
given size and runs mbp's sweep path on B real pairs with batch B (one batch: the peak of a sweep
is its first, longest batch), for two batch sizes (one child process each).
RSS at larger batches is EXTRAPOLATED along the line through the two measured points
(inference activations grow linearly with batch x width), at the worst-case width 128.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT
from bench.memory_child import save_pool

GiB = 2**30


@dataclass
class MemPoint:
    size: str
    batch: int
    examples: int
    width: int
    rss_model: int
    peak_sweep: int
    seconds: float
    ru_maxrss: int = 0  # of the whole child (all its phases and the model build)

    @property
    def tokens(self) -> int:
        return self.batch * self.width


@dataclass
class Line:
    """peak RSS = intercept + slope x (batch x width), through two measured points."""

    size: str
    intercept: float
    slope: float  # bytes per example-token

    @classmethod
    def through(cls, a: MemPoint, b: MemPoint) -> Line:
        slope = (b.peak_sweep - a.peak_sweep) / (b.tokens - a.tokens)
        return cls(a.size, a.peak_sweep - slope * a.tokens, slope)

    def extrapolate(self, batch: int, width: int = 128) -> float:
        """EXTRAPOLATED peak RSS (bytes) at `batch` x `width`."""
        return self.intercept + self.slope * batch * width

    def largest_batch(self, ram: float, width: int = 128) -> int:
        """EXTRAPOLATED largest batch whose peak stays under `ram` bytes at `width` tokens."""
        return int((ram - self.intercept) // (self.slope * width)) if self.slope > 0 else 0


def measure(size: str, pools: dict[int, str], cells: str, timeout: int = 900) -> list[MemPoint]:
    """One child process for one model size and its batch sizes (in ascending order)."""
    batches = sorted(pools)
    child = [
        sys.executable, "-m", "bench.memory_child", "--size", size,
        "--batches", ",".join(map(str, batches)),
        "--data", ",".join(pools[b] for b in batches), "--cells", cells,
    ]  # fmt: skip
    # `sh -c 'cmd; exit $?'` forks a fresh process for cmd, so its ru_maxrss starts from a
    # small shell, not from this (large) process.
    cmd = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *child]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory child {size} {batches} failed: {tail}")
    out = json.loads(lines[-1])
    return [MemPoint(size=size, ru_maxrss=out["ru_maxrss"], **p) for p in out["phases"]]


def run_all(pools: dict[int, object], plan: dict[str, tuple[str, list[int]]]) -> list[MemPoint]:
    """plan: size ("e5"/"mbert") -> (cells, batch sizes); pools: batch -> Encoded of that many
    pairs. One child process per (size, batch), so every peak is its own."""
    points = []
    with tempfile.TemporaryDirectory(prefix="mbp-bench-") as tmp:
        paths = {}
        for batch, encoded in pools.items():
            paths[batch] = str(Path(tmp) / f"pool{batch}.npz")
            save_pool(encoded, paths[batch])
        for size, (cells, batches) in plan.items():
            for batch in batches:
                points += measure(size, {batch: paths[batch]}, cells)
    return points
