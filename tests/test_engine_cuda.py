"""The GPU path (marked `cuda`; skipped without a CUDA device, run through the device tool)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbp.engine.evaluate import predict
from mbp.engine.gate import gate_from_heads, head_gate
from mbp.engine.importance import per_example_gate_gradients
from mbp.engine.prune import prune_heads
from mbp.models import tiny_bert
from mbp.tasks.encode import Encoded

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _encoded(n: int = 37) -> Encoded:
    rng = np.random.default_rng(0)
    ids = [rng.integers(5, 100, size=int(rng.integers(3, 30))).astype(np.int64) for _ in range(n)]
    return Encoded(
        input_ids=ids, token_type_ids=None, labels=rng.integers(0, 2, n), ids=np.arange(n)
    )


def test_gate_equals_pruning_on_cuda():
    model, _ = tiny_bert(layers=3, heads=4, hidden=32)
    model.cuda()
    heads = {0: [1, 2], 1: [0, 1, 2, 3]}
    ids = torch.randint(5, 100, (4, 11), device="cuda")
    with torch.no_grad(), head_gate(model, gate_from_heads(heads, 3, 4).cuda()):
        gated = model(input_ids=ids).logits
    with torch.no_grad():
        sliced = prune_heads(model, heads)(input_ids=ids).logits
    assert torch.allclose(gated, sliced, atol=1e-4)


def test_cuda_predictions_match_cpu_within_autocast_tolerance():
    model, _ = tiny_bert(layers=2, heads=4, hidden=32)
    encoded = _encoded()
    cpu = predict(model, encoded, pad_id=0, device="cpu")
    gpu = predict(model.cuda(), encoded, pad_id=0, device="cuda", precision="bf16")
    assert np.allclose(cpu, gpu, atol=5e-2)
    fp32 = predict(model, encoded, pad_id=0, device="cuda", precision="fp32")
    assert np.allclose(cpu, fp32, atol=1e-4)


def test_importance_on_cuda_matches_cpu():
    model, _ = tiny_bert(layers=2, heads=4, hidden=32)
    encoded = _encoded()
    cpu = per_example_gate_gradients(model, encoded, regression=False, pad_id=0)
    gpu = per_example_gate_gradients(
        model.cuda(), encoded, regression=False, pad_id=0, device="cuda"
    )
    assert torch.allclose(cpu, gpu, rtol=1e-3, atol=1e-6)
