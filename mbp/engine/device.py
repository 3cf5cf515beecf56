"""Device and precision choices, the same code path on CPU and CUDA."""

from __future__ import annotations

import contextlib
import os
from typing import Literal

import torch

from mbp.errors import MbpError

Precision = Literal["fp32", "bf16", "fp16", "auto"]


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


def autocast(device: torch.device, precision: Precision = "auto"):
    """bf16/fp16 autocast on CUDA ('auto' = bf16 where supported); plain fp32 elsewhere."""
    if device.type != "cuda" or precision == "fp32":
        return contextlib.nullcontext()
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def resolved_precision(device: torch.device, precision: Precision = "auto") -> str:
    if device.type != "cuda":
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision
