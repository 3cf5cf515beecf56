"""`Examples`: one split of one task in one language, as plain lists and numpy arrays.

Every data source (local files, the hub) produces this, and everything downstream (subsampling,
tokenisation, evaluation) consumes it, so the engine never cares where the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mbp.errors import MbpError


@dataclass
class Examples:
    """Rows of a task split.

    ids: (n,) int64 stable row ids: the row index in the source file or hub split. XNLI files are
        parallel across languages, so the same id is the same (translated) pair in every language.
    labels: (n,) int64 class ids in `TaskInfo.labels` order, or float32 scores for stsb.
    source: the file path or hub name the rows came from; note: "" or how the split was derived.
    """

    task: str
    split: str
    lang: str
    ids: np.ndarray
    text_a: list[str]
    text_b: list[str] | None
    labels: np.ndarray
    source: str
    note: str = ""

    def __post_init__(self) -> None:
        # A length mismatch here is a bug in a loader, not bad user data: fail loudly.
        n = len(self.text_a)
        if (
            len(self.ids) != n
            or len(self.labels) != n
            or (self.text_b is not None and len(self.text_b) != n)
        ):
            raise ValueError("Examples fields have different lengths")

    def __len__(self) -> int:
        return len(self.text_a)

    def take(self, rows: np.ndarray, note: str | None = None) -> Examples:
        """A new Examples with the given row positions (not ids), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return Examples(
            task=self.task,
            split=self.split,
            lang=self.lang,
            ids=self.ids[rows],
            text_a=[self.text_a[i] for i in rows],
            text_b=None if self.text_b is None else [self.text_b[i] for i in rows],
            labels=self.labels[rows],
            source=self.source,
            note=self.note if note is None else note,
        )

    def check_unique_ids(self) -> None:
        """Raise MbpError if two rows share an id (ids must identify rows for subsampling)."""
        if len(np.unique(self.ids)) != len(self.ids):
            raise MbpError(
                f"{self.task}/{self.split}/{self.lang} from {self.source} has duplicate row ids: "
                f"build Examples with one id per row"
            )
