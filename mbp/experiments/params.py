"""A run's parameters: the one definition the CLI, the dashboard and the plan all build and check.

    params = RunParams(model="minilm-l6", task="sst2", orders=("random",), seeds=(0, 1),
                       grid=parse_grid("0:1:0.25"))
    for exp in params.experiments():   # one Experiment per language
        ...
    params.to_argv("sweep")            # the CLI command that builds the same params again

`RunParams` validates itself when built: a bad value raises `MbpError` with one line naming it
and the fix, wherever it came from (a flag, a form field, a URL, a plan step). Torch-free, so the
dashboard and the report can use it without loading the engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from mbp.engine.grid import (
    DEFAULT_GRID,
    DEFAULT_GRID_TEXT,
    check_grid,
    format_grid,
    parse_grid,
    split_list,
)
from mbp.engine.names import ESTIMATORS, ORDERS, PROTOCOLS, RANKED_ORDERS
from mbp.errors import MbpError
from mbp.spec import FinetuneSpec

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
LAYER_TARGETS: tuple[str, ...] = ("all", "thirds")
MAX_LENGTH_LIMIT = 512  # BERT-family position embeddings
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
__all__ = [
    "DEFAULT_GRID",
    "DEFAULT_GRID_TEXT",
    "ESTIMATORS",
    "ORDERS",
    "RANKED_ORDERS",
    "Experiment",
    "FinetuneParams",
    "RunParams",
    "check_grid",
    "format_grid",
    "parse_grid",
    "parse_seeds",
    "split_list",
]


def parse_seeds(values: str | Iterable[Any], what: str = "seeds") -> tuple[int, ...]:
    """'0,1,2' or '0 1 2' or [0, 1] -> (0, 1, 2), unique, each >= 0."""
    out = []
    for part in split_list(values):
        try:
            seed = int(str(part).strip())
        except ValueError:
            raise MbpError(f"{what} value {part!r} is not an integer: e.g. 0,1,2") from None
        if seed < 0:
            raise MbpError(f"{what} value {seed} is negative: use integers >= 0, e.g. 0,1,2")
        out.append(seed)
    return tuple(dict.fromkeys(out))


def _int(value: Any, name: str, *, minimum: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise MbpError(f"{name} {value!r} is not an integer: e.g. {name} {example}")
    if value < minimum:
        raise MbpError(f"{name} {int(value)} must be at least {minimum}: e.g. {name} {example}")
    return int(value)


def _positive_float(value: Any, name: str, example: str, *, below: float | None = None) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise MbpError(f"{name} {value!r} is not a number: e.g. {name} {example}") from None
    if not math.isfinite(f) or f <= 0 or (below is not None and f >= below):
        bound = f" and below {below:g}" if below is not None else ""
        raise MbpError(f"{name} {value!r} must be positive{bound}: e.g. {name} {example}")
    return f


def check_floor(floor: int, heads: int, model: str) -> None:
    """A per-layer floor must leave something to prune in a layer of `heads` heads."""
    if not 0 <= floor < heads:
        raise MbpError(
            f"--floor {floor} keeps every head of {model}'s {heads}-head layers, so nothing "
            f"could be pruned: use 0 to {heads - 1}"
        )


# ------------------------------------------------------------------------------ the parameters


_RECIPE = {f.name: f.default for f in fields(FinetuneSpec)}


@dataclass(frozen=True)
class FinetuneParams:
    """How the evaluated model is made: fine-tune (the paper's recipe by default), use a stored
    checkpoint, or use the model as it is."""

    enabled: bool = True  # False: use the model as it is (e.g. an already fine-tuned folder)
    checkpoint: str = ""  # a stored checkpoint id (`mbp runs --checkpoints`) instead of a recipe
    # the recipe: FinetuneSpec's defaults (the paper's), written once, there
    train_examples: int = _RECIPE["train_examples"]  # 0 = the whole training split
    epochs: float = _RECIPE["epochs"]
    lr: float = _RECIPE["lr"]
    batch_size: int = _RECIPE["batch_size"]
    max_length: int = _RECIPE["max_length"]
    seed: int = _RECIPE["seed"]
    freeze_embeddings: bool = _RECIPE["freeze_embeddings"]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(
            self,
            "train_examples",
            _int(self.train_examples, "--train-examples", minimum=0, example="4000"),
        )
        set_(self, "epochs", _positive_float(self.epochs, "--epochs", "3", below=1000))
        set_(self, "lr", _positive_float(self.lr, "--lr", "2e-5", below=1.0))
        set_(
            self, "batch_size", _int(self.batch_size, "--train-batch-size", minimum=1, example="32")
        )
        set_(self, "max_length", _int(self.max_length, "--max-length", minimum=8, example="128"))
        if self.max_length > MAX_LENGTH_LIMIT:
            raise MbpError(
                f"--max-length {self.max_length} is over BERT's {MAX_LENGTH_LIMIT} positions: "
                "e.g. --max-length 128"
            )
        set_(self, "seed", _int(self.seed, "--train-seed", minimum=0, example="0"))
        set_(self, "checkpoint", str(self.checkpoint or "").strip())
        if self.checkpoint and not re.fullmatch(r"[0-9a-f]{16}", self.checkpoint):
            raise MbpError(
                f"--checkpoint {self.checkpoint!r} is not a checkpoint id (16 hex digits): "
                "`mbp runs --checkpoints` lists them"
            )
        if self.checkpoint and not self.enabled:
            raise MbpError("--checkpoint and --no-finetune exclude each other: drop one")


@dataclass(frozen=True)
class Experiment:
    """One language's share of a run: what the runner measures."""

    model: str
    task: str
    lang: str = "en"
    split: str = ""  # "" = the task's first evaluation split
    n_examples: int = 500
    data_seed: int = 0
    max_length: int = 128
    finetune: FinetuneParams = field(default_factory=FinetuneParams)
    importance_examples: int = 256
    estimator: str = "gradient"
    normalize: bool = False
    targets: str = "all"  # layer-wise: "all" (each layer and the thirds) or "thirds"

    def layer_targets(self, layers: int) -> dict[str, list[int]]:
        """The layer-wise cells asked for: cell id -> the layers whose heads all go."""
        from mbp.engine.orders import layer_targets

        every = layer_targets(layers)
        if self.targets == "thirds":
            return {k: v for k, v in every.items() if k.startswith("group:")}
        return every


@dataclass(frozen=True)
class RunParams:
    """Everything a sweep, layer-wise or importance run is asked to do, checked when built."""

    model: str
    task: str
    langs: tuple[str, ...] = ("en",)
    split: str = ""
    examples: int = 500
    data_seed: int = 0
    importance_examples: int = 256
    estimator: str = "gradient"
    normalize: bool = False
    orders: tuple[str, ...] = ("importance",)
    seeds: tuple[int, ...] = (0, 1, 2)
    grid: tuple[float, ...] = DEFAULT_GRID
    floor: int = 0
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    finetune: FinetuneParams = field(default_factory=FinetuneParams)
    protocol: str = "posthoc"  # or "retrain", the paper's (mbp.engine.names.PROTOCOLS)
    targets: str = "all"  # layer-wise runs: every layer and the thirds, or the thirds only

    def __post_init__(self) -> None:
        from mbp.models.registry import get_model_info
        from mbp.models.shape import model_heads
        from mbp.tasks import check_language, get_task

        set_ = object.__setattr__
        model = str(self.model).strip()
        if not model:
            raise MbpError("no model given: e.g. --model minilm-l6 (`mbp models` lists them)")
        shape = model_heads(model)  # a registry name or a folder (its config.json is checked)
        if shape is None and "/" not in model:
            get_model_info(model)  # the "unknown model, did you mean" error
        set_(self, "model", model)
        task = get_task(self.task)
        set_(self, "task", task.name)
        langs = split_list(self.langs)
        if langs == ["all"]:
            langs = list(task.languages)
        if not langs:
            raise MbpError(f"no language given: e.g. --lang {task.languages[0]}")
        set_(self, "langs", tuple(dict.fromkeys(check_language(task, lang) for lang in langs)))
        if self.split and self.split not in (*task.eval_splits, "heldout", "train"):
            raise MbpError(
                f"--split {self.split!r} is not a split of {task.name}: use one of "
                f"{', '.join((*task.eval_splits, 'heldout'))}"
            )
        set_(self, "examples", _int(self.examples, "--examples", minimum=1, example="500"))
        set_(self, "data_seed", _int(self.data_seed, "--data-seed", minimum=0, example="0"))
        set_(
            self,
            "importance_examples",
            _int(self.importance_examples, "--importance-examples", minimum=1, example="256"),
        )
        if self.estimator not in ESTIMATORS:
            raise MbpError(
                f"unknown estimator {self.estimator!r}: use one of {', '.join(ESTIMATORS)}"
            )
        orders = split_list(self.orders)
        bad = [o for o in orders if o not in ORDERS]
        if bad or not orders:
            raise MbpError(
                f"unknown order {bad[0] if bad else ''!r}: use one or more of {', '.join(ORDERS)}"
            )
        set_(self, "orders", tuple(dict.fromkeys(orders)))
        seeds = parse_seeds(self.seeds, "--seeds")
        if not seeds:
            raise MbpError("--seeds is empty: give at least one, e.g. --seeds 0,1,2")
        set_(self, "seeds", seeds)
        set_(self, "grid", parse_grid(self.grid))
        floor = _int(self.floor, "--floor", minimum=0, example="1")
        if shape is not None:
            check_floor(floor, shape[1], model)
        set_(self, "floor", floor)
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise MbpError(f"unknown device {self.device!r}: use auto, cpu or cuda[:N]")
        if self.precision not in PRECISIONS:
            raise MbpError(
                f"unknown precision {self.precision!r}: use one of {', '.join(PRECISIONS)}"
            )
        set_(self, "batch_size", _int(self.batch_size, "--batch-size", minimum=1, example="64"))
        if self.targets not in LAYER_TARGETS:
            raise MbpError(
                f"unknown --targets {self.targets!r}: use all (each layer and the thirds) or "
                "thirds (bottom, middle, top)"
            )
        self._check_protocol()
        if self.examples > 10_000_000:
            raise MbpError(f"--examples {self.examples} is implausibly large: e.g. --examples 500")

    def _check_protocol(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise MbpError(
                f"unknown protocol {self.protocol!r}: use posthoc (prune the fine-tuned model) "
                "or retrain (the paper's: prune, then fine-tune)"
            )
        if self.protocol != "retrain":
            return
        if "iterative" in self.orders:
            raise MbpError(
                "--order iterative re-scores a fine-tuned model step by step: it has no retrain "
                "form; use importance, reverse or random with --protocol retrain"
            )
        if not self.finetune.enabled:
            raise MbpError("--protocol retrain fine-tunes every cell: drop --no-finetune")
        if self.finetune.checkpoint:
            raise MbpError(
                "--protocol retrain fine-tunes every cell with the reference's recipe: give the "
                "recipe flags (--train-examples, --epochs, --lr ...) instead of --checkpoint"
            )

    # ------------------------------------------------------------------ derived views

    @property
    def layers_heads(self) -> tuple[int, int] | None:
        from mbp.models.shape import model_heads

        return model_heads(self.model)

    def seeds_for(self, order: str) -> tuple[int, ...]:
        """Only the random order has seeds; the others are deterministic (seed 0)."""
        return self.seeds if order == "random" else (0,)

    def cells_per_lang(self) -> int:
        """Sweep cells one language stores: grid points x seeds, summed over the orders."""
        return sum(len(self.grid) * len(self.seeds_for(o)) for o in self.orders)

    def experiments(self) -> list[Experiment]:
        return [
            Experiment(
                model=self.model,
                task=self.task,
                lang=lang,
                split=self.split,
                n_examples=self.examples,
                data_seed=self.data_seed,
                max_length=self.finetune.max_length,
                finetune=self.finetune,
                importance_examples=self.importance_examples,
                estimator=self.estimator,
                normalize=self.normalize,
                targets=self.targets,
            )
            for lang in self.langs
        ]

    def with_(self, **changes: Any) -> RunParams:
        return replace(self, **changes)

    # ------------------------------------------------------------------ the CLI form

    def to_argv(self, command: str = "sweep") -> list[str]:
        """`mbp <command> ...` flags giving exactly these params (defaults left out)."""
        default = _defaults()
        argv = [command, "--model", self.model, "--task", self.task, "--lang", *self.langs]
        for name, flag in _FLAGS.items():
            value = getattr(self, name)
            if value == getattr(default, name) or (command != "sweep" and name in _SWEEP_ONLY):
                continue
            if command == "importance" and name in _NOT_FOR_IMPORTANCE:
                continue
            if command == "sweep" and name == "targets":
                continue
            if name == "seeds" and "random" not in self.orders:
                continue
            if isinstance(value, bool):
                argv.append(flag)
            elif name == "grid":
                argv += [flag, format_grid(value)]
            elif isinstance(value, tuple):
                argv += [flag, *(str(v) for v in value)]
            else:
                argv += [flag, str(value)]
        argv += finetune_argv(self.finetune)
        return argv


_SWEEP_ONLY = ("orders", "seeds", "grid", "floor")
_NOT_FOR_IMPORTANCE = ("protocol", "targets")
_FLAGS = {
    "split": "--split",
    "examples": "--examples",
    "data_seed": "--data-seed",
    "importance_examples": "--importance-examples",
    "estimator": "--estimator",
    "normalize": "--normalize",
    "orders": "--order",
    "seeds": "--seeds",
    "grid": "--grid",
    "floor": "--floor",
    "device": "--device",
    "precision": "--precision",
    "batch_size": "--batch-size",
    "protocol": "--protocol",
    "targets": "--targets",
}
_FINETUNE_FLAGS = {
    "checkpoint": "--checkpoint",
    "train_examples": "--train-examples",
    "epochs": "--epochs",
    "lr": "--lr",
    "batch_size": "--train-batch-size",
    "max_length": "--max-length",
    "seed": "--train-seed",
    "freeze_embeddings": "--freeze-embeddings",
}


def finetune_argv(params: FinetuneParams) -> list[str]:
    if not params.enabled:
        return ["--no-finetune"]
    default = FinetuneParams()
    argv: list[str] = []
    for name, flag in _FINETUNE_FLAGS.items():
        value = getattr(params, name)
        if value == getattr(default, name):
            continue
        argv += (
            [flag]
            if isinstance(value, bool)
            else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        )
    return argv


def _defaults() -> RunParams:
    return RunParams(model="minilm-l6", task="sst2")


def default_of(name: str) -> Any:
    """The default of a RunParams (or FinetuneParams) field: what the CLI's flags and the
    dashboard's form fields start from."""
    for cls in (RunParams, FinetuneParams):
        for f in fields(cls):
            if f.name == name:
                if f.default_factory is not MISSING:
                    return f.default_factory()
                return f.default
    raise KeyError(name)
