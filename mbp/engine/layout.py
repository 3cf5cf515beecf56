"""Find the attention blocks of a BERT-family model, whatever its module layout.

Supported: BERT-style (`bert`, `roberta`, `xlm-roberta`, `electra`, ...: `<base>.encoder.layer[i]
.attention.{self.query,key,value; output.dense}`) and DistilBERT (`distilbert.transformer.layer[i]
.attention.{q_lin,k_lin,v_lin,out_lin}`). Anything else fails with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mbp.errors import MbpError


@dataclass(frozen=True)
class AttentionBlock:
    """Handles on one layer's self-attention: where to slice heads and where to gate them."""

    layer: int
    owner: (
        nn.Module
    )  # the module holding query/key/value (BertSelfAttention, DistilBert's attention)
    q_name: str
    k_name: str
    v_name: str
    out_owner: nn.Module  # the module holding the output projection
    out_name: str
    head_size: int

    @property
    def output_projection(self) -> nn.Linear:
        return getattr(self.out_owner, self.out_name)

    @property
    def num_heads(self) -> int:
        """Heads currently present (after structural pruning this can be fewer, even 0)."""
        return self.output_projection.in_features // self.head_size


def encoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The encoder's layer list and the family it belongs to ("bert" or "distilbert")."""
    base = getattr(model, "base_model", model)
    encoder = getattr(base, "encoder", None)
    if encoder is not None and isinstance(getattr(encoder, "layer", None), nn.ModuleList):
        return "bert", encoder.layer
    transformer = getattr(base, "transformer", None)
    if transformer is not None and isinstance(getattr(transformer, "layer", None), nn.ModuleList):
        return "distilbert", transformer.layer
    raise MbpError(
        f"model class {type(model).__name__} has no BERT, RoBERTa/XLM-R or DistilBERT encoder "
        "layout (encoder.layer or transformer.layer): use a BERT-family encoder"
    )


def attention_blocks(model: nn.Module) -> list[AttentionBlock]:
    """One `AttentionBlock` per encoder layer, in order."""
    family, layers = encoder_layers(model)
    config = model.config
    n_heads = getattr(config, "num_attention_heads", None) or config.n_heads
    hidden = getattr(config, "hidden_size", None) or config.dim
    head_size = hidden // n_heads
    blocks = []
    for i, layer in enumerate(layers):
        if family == "bert":
            att = layer.attention
            blocks.append(
                AttentionBlock(i, att.self, "query", "key", "value", att.output, "dense", head_size)
            )
        else:
            att = layer.attention
            blocks.append(
                AttentionBlock(i, att, "q_lin", "k_lin", "v_lin", att, "out_lin", head_size)
            )
    return blocks


def model_shape(model: nn.Module) -> tuple[int, int]:
    """(layers, heads per layer) of the unpruned architecture, from the config."""
    return config_shape(model.config)


def config_shape(config) -> tuple[int, int]:
    """(layers, heads per layer) from a config (BERT/RoBERTa names or DistilBERT's)."""
    layers = getattr(config, "num_hidden_layers", None) or config.n_layers
    heads = getattr(config, "num_attention_heads", None) or config.n_heads
    return int(layers), int(heads)
