"""Structural head pruning: slice pruned heads out of the weights so the model is really smaller.

For each layer, the query/key/value rows and the output projection's columns of the removed
heads are dropped (`slice_linear`: one copy of the kept weights, no random initialisation). transformers' attention infers the head
count from the tensor width (`view(..., -1, head_size)`), so a sliced layer just runs with fewer
heads. When ALL heads of a layer go, the self-attention is replaced by `NoHeads`, which returns a
zero-width context; the output projection then has no input columns and yields only its bias,
exactly what a zero gate gives.

`prune_heads` works on a copy that SHARES every untouched parameter with the original (deepcopy
with the parameters pre-seeded in the memo), so pruning e5-small costs a few MB, not 470 MB, and
the original (possibly cached and shared) model is never modified.

The pruned heads are recorded in `config.mbp_pruned_heads` ({layer: [heads]} in ORIGINAL head
numbering); `save_pruned` / `load_pruned` round-trip such a model.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel

from mbp.engine.layout import attention_blocks, model_shape
from mbp.errors import MbpError

HeadSet = dict[int, list[int]]


class NoHeads(nn.Module):
    """Stands in for a self-attention module whose heads were all removed."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, None]:
        return hidden_states.new_zeros(*hidden_states.shape[:-1], 0), None


def normalize_heads(heads: HeadSet | list[tuple[int, int]], layers: int, n_heads: int) -> HeadSet:
    """{layer: sorted unique heads}, validated against the model's shape."""
    pairs = (
        [(int(layer), int(h)) for layer, hs in heads.items() for h in hs]
        if isinstance(heads, dict)
        else [(int(layer), int(h)) for layer, h in heads]
    )
    out: HeadSet = {}
    for layer, head in pairs:
        if not (0 <= layer < layers and 0 <= head < n_heads):
            raise MbpError(
                f"head ({layer}, {head}) is outside this model's {layers} layers x {n_heads} heads: "
                "use 0-based layer and head indices"
            )
        out.setdefault(layer, []).append(head)
    return {layer: sorted(set(hs)) for layer, hs in sorted(out.items())}


def slice_linear(layer: nn.Linear, index: torch.Tensor, dim: int = 0) -> nn.Linear:
    """A new Linear keeping `index` along `dim` (0: output rows, 1: input columns).

    Unlike transformers' `prune_linear_layer` (a randomly initialised fp32 layer on the CPU, then
    three copies), the kept weights are copied once, on their own device and dtype, and nothing
    is initialised: this runs once per sweep cell. With dim=1 the bias is shared, not copied.
    """
    index = index.to(layer.weight.device)
    weight = layer.weight.detach().index_select(dim, index)
    out_features, in_features = weight.shape
    sliced = nn.Linear(in_features, out_features, bias=layer.bias is not None, device="meta")
    sliced.weight = nn.Parameter(weight, requires_grad=layer.weight.requires_grad)
    if layer.bias is not None:
        kept = layer.bias.detach().index_select(0, index)
        sliced.bias = (
            layer.bias if dim == 1 else nn.Parameter(kept, requires_grad=layer.bias.requires_grad)
        )
    return sliced


def _shared_copy(model: PreTrainedModel) -> PreTrainedModel:
    """A new module tree whose parameters and buffers are the original's (not copied)."""
    memo: dict[int, object] = {id(t): t for t in model.parameters()}
    memo.update({id(t): t for t in model.buffers()})
    return copy.deepcopy(model, memo)


def prune_heads(model: PreTrainedModel, heads: HeadSet | list[tuple[int, int]]) -> PreTrainedModel:
    """A structurally pruned copy of an UNPRUNED model (untouched weights are shared)."""
    layers, n_heads = model_shape(model)
    heads = normalize_heads(heads, layers, n_heads)
    if getattr(model.config, "mbp_pruned_heads", None):
        raise MbpError("prune_heads needs an unpruned model: prune the original model once instead")
    pruned = _shared_copy(model)
    pruned.config = copy.deepcopy(model.config)
    for block in attention_blocks(pruned):
        remove = heads.get(block.layer, [])
        if not remove:
            continue
        keep_heads = [h for h in range(n_heads) if h not in remove]
        index = torch.tensor(
            [h * block.head_size + i for h in keep_heads for i in range(block.head_size)],
            dtype=torch.long,
        )
        with warnings.catch_warnings():  # a fully pruned layer has zero-size weights: intended
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            for name in (block.q_name, block.k_name, block.v_name):
                setattr(block.owner, name, slice_linear(getattr(block.owner, name), index))
            out = slice_linear(block.output_projection, index, 1)
        setattr(block.out_owner, block.out_name, out)
        if not keep_heads:
            _replace_self_attention(pruned, block.layer)
        else:
            for attr in ("num_attention_heads", "n_heads"):
                if hasattr(block.owner, attr):
                    setattr(block.owner, attr, len(keep_heads))
            if hasattr(block.owner, "all_head_size"):
                block.owner.all_head_size = len(keep_heads) * block.head_size
    pruned.config.mbp_pruned_heads = {str(k): v for k, v in heads.items()}
    return pruned


def _replace_self_attention(model: PreTrainedModel, layer: int) -> None:
    from mbp.engine.layout import encoder_layers

    family, layers = encoder_layers(model)
    attention = layers[layer].attention
    if family == "bert":
        attention.self = NoHeads()
    else:
        # DistilBERT's attention module owns both halves; keep out_lin, drop the q/k/v path.
        out_lin = attention.out_lin

        class DistilNoHeads(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.out_lin = out_lin

            def forward(self, query: torch.Tensor, *args, **kwargs):
                context = query.new_zeros(*query.shape[:-1], 0)
                return (self.out_lin(context), None)

        layers[layer].attention = DistilNoHeads()


def pruned_heads_of(model: PreTrainedModel) -> HeadSet:
    """The heads removed from this model ({} for an unpruned one), in original numbering."""
    raw = getattr(model.config, "mbp_pruned_heads", None) or {}
    return {int(k): list(v) for k, v in raw.items()}


def save_pruned(model: PreTrainedModel, directory: str | Path) -> Path:
    """Save a (possibly pruned) model as config.json + model.safetensors."""
    from transformers.utils import logging as hf_logging

    directory = Path(directory)
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a one-file "Writing model shards" bar is noise
    try:
        model.save_pretrained(directory, safe_serialization=True)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    return directory


def load_pruned(directory: str | Path) -> PreTrainedModel:
    """Reload a model saved by `save_pruned`: rebuild the architecture, slice it, load weights."""
    directory = Path(directory)
    config = AutoConfig.from_pretrained(directory, trust_remote_code=False)
    heads = {int(k): list(v) for k, v in (getattr(config, "mbp_pruned_heads", None) or {}).items()}
    config.mbp_pruned_heads = {}
    model = AutoModelForSequenceClassification.from_config(config)
    if heads:
        model = prune_heads(model, heads)
    state = load_file(str(directory / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # tied or non-persistent tensors may legitimately be absent; real weights may not
    real_missing = [k for k in missing if not k.endswith("position_ids")]
    if real_missing or unexpected:
        raise MbpError(
            f"{directory} does not match its config (missing {real_missing[:3]}, unexpected "
            f"{unexpected[:3]}): re-save the model with mbp"
        )
    model.eval()
    return model


def describe_heads(heads: HeadSet) -> str:
    """A compact JSON list of [layer, head] pairs, as the store keeps it."""
    return json.dumps([[layer, h] for layer, hs in sorted(heads.items()) for h in hs])
