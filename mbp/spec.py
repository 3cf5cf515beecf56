"""Run specifications: frozen, hashable descriptions whose canonical JSON hash keys the store.

A unit of work (a cell: one grid point and seed of a sweep, one layer target, one importance
computation) is idempotent under its spec's key, so a killed run resumes where it stopped and a
cluster can run cells in any order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, tuples as lists: equal specs give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def spec_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


class _Spec:
    #: Fields added after runs were stored: left out of the key (and the JSON) while at their
    #: default, so every key stored before them stays valid.
    ADDED_LATER: ClassVar[tuple[str, ...]] = ()

    def fields_dict(self) -> dict[str, Any]:
        """The fields as `dataclasses.asdict` gives them (a nested spec without its "spec"
        tag): the form every stored key was hashed from."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self.ADDED_LATER and value == f.default:
                continue
            out[f.name] = value.fields_dict() if isinstance(value, _Spec) else value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"spec": type(self).__name__, **self.fields_dict()}

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @property
    def key(self) -> str:
        return spec_hash(self.to_dict())


@dataclass(frozen=True)
class FinetuneSpec(_Spec):
    """Fine-tune `model` on `task`'s training data (the paper's protocol as defaults)."""

    model: str
    model_checksum: str
    task: str  # the training task (mnli for xnli)
    train_examples: int = 0  # 0 = all
    epochs: float = 3.0
    lr: float = 2e-5
    batch_size: int = 32
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    pruned_heads: tuple[tuple[int, int], ...] = ()  # prune-then-fine-tune (EMNLP 2020 protocol)
    freeze_embeddings: bool = (
        False  # keep word embeddings fixed (cheaper; helps zero-shot transfer)
    )
    # what the forward pass computed in (fp32 | bf16 | fp16; 'auto' resolved): a bf16 fine-tune
    # is a different checkpoint from an fp32 one
    precision: str = "fp32"
    # random: shuffled batches; grouped: batches of similar lengths (less padding, faster),
    # which trains to other weights, so it is part of the key ("bucketed" is retired)
    batching: str = "random"
    # adamw: torch's default (foreach) AdamW; adamw-fused: its fused kernel (other bits)
    optimizer: str = "adamw"

    ADDED_LATER: ClassVar[tuple[str, ...]] = ("precision", "batching", "optimizer")


@dataclass(frozen=True)
class DataSpec(_Spec):
    """Which examples: a deterministic, label-stratified subset of one split of one language.

    Where they come from is structured (`source_task`, `complement`); the key and the store's
    `split` column use `label`, the one-string form stored runs have always carried, so the
    keys of every stored run stay what they were.
    """

    task: str
    lang: str
    split: str
    n_examples: int
    seed: int = 0
    max_length: int = 128
    source_task: str = ""  # drawn from another task's data (XNLI importance on MNLI train)
    complement: bool = False  # the split's examples the run does NOT evaluate (held out)

    @property
    def label(self) -> str:
        """'dev', 'dev-heldout' (complement of the evaluated subset), 'mnli:train'."""
        if self.source_task:
            return f"{self.source_task}:{self.split}"
        return f"{self.split}-heldout" if self.complement else self.split

    def fields_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "lang": self.lang,
            "split": self.label,
            "n_examples": self.n_examples,
            "seed": self.seed,
            "max_length": self.max_length,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        """The inverse of `to_dict` (also reads the spec JSON of every stored run)."""
        label = str(data["split"])
        source_task, complement, split = "", False, label
        if ":" in label:
            source_task, split = label.split(":", 1)
        elif label.endswith("-heldout"):
            complement, split = True, label.removesuffix("-heldout")
        return cls(
            task=data["task"],
            lang=data["lang"],
            split=split,
            n_examples=int(data["n_examples"]),
            seed=int(data.get("seed", 0)),
            max_length=int(data.get("max_length", 128)),
            source_task=source_task,
            complement=complement,
        )


@dataclass(frozen=True)
class RunSpec(_Spec):
    """One stored run: a sweep (one order), an importance computation, or a layer-wise run."""

    kind: str  # sweep | importance | layers
    model: str
    model_checksum: str
    checkpoint: str  # FinetuneSpec key, or "" for an un-fine-tuned model
    data: DataSpec
    method: str  # order (sweep), estimator (importance), "remove-layer" (layers)
    seeds: tuple[int, ...] = (0,)
    grid: tuple[float, ...] = ()
    floor: int = 0
    importance: str = ""  # the importance run's key this sweep ranks heads by
    estimator: str = "gradient"
    normalize: bool = False
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 64
    # posthoc: prune the fine-tuned model (Michel et al. 2019); retrain: prune the pre-trained
    # model, then fine-tune with the heads removed (Budhraja et al.)
    protocol: str = "posthoc"

    ADDED_LATER: ClassVar[tuple[str, ...]] = ("protocol",)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """A stored run's spec JSON back into a RunSpec (its key is the run's id)."""
        values = {k: v for k, v in data.items() if k != "spec"}
        values["data"] = DataSpec.from_dict(values["data"])
        for name in ("seeds", "grid"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)
