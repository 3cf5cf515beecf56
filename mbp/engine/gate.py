"""Gate attention heads with forward pre-hooks on each layer's output projection.

transformers 5 dropped `head_mask`. The output projection's input is the concatenated per-head
context, shape (batch, tokens, heads * head_size), so scaling slice h by gate[h] is exactly
Michel et al.'s xi_h. It leaves the fast SDPA path untouched. A gate of ones multiplies by 1.0,
which is exact in IEEE arithmetic, so logits are bit-identical to the unhooked model.

    with head_gate(model, torch.ones(layers, heads)):      # (layers, heads)
        logits = model(**batch).logits
    gate = torch.ones(batch, layers, heads, requires_grad=True)  # per-example gate
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from mbp.engine.layout import attention_blocks, model_shape
from mbp.errors import MbpError


def _make_hook(gate: torch.Tensor, layer: int, head_size: int, kept: list[int] | None):
    def hook(module: nn.Module, args: tuple[torch.Tensor, ...]):
        context = args[0]  # (batch, tokens, kept heads * head_size)
        g = gate[..., layer, :]  # (heads,) or (batch, heads)
        if kept is not None:  # a structurally pruned layer: only its remaining heads
            g = g[..., kept]
        scale = g.repeat_interleave(head_size, dim=-1).to(context.dtype)
        if scale.dim() == 2:  # per-example gate: broadcast over tokens
            scale = scale[:, None, :]
        return (context * scale, *args[1:])

    return hook


@contextmanager
def head_gate(model: nn.Module, gate: torch.Tensor) -> Iterator[torch.Tensor]:
    """Attach a head gate for the duration of the block; hooks are always removed afterwards.

    gate: (layers, heads), or (batch, layers, heads) for a per-example gate whose leading
    dimension must equal the batch size of every forward pass inside the block. The model's
    weights are never modified, so a cached, shared model stays as it was. On a model pruned by
    `prune_heads` the gate keeps the original numbering and scales the remaining heads; the
    entries of removed heads are unused (their gradient is zero).
    """
    layers, heads = model_shape(model)
    if gate.shape[-2:] != (layers, heads) or gate.dim() not in (2, 3):
        raise MbpError(
            f"gate of shape {tuple(gate.shape)} does not fit a model with {layers} layers x "
            f"{heads} heads: pass (layers, heads) or (batch, layers, heads)"
        )
    from mbp.engine.prune import pruned_heads_of

    blocks = attention_blocks(model)
    removed = pruned_heads_of(model)
    kept = {b.layer: [h for h in range(heads) if h not in removed.get(b.layer, [])] for b in blocks}
    if any(b.num_heads != len(kept[b.layer]) for b in blocks):
        raise MbpError(
            "head_gate found heads removed without a record of which (config.mbp_pruned_heads): "
            "prune with mbp.engine.prune.prune_heads, or gate the original model"
        )
    handles = []
    try:
        for block in blocks:
            layer_kept = kept[block.layer] if len(kept[block.layer]) < heads else None
            hook = _make_hook(gate, block.layer, block.head_size, layer_kept)
            handles.append(block.output_projection.register_forward_pre_hook(hook))
        yield gate
    finally:
        for handle in handles:
            handle.remove()


def gate_from_heads(
    pruned: dict[int, list[int]] | list[tuple[int, int]], layers: int, heads: int
) -> torch.Tensor:
    """A (layers, heads) gate of ones with zeros at the pruned (layer, head) pairs."""
    gate = torch.ones(layers, heads)
    pairs = pruned.items() if isinstance(pruned, dict) else None
    if pairs is not None:
        for layer, hs in pairs:
            gate[layer, list(hs)] = 0.0
    else:
        for layer, head in pruned:
            gate[layer, head] = 0.0
    return gate
