"""What a structurally pruned model costs: parameters and encoder FLOPs per example.

Counted from the architecture, not measured, so they are deterministic and can be computed for
any stored head set after the fact (no model run):

    arch = Architecture.of(config)              # a transformers config (or its dict)
    arch.flops_per_example(removed, lengths)    # mean over the evaluated examples' real lengths
    full_params - arch.params_removed(removed)  # parameters of the pruned model

FLOPs are the encoder's matrix products (2 per multiply-add), as torch's FlopCounterMode counts
them: per layer, at sequence length L with k heads kept of size s and hidden size d,
query/key/value and output projections 4 * 2*L*d*(k*s), attention scores and weighted sum
2 * 2*k*L*L*s, feed-forward 2 * 2*L*d*f. Embedding lookups, layer norms, softmax, activations
and the classifier head are left out (under 0.1 % of e5-small's encoder FLOPs at 128 tokens).
A removed head takes its query/key/value rows (3*s*d weights, 3*s biases) and its output
projection columns (s*d) with it; a layer with no heads keeps only the output bias.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HeadSet = Mapping[int, Sequence[int]]  # layer -> heads removed


@dataclass(frozen=True)
class Architecture:
    layers: int
    heads: int
    hidden: int
    intermediate: int

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads

    @classmethod
    def of(cls, config: Any) -> Architecture:
        """From a transformers config object or its dict (BERT/RoBERTa names or DistilBERT's)."""

        def get(*names: str) -> int:
            for name in names:
                value = (
                    config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)
                )
                if value is not None:
                    return int(value)
            raise ValueError(f"config has none of {names}")

        return cls(
            layers=get("num_hidden_layers", "n_layers"),
            heads=get("num_attention_heads", "n_heads"),
            hidden=get("hidden_size", "dim"),
            intermediate=get("intermediate_size", "hidden_dim"),
        )

    def kept(self, removed: HeadSet) -> list[int]:
        """Heads left per layer."""
        return [self.heads - len(set(removed.get(layer, ()))) for layer in range(self.layers)]

    def params_removed(self, removed: HeadSet) -> int:
        """Parameters a pruned model no longer has."""
        gone = sum(len(set(hs)) for hs in removed.values())
        s, d = self.head_size, self.hidden
        return gone * (4 * s * d + 3 * s)

    def flops(self, removed: HeadSet, length: int) -> int:
        """Encoder FLOPs of one example of `length` tokens."""
        s, d, f, n = self.head_size, self.hidden, self.intermediate, length
        total = 0
        for k in self.kept(removed):
            total += 4 * 2 * n * d * (k * s) + 2 * 2 * k * n * n * s + 2 * 2 * n * d * f
        return total

    def flops_per_example(self, removed: HeadSet, lengths: Sequence[int]) -> float:
        """Mean encoder FLOPs over examples of these real (unpadded) lengths."""
        if not lengths:
            return 0.0
        # flops is quadratic in the length: sum over the distinct lengths, weighted
        counts: dict[int, int] = {}
        for n in lengths:
            counts[int(n)] = counts.get(int(n), 0) + 1
        return sum(c * self.flops(removed, n) for n, c in counts.items()) / len(lengths)


@dataclass(frozen=True)
class PointCost:
    """The cost columns of a run's curve points: its architecture, the unpruned model's
    parameter count and the evaluated examples' real lengths."""

    arch: Architecture
    params_full: int
    lengths: tuple[int, ...]

    def of(self, removed: HeadSet) -> dict[str, float]:
        return {
            "params": self.params_full - self.arch.params_removed(removed),
            "flops": self.arch.flops_per_example(removed, self.lengths),
            "params_full": self.params_full,
            "flops_full": self.arch.flops_per_example({}, self.lengths),
        }


def parse_heads(text: str | None) -> dict[int, list[int]]:
    """A stored head set (`describe_heads`: a JSON list of [layer, head] pairs) as a dict."""
    out: dict[int, list[int]] = {}
    for layer, head in json.loads(text or "[]"):
        out.setdefault(int(layer), []).append(int(head))
    return out
