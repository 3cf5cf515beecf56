"""`mbp tasks`: each task, its languages, metrics, and where its data files were found."""

from __future__ import annotations

import os

from mbp.paths import data_dir as resolve_data_dir
from mbp.tasks.local import find_file
from mbp.tasks.registry import TASKS


def tasks_table(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, object]]:
    """One row per task: splits found locally (or "hub" when no data root is set)."""
    root = resolve_data_dir(data_dir)
    rows = []
    for name, info in TASKS.items():
        found: list[str] = []
        if root is not None:
            for split in (info.train_split, *info.eval_splits):
                langs = info.languages if name == "xnli" else (info.languages[0],)
                hits = [lang for lang in langs if find_file(info, split, lang, root) is not None]
                if hits:
                    found.append(f"{split} ({len(hits)} langs)" if name == "xnli" else split)
        rows.append(
            {
                "task": name,
                "labels": "regression" if info.labels is None else "/".join(info.labels),
                "metrics": ", ".join(info.metrics),
                "trained_on": info.train_task,
                "languages": " ".join(info.languages),  # the codes --lang accepts
                "data": ("local: " + ", ".join(found) if found else "local: none")
                if root is not None
                else "hub (set MBP_DATA_DIR for local files)",
            }
        )
    return rows
