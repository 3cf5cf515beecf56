"""Tasks: the registry, data loading (local files or the hub), subsampling, tokenisation,
metrics and language metadata.

    MBP_DATA_DIR=../shared/data python -c "
    from mbp.tasks import load_examples, subsample
    dev = subsample(load_examples('xnli', 'dev', lang='sw'), 300, seed=0)
    print(len(dev), dev.source)"

Data comes from the local data root when one is set (`data_dir=` or `$MBP_DATA_DIR`), else
from the Hugging Face hub through `datasets`. A data root is never mixed with the hub: a file
missing there is an error that lists the paths looked for.
"""

from __future__ import annotations

import os

from mbp.paths import data_dir as _data_dir
from mbp.tasks.encode import Encoded, encode
from mbp.tasks.examples import Examples
from mbp.tasks.heldout import heldout_examples
from mbp.tasks.hub import load_hub_examples
from mbp.tasks.languages import LANGUAGES, LanguageInfo, language_groups
from mbp.tasks.local import find_file, load_local_examples
from mbp.tasks.metrics import compute_metrics
from mbp.tasks.overview import tasks_table
from mbp.tasks.registry import (
    HELDOUT,
    TASKS,
    XNLI_LANGUAGES,
    TaskInfo,
    check_language,
    get_task,
    resolve_split,
    task_names,
)
from mbp.tasks.subsample import complement, subsample

__all__ = [
    "LANGUAGES",
    "TASKS",
    "XNLI_LANGUAGES",
    "Encoded",
    "Examples",
    "LanguageInfo",
    "TaskInfo",
    "check_language",
    "complement",
    "compute_metrics",
    "encode",
    "get_task",
    "language_groups",
    "load_examples",
    "resolve_split",
    "subsample",
    "task_names",
    "tasks_table",
]


def load_examples(
    task: str | TaskInfo,
    split: str,
    lang: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Examples:
    """Load one split of a task in one language.

    task: a registry name ("rte", "SST-2", "xnli", ...). split: "train", an eval split ("dev";
    MNLI "dev_matched"/"dev_mismatched"; XNLI "dev"/"test"; hub names like "validation" work) or
    "heldout" (a deterministic 10% of train; "train" still returns all of train). lang: XNLI
    needs one of its 15 codes; GLUE tasks are English. data_dir: a local data root (default
    `$MBP_DATA_DIR`); without one the hub is used.
    """
    info = get_task(task)
    split = resolve_split(info, split)
    lang = check_language(info, lang)
    root = _data_dir(data_dir)

    def load(which: str) -> Examples:
        if root is not None:
            return load_local_examples(info, which, lang, root)
        return load_hub_examples(info, which, lang)

    if split != HELDOUT:
        return load(split)
    train = load(info.train_split)
    no_dev_file = root is not None and all(
        find_file(info, s, lang, root) is None for s in info.eval_splits
    )
    return heldout_examples(train, no_dev_file=no_dev_file)
