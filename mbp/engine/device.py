"""Device and precision choices, the same code path on CPU and CUDA.

Precision: fp32 everywhere; bf16/fp16 autocast on CUDA; bf16 autocast on a CPU that computes
bf16 natively (AVX512-BF16 or AMX-BF16), refused on one that does not. 'auto' is bf16 (or fp16)
on CUDA and fp32 on CPU (see `CPU_AUTO` for why).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Literal

import torch

from mbp.errors import MbpError

Precision = Literal["fp32", "bf16", "fp16", "auto"]

#: What 'auto' means on CPU. Kept fp32 until the rule below is met on a CPU with native bf16.
#: Measured (bench/bf16.py, docs/BENCHMARKS.md figure 10; e5-small, 64 SST-2 dev examples x 5
#: head sets, 32 for importance, a 384-example minilm-l6 fine-tune): bf16 agrees with fp32 (0
#: flips, importance Spearman 1.000, the same fine-tuned dev score), but the CPUs measured on
#: have no native bf16, so its speed-up is unmeasured (emulated there, 3.7x slower than fp32).
#: The rule for switching it to bf16: every measured cell within 0.5 accuracy points of fp32,
#: head-importance Spearman >= 0.95, the fine-tuned dev score within 1 point, and >= 1.3x the
#: fp32 throughput with native bf16 (bench/bf16.py prints whether a run meets it).
CPU_AUTO = "fp32"
#: CPU flags (/proc/cpuinfo) of instructions that compute bf16 natively.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Set to 1 to allow bf16 on a CPU without native bf16 (emulated: correct, but slower than
#: fp32), e.g. to measure its agreement with fp32 on such a machine.
EMULATE_ENV = "MBP_CPU_BF16_EMULATE"


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; an unavailable device fails clearly."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MbpError(
            f"device {device!r} was asked for but no CUDA GPU is visible: use --device cpu"
        )
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise MbpError(f"unknown device {device!r}: use auto, cpu or cuda[:N]")
    return torch.device(device)


def use_all_cores() -> None:
    """On CPU, let torch use every core this process may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, cores or 1))


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The native-bf16 flags this CPU reports (empty: none, or no /proc/cpuinfo to read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])  # fmt: skip
    return tuple(f for f in NATIVE_BF16_FLAGS if f in flags)


def cpu_has_native_bf16() -> bool:
    """True where this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_bf16_flags())


def _cpu_precision(precision: str) -> str:
    if precision == "auto":
        return CPU_AUTO
    if precision == "fp16":
        raise MbpError(
            "--precision fp16 runs on CUDA only: on CPU use --precision fp32, or bf16 where the "
            "CPU has native bf16"
        )
    if precision == "bf16" and not (cpu_has_native_bf16() or os.environ.get(EMULATE_ENV) == "1"):
        raise MbpError(
            "--precision bf16 on CPU needs native bf16 (avx512_bf16 or amx_bf16), which this "
            "CPU lacks: use --precision fp32 (or auto), or a GPU"
        )
    return precision


def resolved_precision(device: torch.device, precision: Precision = "auto") -> str:
    """What a run on `device` computes in: fp32 | bf16 | fp16 ('auto' resolved).
    Refuses (MbpError) a precision the device cannot run."""
    if precision not in ("fp32", "bf16", "fp16", "auto"):
        raise MbpError(f"unknown precision {precision!r}: use auto, fp32, bf16 or fp16")
    if device.type == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return precision
    if device.type == "cpu":
        return _cpu_precision(precision)
    if precision in ("bf16", "fp16"):
        raise MbpError(f"--precision {precision} is not supported on {device.type}: use fp32")
    return "fp32"


def autocast(device: torch.device, precision: Precision = "auto"):
    """bf16/fp16 autocast on CUDA, bf16 autocast on a CPU with native bf16, else nothing
    (plain fp32). Weights stay fp32 either way (the master copy the optimiser updates)."""
    resolved = resolved_precision(device, precision)
    if resolved == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if resolved == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
