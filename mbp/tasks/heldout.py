"""The "heldout" split: a deterministic, label-stratified 10% of train.

The shared data has no MNLI dev file, so `load_examples(task, "heldout")` offers an evaluation
split carved from train. Its ids are train row ids. Loading "train" still returns ALL of train
(nothing is excluded), so a model fine-tuned on "train" has seen the held-out rows; to train
without them use `complement(load_examples(task, "train"), load_examples(task, "heldout"))`.
"""

from __future__ import annotations

from mbp.tasks.examples import Examples
from mbp.tasks.registry import HELDOUT
from mbp.tasks.subsample import subsample

HELDOUT_FRACTION_PERCENT = 10
#: A fixed seed unlike the small seeds people pass to `subsample`, so a user's subsample of
#: train does not coincide with the held-out rows by accident.
HELDOUT_SEED = 0x4D425048


def heldout_examples(train: Examples, no_dev_file: bool) -> Examples:
    """The held-out 10% of `train` (rounded to the nearest row, at least one), split "heldout"."""
    n = max(1, (len(train) * HELDOUT_FRACTION_PERCENT + 50) // 100)
    held = subsample(train, n, HELDOUT_SEED)
    held.split = HELDOUT
    held.note = f"held-out {HELDOUT_FRACTION_PERCENT}% of train" + (
        " (no dev file)" if no_dev_file else ""
    )
    return held
