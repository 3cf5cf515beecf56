"""Reuse the unpruned model's hidden states below the first layer a pruned model changes.

Pruning heads only in layers >= L leaves layers 0..L-1 exactly as they were, so their output
for each batch is the same as the unpruned model's. `PrefixCache` runs the unpruned model once,
keeping every layer's input per batch; evaluating a pruned model then starts at layer L from the
cached states. Removing layer 9's heads of a 12-layer model costs 3 layers, not 12.

    cache = PrefixCache.build(model, encoded, pad_id=0)            # one unpruned pass
    logits = cache.logits(prune_heads(model, {9: [0, 1, 2]}), first_layer=9)

The same holds between two pruned models: `descend` evaluates a head set from the cache of
another one (e.g. the previous point of a nested sweep) and keeps the new states, so removing
more heads in layer 10 only runs layers 10-11 again.

Only for BERT-style encoders (`encoder.layer`); `PrefixCache.build` returns None for other
layouts or when the cached states would exceed `max_bytes`, and callers evaluate plainly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mbp.engine.batching import Batch, length_sorted_batches
from mbp.engine.device import Precision, autocast
from mbp.engine.layout import encoder_layers
from mbp.engine.prune import HeadSet, _shared_copy


class _Skip(nn.Module):
    """Stands in for a layer below the first changed one: its output is replaced anyway."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return hidden_states


@dataclass
class PrefixCache:
    batches: list[Batch]
    states: list[list[torch.Tensor]]  # [layer][batch] -> (batch, tokens, hidden) layer input
    base_logits: np.ndarray  # (examples, labels) of the unpruned model, in `encoded` order
    device: torch.device
    precision: str
    heads: HeadSet = field(default_factory=dict)  # removed in the model these states are of

    @classmethod
    def build(
        cls,
        model: nn.Module,
        encoded,
        *,
        pad_id: int,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
        precision: Precision = "auto",
        max_bytes: float = 3e9,
    ) -> PrefixCache | None:
        device = torch.device(device)
        try:
            family, layers = encoder_layers(model)
        except Exception:
            return None
        if family != "bert":
            return None
        batches = list(length_sorted_batches(encoded, batch_size, pad_id, device))
        hidden = model.config.hidden_size
        padded_tokens = sum(b.inputs["input_ids"].numel() for b in batches)
        if padded_tokens * hidden * 4 * len(layers) > max_bytes:
            return None
        states: list[list[torch.Tensor]] = [[] for _ in layers]

        def capture(i: int):
            def hook(module, args):
                states[i].append(args[0].detach())

            return hook

        handles = [layer.register_forward_pre_hook(capture(i)) for i, layer in enumerate(layers)]
        logits = np.zeros((len(encoded.input_ids), model.config.num_labels), dtype=np.float32)
        model.eval()
        try:
            with torch.inference_mode(), autocast(device, precision):
                for batch in batches:
                    out = model(**batch.inputs).logits.float().cpu().numpy()
                    logits[batch.index] = out
        finally:
            for handle in handles:
                handle.remove()
        return cls(batches, states, logits, device, precision)

    def first_difference(self, heads: HeadSet) -> int:
        """The first layer whose removed heads differ between `heads` and this cache's model
        (the number of layers when they are the same model)."""
        layers = len(self.states)
        differ = (i for i in range(layers) if set(heads.get(i, ())) != set(self.heads.get(i, ())))
        return next(differ, layers)

    def logits(self, pruned: nn.Module, first_layer: int) -> np.ndarray:
        """Logits of `pruned` (identical to this cache's model below `first_layer`)."""
        if first_layer >= len(self.states):
            return self.base_logits
        return self._run(pruned, first_layer, capture=False).base_logits

    def descend(self, pruned: nn.Module, heads: HeadSet) -> PrefixCache:
        """The cache of `pruned` (this cache's model with `heads` removed instead): only the
        layers from the first difference on are run; the states below are shared, not copied.
        Its `base_logits` are `pruned`'s logits."""
        first = self.first_difference(heads)
        if first >= len(self.states):
            return self
        out = self._run(pruned, first, capture=True)
        out.heads = {layer: list(hs) for layer, hs in heads.items() if hs}
        return out

    def _run(self, pruned: nn.Module, first_layer: int, *, capture: bool) -> PrefixCache:
        runner = _shared_copy(pruned)
        _, layers = encoder_layers(runner)
        for i in range(first_layer):
            layers[i] = _Skip()
        current: dict[str, int] = {"batch": 0}
        states = [list(s) if i <= first_layer else [] for i, s in enumerate(self.states)]

        def inject(module, args):
            return (self.states[first_layer][current["batch"]], *args[1:])

        def keep(i: int):
            def hook(module, args):
                states[i].append(args[0].detach())

            return hook

        handles = [layers[first_layer].register_forward_pre_hook(inject)]
        if capture:
            handles += [layers[i].register_forward_pre_hook(keep(i))
                        for i in range(first_layer + 1, len(layers))]  # fmt: skip
        out = np.zeros_like(self.base_logits)
        runner.eval()
        try:
            with torch.inference_mode(), autocast(self.device, self.precision):
                for b, batch in enumerate(self.batches):
                    current["batch"] = b
                    out[batch.index] = runner(**batch.inputs).logits.float().cpu().numpy()
        finally:
            for handle in handles:
                handle.remove()
        return PrefixCache(self.batches, states if capture else [], out, self.device,
                           self.precision)  # fmt: skip
