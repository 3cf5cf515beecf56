"""Head importance scores: gradient (Michel et al. 2019), Fisher (Kwon et al. 2022) and random.

With a gate xi of shape (batch, layers, heads), example i's loss depends only on its own row
xi_i, so the gradient of the SUMMED loss w.r.t. xi_i is exactly dL_i/dxi_i: one backward pass
per batch gives every example's own gradient, no batch-size-1 loop needed.

    scores = head_importance(model, encoded, regression=False, pad_id=0, estimator="gradient")
    scores.scores  # (layers, heads) tensor
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mbp.engine.batching import length_sorted_batches
from mbp.engine.device import Precision, autocast
from mbp.engine.gate import head_gate
from mbp.engine.layout import model_shape
from mbp.engine.names import ENGINE_ESTIMATORS, Estimator
from mbp.errors import MbpError

ESTIMATORS = ENGINE_ESTIMATORS


@dataclass
class HeadImportance:
    scores: torch.Tensor  # (layers, heads), higher = more important
    estimator: str
    normalization: str  # "none" or "layer-l2"
    n_examples: int
    meta: dict = field(default_factory=dict)


def per_example_gate_gradients(
    model: nn.Module,
    encoded,
    *,
    regression: bool,
    pad_id: int,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    precision: Precision = "fp32",
    base_gate: torch.Tensor | None = None,
) -> torch.Tensor:
    """dL_i/dxi for every example i: (examples, layers, heads), in `encoded`'s order.

    `base_gate` (layers, heads) sets the operating point (zeros = already pruned heads), as the
    iterative order needs.
    """
    device = torch.device(device)
    layers, heads = model_shape(model)
    base = torch.ones(layers, heads) if base_gate is None else base_gate.float()
    grads = torch.zeros(len(encoded.input_ids), layers, heads)
    was_training = model.training
    model.eval()  # no dropout: scores are deterministic
    # only the gate's gradient is wanted: frozen weights keep autograd from recording (and
    # saving inputs for) the weight gradients of every layer
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        for batch in length_sorted_batches(encoded, batch_size, pad_id, device):
            n = len(batch.index)
            gate = base.to(device).expand(n, layers, heads).clone().requires_grad_(True)
            with head_gate(model, gate), autocast(device, precision):
                logits = model(**batch.inputs).logits.float()
            if regression:
                loss = F.mse_loss(logits[:, 0], batch.labels.float(), reduction="sum")
            else:
                loss = F.cross_entropy(logits, batch.labels.long(), reduction="sum")
            (grad,) = torch.autograd.grad(loss, gate)
            grads[torch.from_numpy(batch.index)] = grad.detach().float().cpu()
    finally:
        for p in trainable:
            p.requires_grad_(True)
        model.train(was_training)
    return grads


def normalize_per_layer(scores: torch.Tensor) -> torch.Tensor:
    """Divide each layer's scores by their L2 norm (Michel's --normalize_pruning_by_layer)."""
    norm = scores.pow(2).sum(-1, keepdim=True).sqrt()
    return scores / norm.clamp_min(1e-20)


def head_importance(
    model: nn.Module,
    encoded,
    *,
    regression: bool,
    pad_id: int,
    estimator: Estimator = "gradient",
    normalize: bool = False,
    seed: int = 0,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    precision: Precision = "fp32",
    base_gate: torch.Tensor | None = None,
) -> HeadImportance:
    """Score every head; returns (layers, heads) scores plus how they were made."""
    if estimator not in ESTIMATORS:
        raise MbpError(f"unknown estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
    layers, heads = model_shape(model)
    n = len(encoded.input_ids)
    if estimator == "random":
        generator = torch.Generator().manual_seed(seed)
        scores = torch.rand(layers, heads, generator=generator)
    else:
        if n == 0:
            raise MbpError("no examples to score heads on: pass --importance-examples > 0")
        grads = per_example_gate_gradients(
            model,
            encoded,
            regression=regression,
            pad_id=pad_id,
            batch_size=batch_size,
            device=device,
            precision=precision,
            base_gate=base_gate,
        )
        scores = grads.abs().mean(0) if estimator == "gradient" else grads.pow(2).sum(0)
    if normalize:
        scores = normalize_per_layer(scores)
    return HeadImportance(
        scores=scores,
        estimator=estimator,
        normalization="layer-l2" if normalize else "none",
        n_examples=0 if estimator == "random" else n,
        meta={"seed": seed} if estimator == "random" else {},
    )
