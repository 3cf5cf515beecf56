"""What a process running experiments holds: the store, the device, and typed caches.

    ctx = RunContext(store=ResultsStore(path), data_dir="../shared/data")

Models are cached by what they are (a checkpoint key, or the raw model for a task), evaluations
by (model, data, head set), so identical head sets (0 % and 100 % of every order and seed) are
evaluated once per process and the unpruned prefix of each layer is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from mbp.engine.prefix import PrefixCache
    from mbp.experiments.executor import Executor
    from mbp.store import ResultsStore


@dataclass
class LoadedModel:
    """A model on its device with its tokenizer, and what it is."""

    model: Any  # transformers PreTrainedModel, in eval mode
    tokenizer: Any
    checkpoint_key: str  # FinetuneSpec key, or "" for the model as it is
    identity: str  # cache key: the checkpoint key, or "raw:<model>:<task>"

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0


@dataclass
class ModelCache:
    tokenizers: dict[str, Any] = field(default_factory=dict)  # model name -> tokenizer
    models: dict[str, LoadedModel] = field(default_factory=dict)  # identity -> model


@dataclass
class EvalCache:
    # (model identity, data key) -> one unpruned pass's per-layer states (None: not usable)
    prefixes: dict[tuple[str, str], PrefixCache | None] = field(default_factory=dict)
    # (model identity, data key, head set) -> predictions (class ids, or regression outputs)
    predictions: dict[tuple[str, str, str], Any] = field(default_factory=dict)


@dataclass
class RunContext:
    store: ResultsStore
    data_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    force: bool = False
    progress: bool = True
    shard: tuple[int, int] = (0, 1)  # (index, count)
    models: ModelCache = field(default_factory=ModelCache)
    evals: EvalCache = field(default_factory=EvalCache)
    executor: Executor | None = None  # where cells are computed (None: this process)
    job_id: str = ""  # the live job (dashboard launch) this process runs for, if any

    @property
    def torch_device(self) -> torch.device:
        from mbp.engine.device import resolve_device

        return resolve_device(self.device)

    def mine(self, cells: list[str]) -> list[str]:
        """This shard's share of a run's cells (every n-th)."""
        index, count = self.shard
        return [c for i, c in enumerate(cells) if i % count == index]
