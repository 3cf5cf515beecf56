"""Read task splits from a local data root laid out like ../shared/data.

    glue/<GLUE dir>/<split>.tsv     original GLUE files (CoLA, SST-2, MRPC, QQP, STS-B, MNLI, ...)
    xnli/<split>/<lang>.tsv         XNLI, one parallel file per language
    xnli/xnli.<split>.tsv           or XNLI-1.0's single file with a `language` column
    (a root that *is* a GLUE folder, <root>/<GLUE dir>/<split>.tsv, and <root>/XNLI-1.0/ work too)

Columns are found by header name because GLUE files differ (sentence1/premise/#1 String,
label/gold_label/Quality/score, an index column or not); CoLA has no header and is read by
position. Example:

    MBP_DATA_DIR=../shared/data python -c "from mbp.tasks import load_examples as l; \
print(len(l('rte', 'dev')))"
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbp.errors import MbpError
from mbp.tasks.examples import Examples
from mbp.tasks.registry import TaskInfo, get_task
from mbp.tasks.tsv import Table, parse_table, read_lines

#: GLUE folder names, as in the original GLUE download.
GLUE_DIRS = {
    "cola": "CoLA",
    "sst2": "SST-2",
    "mrpc": "MRPC",
    "qqp": "QQP",
    "stsb": "STS-B",
    "mnli": "MNLI",
    "qnli": "QNLI",
    "rte": "RTE",
}


@dataclass(frozen=True)
class ColumnNames:
    """Header names that may hold each field, first match wins (GLUE files, then hub names)."""

    text_a: tuple[str, ...]
    text_b: tuple[str, ...] | None
    label: tuple[str, ...]


_NLI_COLUMNS = ColumnNames(
    ("premise", "sentence1"), ("hypothesis", "sentence2"), ("gold_label", "label")
)
COLUMNS: dict[str, ColumnNames] = {
    "cola": ColumnNames(("sentence",), None, ("label",)),
    "sst2": ColumnNames(("sentence",), None, ("label",)),
    "mrpc": ColumnNames(("#1 String", "sentence1"), ("#2 String", "sentence2"),
                        ("Quality", "label")),
    "qqp": ColumnNames(("question1",), ("question2",), ("is_duplicate", "label")),
    "stsb": ColumnNames(("sentence1",), ("sentence2",), ("score", "label")),
    "mnli": _NLI_COLUMNS,
    "qnli": ColumnNames(("question",), ("sentence",), ("label",)),
    "rte": ColumnNames(("sentence1",), ("sentence2",), ("label",)),
    "xnli": _NLI_COLUMNS,
}  # fmt: skip

# Original headerless CoLA files: source, label, original label (blank), sentence.
_COLA_WIDTH, _COLA_LABEL, _COLA_SENTENCE = 4, 1, 3

# GLUE files write these binary labels as 0/1; the NLI files write label names.
_NUMERIC_LABEL_TASKS = {"cola", "sst2", "mrpc", "qqp"}


def relative_candidates(info: TaskInfo, split: str, lang: str) -> list[str]:
    """Paths, relative to a data root, where a split's file may be (in lookup order)."""
    if info.name == "xnli":
        return [
            f"xnli/{split}/{lang}.tsv",
            f"xnli/xnli.{split}.tsv",
            f"xnli/XNLI-1.0/xnli.{split}.tsv",
            f"XNLI-1.0/xnli.{split}.tsv",
        ]
    folder = GLUE_DIRS[info.name]
    return [f"glue/{folder}/{split}.tsv", f"{folder}/{split}.tsv"]


def candidate_paths(info: TaskInfo, split: str, lang: str, root: Path) -> list[Path]:
    """Absolute paths under `root` where the split's file may be."""
    return [root / rel for rel in relative_candidates(info, split, lang)]


def find_file(info: TaskInfo, split: str, lang: str, root: Path) -> Path | None:
    """The first existing candidate file for the split, or None."""
    return next((p for p in candidate_paths(info, split, lang, root) if p.is_file()), None)


def task_files(task: str, root: Path, lang: str = "en") -> list[Path]:
    """The files of a task's training and evaluation splits that exist under `root` (what a
    fine-tune and its scoring read)."""
    info = get_task(task)
    found = (find_file(info, split, lang, root) for split in (info.train_split, *info.eval_splits))
    return list(dict.fromkeys(f for f in found if f is not None))


def _missing_file_error(info: TaskInfo, split: str, lang: str, root: Path) -> MbpError:
    looked = ", ".join(str(p) for p in candidate_paths(info, split, lang, root))
    what = f"{info.name} {split}" + (f" ({lang})" if info.name == "xnli" else "")
    train = find_file(info, info.train_split, lang, root)
    if split in info.eval_splits and train is not None:
        extra = ", or evaluate on task 'xnli' lang 'en' (MNLI-style English pairs)"
        return MbpError(
            f"no {what} file in data root {root} (looked for {looked}); only train exists "
            f"({train}): use split 'heldout' (a deterministic held-out 10% of train)"
            f"{extra if info.name == 'mnli' else ''}, or add the file"
        )
    return MbpError(
        f"no {what} file in data root {root} (looked for {looked}): copy the file there "
        f"(layout of ../shared/data) or unset MBP_DATA_DIR to load from the Hugging Face hub"
    )


def _label_parser(info: TaskInfo, path: Path) -> Callable[[str, int], int | float]:
    """A function (value, line) -> label id (or score) that raises MbpError on bad values."""
    if info.labels is None:  # stsb: a similarity score 0..5

        def parse_score(value: str, line: int) -> float:
            try:
                score = float(value)
            except ValueError:
                score = math.nan
            if not (0.0 <= score <= 5.0):  # also catches nan and inf
                raise MbpError(
                    f"{path}: line {line}: score {value!r} is not a number between 0 and 5"
                )
            return score

        return parse_score

    ids: dict[str, int] = {name: i for i, name in enumerate(info.labels)}
    if info.name in _NUMERIC_LABEL_TASKS:
        ids.update({str(i): i for i in range(len(info.labels))})
    expected = ", ".join(repr(v) for v in ids)

    def parse_label(value: str, line: int) -> int:
        try:
            return ids[value.strip()]
        except KeyError:
            raise MbpError(
                f"{path}: line {line}: unknown {info.name} label {value!r} "
                f"(expected one of {expected})"
            ) from None

    return parse_label


def _read_table(info: TaskInfo, path: Path) -> Table:
    lines = read_lines(path)
    if info.name == "cola":
        # Original CoLA files have no header; copies exported from the hub do ("sentence", "label").
        first = {field.strip() for field in lines[0].split("\t")}
        return parse_table(path, lines, has_header={"sentence", "label"} <= first)
    return parse_table(path, lines, has_header=True)


def read_examples_file(info: TaskInfo, split: str, lang: str, path: Path) -> Examples:
    """Parse one local file into Examples (rows of `lang` only if it has a `language` column)."""
    table = _read_table(info, path)
    names = COLUMNS[info.name]
    if table.columns is None:  # headerless CoLA
        if len(table.rows[0]) != _COLA_WIDTH:
            raise MbpError(
                f"{path}: line 1: expected CoLA's {_COLA_WIDTH} tab-separated fields (source, "
                f"label, original label, sentence), found {len(table.rows[0])}"
            )
        col_a, col_b, col_label = _COLA_SENTENCE, None, _COLA_LABEL
    else:
        col_a = table.column(names.text_a, "text")
        col_b = None if names.text_b is None else table.column(names.text_b, "second text")
        col_label = table.column(names.label, "label")

    rows = list(range(len(table.rows)))
    if table.columns is not None and "language" in table.columns:
        # XNLI-1.0's single file holds all 15 languages; its per-language blocks are parallel,
        # so the row index within a language is the pair id, as in the per-language files.
        col_lang = table.columns.index("language")
        rows = [i for i in rows if table.rows[i][col_lang].strip() == lang]
        if not rows:
            present = sorted({r[col_lang].strip() for r in table.rows})
            raise MbpError(
                f"{path}: no rows for language {lang!r} (the file has {', '.join(present)})"
            )

    parse = _label_parser(info, path)
    text_a = [table.rows[i][col_a] for i in rows]
    text_b = None if col_b is None else [table.rows[i][col_b] for i in rows]
    labels = [parse(table.rows[i][col_label], table.line_of(i)) for i in rows]
    dtype = np.float32 if info.labels is None else np.int64
    return Examples(
        task=info.name,
        split=split,
        lang=lang,
        ids=np.arange(len(rows), dtype=np.int64),  # GLUE and XNLI ids: row index
        text_a=text_a,
        text_b=text_b,
        labels=np.asarray(labels, dtype=dtype),
        source=str(path),
    )


def load_local_examples(info: TaskInfo, split: str, lang: str, root: Path) -> Examples:
    """Load a split from the data root; MbpError naming every path looked for if it is missing."""
    if not root.is_dir():
        raise MbpError(
            f"data root {root} (MBP_DATA_DIR or data_dir) is not a folder: point it at a copy "
            f"laid out like ../shared/data, or unset it to load from the Hugging Face hub"
        )
    path = find_file(info, split, lang, root)
    if path is None:
        raise _missing_file_error(info, split, lang, root)
    return read_examples_file(info, split, lang, path)
