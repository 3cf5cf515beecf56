"""The paper's protocol (`--protocol retrain`): remove heads from the PRE-TRAINED model, fine-tune
with them removed (the same recipe as the run's unpruned reference), then evaluate.

    run_retrain(ctx, params.experiments(), kind="sweep", orders=("random",), seeds=(0, 1), ...)

The unit of work is one fine-tune: a distinct head set. It serves every cell that removes that
set, in every run of the call: each order and seed (0 % and 100 % are the same set for all),
and every language (XNLI is zero-shot from one MNLI fine-tune, so a retrained model is
evaluated on all languages at once). Its checkpoint is deleted after its evaluations unless
`keep_checkpoints`; the unpruned reference is the ordinary fine-tune and always kept. A run
killed mid-fine-tune resumes at that unit: a checkpoint is only used once completely written.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from typing import Any

from mbp.engine.prune import describe_heads
from mbp.experiments.cells import Cell, CellResult, HeadSet, Write
from mbp.spec import FinetuneSpec


@dataclass(frozen=True)
class Target:
    """One stored cell a retrained model fills: which run, which cell, on which language."""

    run_id: str
    cell_id: str
    lang: str
    table: str  # curve_points | layer_importance
    fields: dict[str, Any]  # the row's fields that do not come from the metrics


def head_pairs(heads: HeadSet) -> tuple[tuple[int, int], ...]:
    return tuple((layer, h) for layer, hs in sorted(heads.items()) for h in sorted(hs))


@dataclass
class RetrainWork:
    """Units = distinct head sets; computing one fine-tunes (or reuses) and evaluates its
    targets. `evals`: language -> EvalData; `reference`: the unpruned recipe."""

    reference: FinetuneSpec
    task: Any  # TaskInfo
    evals: dict[str, Any]
    targets: dict[str, list[Target]]  # unit name -> the cells it fills
    heads: dict[str, HeadSet]  # unit name -> heads removed
    data_dir: str | None
    device: Any  # torch.device
    precision: str
    batch_size: int
    progress: bool = False
    keep_checkpoints: bool = False
    cells: list[Cell] = field(init=False)
    _base: dict[str, dict[str, float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # the unpruned unit first: layer-wise rows need the reference's score as their base
        names = sorted(self.targets, key=lambda n: (bool(self.heads[n]), n))
        self.cells = [Cell(name, self.heads[name]) for name in names]

    def spec_for(self, heads: HeadSet) -> FinetuneSpec:
        return replace(self.reference, pruned_heads=head_pairs(heads))

    def base_metrics(self, lang: str) -> dict[str, float]:
        """The unpruned reference's metrics on `lang` (fine-tuned once, never deleted)."""
        if lang not in self._base:  # every language at once: one load of the reference
            self._base.update(self._evaluate(self.reference, list(self.evals)))
        return self._base[lang]

    def _evaluate(self, spec: FinetuneSpec, langs: list[str]) -> dict[str, dict[str, float]]:
        from mbp.engine import finetune as ft
        from mbp.engine.evaluate import evaluate

        ckpt = ft.finetune(
            spec,
            data_dir=self.data_dir,
            device=str(self.device),
            precision=self.precision,
            progress=self.progress,
        )
        model, tokenizer = ft.load_checkpoint(ckpt.path)
        model.to(self.device).eval()
        out = {
            lang: evaluate(
                model,
                self.evals[lang].encoded,
                self.task,
                pad_id=tokenizer.pad_token_id or 0,
                batch_size=self.batch_size,
                device=self.device,
                precision=self.precision,
            )
            for lang in dict.fromkeys(langs)
        }
        if spec.pruned_heads and not self.keep_checkpoints:
            shutil.rmtree(ckpt.path, ignore_errors=True)  # its numbers are stored below
        return out

    def compute(self, cell: Cell, loaded: Any = None) -> CellResult:
        targets = self.targets[cell.name]
        spec = self.spec_for(cell.heads or {})
        started = time.perf_counter()
        metrics = self._evaluate(spec, [t.lang for t in targets])
        if not spec.pruned_heads:
            self._base.update(metrics)
        seconds = time.perf_counter() - started
        writes = []
        for target in targets:
            rows = []
            for name, value in metrics[target.lang].items():
                row = {**target.fields, "metric": name, "value": float(value)}
                if target.table == "layer_importance":
                    base = self.base_metrics(target.lang)[name]
                    row.update(base_value=float(base), drop=float(base - value))
                rows.append(row)
            # a cell's time: its share of the unit's fine-tune and evaluations
            writes.append(Write(target.run_id, target.cell_id, {target.table: rows},
                                seconds / len(targets)))  # fmt: skip
        return CellResult({}, seconds, payload=spec.key, writes=writes)


def sweep_target(run_id: str, cell: Cell, lang: str, n_examples: int) -> Target:
    order, seed, fraction = cell.name.split("/")
    heads = cell.heads or {}
    return Target(
        run_id,
        cell.name,
        lang,
        "curve_points",
        {
            "order_name": order,
            "seed": int(seed),
            "fraction": float(fraction),
            "heads_pruned": sum(len(h) for h in heads.values()),
            "pruned_heads": describe_heads(heads),
            "n_examples": n_examples,
        },
    )


def layer_target(run_id: str, cell: Cell, lang: str) -> Target:
    layers = sorted(cell.heads or {})
    return Target(
        run_id, cell.name, lang, "layer_importance",
        {"target": cell.name, "layers": json.dumps(layers)},
    )  # fmt: skip
