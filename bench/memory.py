"""Figure 5: peak memory (process RSS) of a sweep, one child process per configuration.

On CPU the bound is the machine's RAM. Each child builds a randomly initialised model of the
given size and runs mbp's sweep path on B real pairs with batch B (one batch: the peak of a sweep
is its first, longest batch). RSS at larger batches is EXTRAPOLATED from the measured points:
activations grow linearly with batch x width, so bytes per (example x token) from a measured
point, times the worst-case width (max_length 128), plus the model's RSS.
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
    ru_maxrss: int
    seconds: float

    @property
    def activation_bytes_per_token(self) -> float:
        return max(0, self.peak_sweep - self.rss_model) / (self.batch * self.width)

    def extrapolate(self, batch: int, width: int = 128) -> float:
        """EXTRAPOLATED peak RSS (bytes) at `batch` x `width` from this measured point."""
        return self.rss_model + self.activation_bytes_per_token * batch * width

    def largest_batch(self, ram: int, width: int = 128) -> int:
        """EXTRAPOLATED largest batch whose peak stays under `ram` bytes at `width` tokens."""
        per = self.activation_bytes_per_token * width
        return int((ram - self.rss_model) // per) if per > 0 else 0


def measure(size: str, batch: int, pool_path: str, cells: str, timeout: int = 600) -> MemPoint:
    cmd = [
        sys.executable,
        "-m",
        "bench.memory_child",
        "--size",
        size,
        "--batch",
        str(batch),
        "--data",
        pool_path,
        "--cells",
        cells,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory child {size} batch {batch} failed: {tail}")
    return MemPoint(**{k: v for k, v in json.loads(lines[-1]).items() if k != "size"}, size=size)


def run_all(pools: dict[int, object], configs: list[tuple[str, int, str]]) -> list[MemPoint]:
    """configs: (size "e5"/"mbert", batch, cells); pools: batch -> Encoded with that many pairs."""
    points = []
    with tempfile.TemporaryDirectory(prefix="mbp-bench-") as tmp:
        paths = {}
        for batch, encoded in pools.items():
            paths[batch] = str(Path(tmp) / f"pool{batch}.npz")
            save_pool(encoded, paths[batch])
        for size, batch, cells in configs:
            points.append(measure(size, batch, paths[batch], cells))
    return points
