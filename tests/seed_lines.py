"""A synthetic sweep line with per-example outcomes, written straight into a store: what the
training-seed tests (tests/test_training_seeds.py, tests/test_training_seed_choice.py) build
their stores from. The caller draws the predictions; this writes the run and one cell per
pruned fraction, as the runner stores an importance-order sweep."""

from __future__ import annotations

import numpy as np

from mbp.spec import RunSpec
from mbp.store import ResultsStore
from mbp.store.outcomes import outcome_row


def write_sweep_line(store: ResultsStore, spec: RunSpec, *, model: str, checksum: str,
                     lang: str, n: int, cells: list[tuple[float, np.ndarray]],
                     labels: np.ndarray, task: str = "sst2") -> str:  # fmt: skip
    """`spec`'s run with one importance cell per (fraction, predictions); its run id."""
    store.ensure_run(spec.key, "sweep", spec.to_json(), model=model, model_checksum=checksum,
                     task=task, lang=lang, split="dev", method="importance", seeds=[0],
                     n_examples=n, cells_total=len(cells), device="cpu", versions_json=None,
                     code_commit=None, command=None)  # fmt: skip
    for fraction, preds in cells:
        key = f"importance/0/{fraction:g}"
        point = {"order_name": "importance", "seed": 0, "fraction": fraction,
                 "heads_pruned": 0, "pruned_heads": "[]", "metric": "accuracy",
                 "value": float((preds == labels).mean()), "n_examples": n}  # fmt: skip
        store.write_cell(spec.key, key, elapsed_s=0.0, curve_points=[point],
                         outcomes=[outcome_row(key, preds, labels, False)])  # fmt: skip
    return spec.key
