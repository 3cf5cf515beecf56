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
from pathlib import Path
from typing import Any

import numpy as np

from mbp.engine.prune import describe_heads
from mbp.experiments.cells import Cell, CellResult, HeadSet, Write
from mbp.spec import FinetuneSpec
from mbp.store.outcomes import UNPRUNED, outcome_row


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
    bundle_refs: dict[str, Any] = field(default_factory=dict)  # set by a remote executor
    cells: list[Cell] = field(init=False)
    _base: dict[str, Any] = field(init=False, default_factory=dict)  # lang -> predictions

    def __post_init__(self) -> None:
        # the unpruned unit first: layer-wise rows need the reference's score as their base
        names = sorted(self.targets, key=lambda n: (bool(self.heads[n]), n))
        self.cells = [Cell(name, self.heads[name]) for name in names]

    # -------------------------------------------------------------- for workers on other machines

    def for_worker(self) -> RetrainWork:
        """A copy to ship: no reference metrics computed here travel with it."""
        return replace(self, bundle_refs={})

    def bundle(self) -> dict[str, dict[str, bytes]]:
        """What a worker without this machine's disks needs, by name: the task's data files
        (relative to the data root) and the unpruned reference checkpoint's files."""
        from mbp.engine.finetune import find_checkpoint
        from mbp.paths import data_dir
        from mbp.tasks.local import task_files

        out: dict[str, dict[str, bytes]] = {}
        root = data_dir(self.data_dir)
        if root is not None:
            files = task_files(self.reference.task, Path(root))
            out["data"] = {str(f.relative_to(root)): f.read_bytes() for f in files}
        ckpt = find_checkpoint(self.reference)
        if ckpt is not None:
            out["reference"] = {
                str(f.relative_to(ckpt.path)): f.read_bytes()
                for f in sorted(Path(ckpt.path).rglob("*"))
                if f.is_file()
            }
        return out

    def unpack(self, fetch, root: Path) -> None:
        """On a worker: write the shipped data under `root` and use it; install the reference
        checkpoint into this worker's cache unless it is there (a shared MBP_CACHE)."""
        from mbp.engine.finetune import checkpoint_dir, find_checkpoint

        if "data" in self.bundle_refs:
            write_files(fetch(self.bundle_refs["data"]), root / "data")
            self.data_dir = str(root / "data")
        if "reference" in self.bundle_refs and find_checkpoint(self.reference) is None:
            staging = root / "reference"
            write_files(fetch(self.bundle_refs["reference"]), staging)
            target = checkpoint_dir(self.reference)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(target)  # atomic: a checkpoint is used only once complete
            except OSError:  # another worker of this node installed it first
                shutil.rmtree(staging, ignore_errors=True)

    # -------------------------------------------------------------- computing a unit

    def spec_for(self, heads: HeadSet) -> FinetuneSpec:
        return replace(self.reference, pruned_heads=head_pairs(heads))

    def base_predictions(self, lang: str):
        """The unpruned reference's predictions on `lang` (fine-tuned once, never deleted)."""
        if lang not in self._base:  # every language at once: one load of the reference
            self._base.update(self._predict(self.reference, list(self.evals)))
        return self._base[lang]

    def base_metrics(self, lang: str) -> dict[str, float]:
        """The unpruned reference's metrics on `lang`."""
        return self._metrics(lang, self.base_predictions(lang))

    def _metrics(self, lang: str, predictions) -> dict[str, float]:
        from mbp.tasks import compute_metrics

        return compute_metrics(self.task, predictions, np.asarray(self.evals[lang].encoded.labels))

    def _outcome(self, model_key: str, lang: str, predictions) -> dict:
        return outcome_row(model_key, predictions, self.evals[lang].encoded.labels,
                           self.task.labels is None)  # fmt: skip

    def _predict(self, spec: FinetuneSpec, langs: list[str]) -> dict[str, np.ndarray]:
        """Fine-tune `spec` (or find it stored) and predict every language in `langs`."""
        from mbp.engine import finetune as ft
        from mbp.engine.evaluate import predict, predictions_from_logits

        ckpt = ft.finetune(
            spec,
            data_dir=self.data_dir,
            device=str(self.device),
            progress=self.progress,
        )
        model, tokenizer = ft.load_checkpoint(ckpt.path)
        model.to(self.device).eval()
        out = {}
        for lang in dict.fromkeys(langs):
            logits = predict(model, self.evals[lang].encoded, pad_id=tokenizer.pad_token_id or 0,
                             batch_size=self.batch_size, device=self.device,
                             precision=self.precision)  # fmt: skip
            out[lang] = predictions_from_logits(logits, self.task.labels is None)
        if spec.pruned_heads and not self.keep_checkpoints:
            shutil.rmtree(ckpt.path, ignore_errors=True)  # its numbers are stored below
        return out

    def compute(self, cell: Cell, loaded: Any = None) -> CellResult:
        targets = self.targets[cell.name]
        spec = self.spec_for(cell.heads or {})
        started = time.perf_counter()
        predictions = self._predict(spec, [t.lang for t in targets])
        if not spec.pruned_heads:
            self._base.update(predictions)
        seconds = time.perf_counter() - started
        writes = []
        for target in targets:
            rows = []
            outcomes = [self._outcome(target.cell_id, target.lang, predictions[target.lang])]
            for name, value in self._metrics(target.lang, predictions[target.lang]).items():
                row = {**target.fields, "metric": name, "value": float(value)}
                if target.table == "layer_importance":
                    base = self.base_metrics(target.lang)[name]
                    row.update(base_value=float(base), drop=float(base - value))
                rows.append(row)
            if target.table == "layer_importance":
                base = self.base_predictions(target.lang)
                outcomes.append(self._outcome(UNPRUNED, target.lang, base))
            # a cell's time: its share of the unit's fine-tune and evaluations
            writes.append(Write(target.run_id, target.cell_id,
                                {target.table: rows, "outcomes": outcomes},
                                seconds / len(targets)))  # fmt: skip
        return CellResult({}, seconds, payload=spec.key, writes=writes)


def write_files(files: dict[str, bytes], root: Path) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def sweep_target(run_id: str, cell: Cell, lang: str, n_examples: int, cost=None) -> Target:
    """`cost`: the run's PointCost (a retrained model has the pruned model's structure)."""
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
            **(cost.of(heads) if cost is not None else {}),
        },
    )


def layer_target(run_id: str, cell: Cell, lang: str) -> Target:
    layers = sorted(cell.heads or {})
    return Target(
        run_id, cell.name, lang, "layer_importance",
        {"target": cell.name, "layers": json.dumps(layers)},
    )  # fmt: skip
