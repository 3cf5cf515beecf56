"""Gate and structural pruning on tiny random BERT, RoBERTa and DistilBERT models."""

from __future__ import annotations

import copy

import pytest
import torch

from mbp.engine.gate import gate_from_heads, head_gate
from mbp.engine.layout import attention_blocks
from mbp.engine.prune import load_pruned, prune_heads, pruned_heads_of, save_pruned
from mbp.errors import MbpError
from mbp.models import tiny_bert

ARCHS = ("bert", "roberta", "distilbert")


def _inputs(vocab: int = 100, batch: int = 4, tokens: int = 9, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, tokens), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0  # one padded example, so masking is exercised
    mask[1, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_all_ones_gate_is_bit_identical(arch, attn):
    model, _ = tiny_bert(arch=arch, layers=3, heads=4)
    model.config._attn_implementation = attn
    inputs = _inputs()
    with torch.no_grad():
        plain = model(**inputs).logits
        with head_gate(model, torch.ones(3, 4)):
            gated = model(**inputs).logits
    assert torch.equal(plain, gated)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_gate_equals_structural_pruning(arch, seed):
    model, _ = tiny_bert(arch=arch, layers=3, heads=4)
    rng = torch.Generator().manual_seed(seed)
    mask = torch.rand(3, 4, generator=rng) < 0.5
    mask[1] = True  # one whole layer goes
    heads = [(int(layer), int(h)) for layer, h in mask.nonzero()]
    inputs = _inputs(seed=seed)
    with torch.no_grad(), head_gate(model, gate_from_heads(heads, 3, 4)):
        gated = model(**inputs).logits
    pruned = prune_heads(model, heads)
    with torch.no_grad():
        sliced = pruned(**inputs).logits
    assert torch.allclose(gated, sliced, atol=1e-5, rtol=1e-5)
    assert sum(b.num_heads for b in attention_blocks(pruned)) == 12 - len(heads)


def test_pruning_never_modifies_the_original():
    model, _ = tiny_bert(layers=2, heads=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = _inputs()
    with torch.no_grad():
        reference = model(**inputs).logits
    prune_heads(model, {0: [0, 1, 2, 3], 1: [2]})
    with torch.no_grad():
        after = model(**inputs).logits
    assert torch.equal(reference, after)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(b.num_heads == 4 for b in attention_blocks(model))


@pytest.mark.parametrize("arch", ARCHS)
def test_pruned_model_saves_and_reloads(tmp_path, arch):
    model, _ = tiny_bert(arch=arch, layers=3, heads=4)
    pruned = prune_heads(model, {0: [1], 2: [0, 1, 2, 3]})
    save_pruned(pruned, tmp_path / "m")
    again = load_pruned(tmp_path / "m")
    inputs = _inputs()
    with torch.no_grad():
        assert torch.allclose(pruned(**inputs).logits, again(**inputs).logits, atol=1e-6)
    assert pruned_heads_of(again) == {0: [1], 2: [0, 1, 2, 3]}


def test_hooks_are_removed_after_the_block_even_on_error():
    model, _ = tiny_bert(layers=2, heads=4)
    proj = attention_blocks(model)[0].output_projection
    with pytest.raises(RuntimeError), head_gate(model, torch.zeros(2, 4)):
        assert len(proj._forward_pre_hooks) == 1
        raise RuntimeError("boom")
    assert len(proj._forward_pre_hooks) == 0


def test_bad_gate_shape_and_heads_fail_clearly():
    model, _ = tiny_bert(layers=2, heads=4)
    with (
        pytest.raises(MbpError, match=r"gate of shape \(3, 4\)"),
        head_gate(model, torch.ones(3, 4)),
    ):
        pass
    with pytest.raises(MbpError, match=r"head \(5, 0\) is outside"):
        prune_heads(model, [(5, 0)])


def test_unsupported_model_fails_clearly():
    with pytest.raises(MbpError, match="no BERT, RoBERTa/XLM-R or DistilBERT encoder"):
        attention_blocks(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_slice_linear_matches_transformers_and_keeps_dtype_without_random_init(dim, dtype):
    from torch import nn
    from transformers.pytorch_utils import prune_linear_layer

    from mbp.engine.prune import slice_linear

    torch.manual_seed(0)
    layer = nn.Linear(12, 8).to(dtype)
    index = torch.tensor([0, 2, 3, 7])
    x = torch.randn(5, 12 if dim == 0 else 4, dtype=dtype)
    reference = prune_linear_layer(copy.deepcopy(layer).float(), index, dim)
    state = torch.random.get_rng_state()
    sliced = slice_linear(layer, index, dim)
    assert torch.equal(torch.random.get_rng_state(), state)  # nothing was initialised
    assert sliced.weight.dtype == dtype and sliced.weight.requires_grad
    torch.testing.assert_close(sliced(x).float(), reference(x.float()), rtol=2e-2, atol=2e-2)
    if dtype == torch.float32:  # the very same numbers, so stored sweeps stay reproducible
        assert torch.equal(sliced.weight, reference.weight)
        assert torch.equal(sliced.bias, reference.bias)
    if dim == 1:
        assert sliced.bias is layer.bias  # shared, not copied
