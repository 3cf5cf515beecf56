"""The examples a fine-tuned checkpoint is scored on (shared by fine-tuning and the report)."""

from __future__ import annotations

from mbp.errors import MbpError


def scoring_examples(task_name: str, data_dir: str | None = None, n: int = 2000):
    """(split, examples) a fine-tuned checkpoint is scored on: up to `n` examples (seed 0) of the
    training task's dev split, or of its held-out slice of train where no dev file exists."""
    from mbp.tasks import get_task, load_examples, subsample

    for split in (*get_task(task_name).eval_splits, "heldout"):
        try:
            return split, subsample(load_examples(task_name, split, data_dir=data_dir), n, 0)
        except MbpError:
            continue
    raise MbpError(f"no dev data for task {task_name!r}: add its dev file to the data root")


def majority_baseline(task_name: str, data_dir: str | None = None) -> float | None:
    """The task's primary metric when always predicting the most frequent training label, on
    the same dev examples fine-tuning scores itself on (`mbp.tasks.scoring`): chance."""
    import numpy as np

    from mbp.tasks import compute_metrics, get_task, load_examples

    task = get_task(task_name)
    if task.labels is None:  # regression: a constant prediction has no correlation
        return 0.0
    try:
        train = load_examples(task_name, task.train_split, data_dir=data_dir)
        _, dev = scoring_examples(task_name, data_dir)
    except MbpError:
        return None
    majority = np.bincount(np.asarray(train.labels)).argmax()
    labels = np.asarray(dev.labels)
    predictions = np.full_like(labels, majority)
    return float(compute_metrics(task, predictions, labels)[task.primary_metric])


def chance_level(task_name: str, metric: str | None = None) -> float | None:
    """The expected `metric` (default: the task's primary one) of guessing uniformly at random,
    needing no data: 1 / classes for accuracy, 0 for Matthews, Pearson and Spearman. None for
    F1, whose chance level depends on the label balance (`majority_baseline` measures that on
    the data), and for a task name the registry does not know."""
    from mbp.tasks import get_task

    try:
        task = get_task(task_name)
    except MbpError:
        return None
    metric = metric or task.primary_metric
    if metric == "accuracy" and task.labels:
        return 1.0 / len(task.labels)
    if metric in ("matthews", "pearson", "spearman"):
        return 0.0
    return None
