"""The task registry: what each GLUE task and XNLI is (texts, labels, metrics, splits, languages).

Everything else in `mbp.tasks` looks tasks up here, so a typo anywhere gets the same helpful
error with the closest valid names:

    >>> from mbp.tasks import get_task
    >>> get_task("xnli").train_task          # XNLI is evaluated zero-shot after MNLI training
    'mnli'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from mbp.errors import MbpError

Metric = Literal["accuracy", "f1", "matthews", "pearson", "spearman"]

#: The 15 XNLI languages (Conneau et al. 2018), in the order the XNLI paper lists them.
XNLI_LANGUAGES: tuple[str, ...] = (
    "en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur",
)  # fmt: skip

#: Split names mbp uses. "dev" is the hub's "validation"; "heldout" is a deterministic 10% of
#: train (see `mbp.tasks.heldout`), offered because the shared data has no MNLI dev file.
HELDOUT = "heldout"


@dataclass(frozen=True)
class TaskInfo:
    """What a task is: enough to load it, build a model head for it and score it.

    `text_fields` are the hub's column names for text a and b (b is None for single sentences).
    `labels` are the class names in label-id order (the hub's order), or None for regression.
    """

    name: str
    text_fields: tuple[str, str | None]
    labels: tuple[str, ...] | None
    metrics: tuple[Metric, ...]
    primary_metric: Metric
    train_split: str
    eval_splits: tuple[str, ...]
    train_task: str
    languages: tuple[str, ...]
    description: str = ""

    @property
    def is_regression(self) -> bool:
        """True for STS-B (a similarity score), False for classification tasks."""
        return self.labels is None

    @property
    def num_labels(self) -> int:
        """Size of the classification head: the number of classes, or 1 for regression."""
        return 1 if self.labels is None else len(self.labels)

    @property
    def splits(self) -> tuple[str, ...]:
        """Every split name `load_examples` accepts for this task."""
        return (self.train_split, *self.eval_splits, HELDOUT)


def _glue(
    name: str,
    text_fields: tuple[str, str | None],
    labels: tuple[str, ...] | None,
    metrics: tuple[Metric, ...],
    description: str,
    eval_splits: tuple[str, ...] = ("dev",),
) -> TaskInfo:
    # Primary metrics follow the BERT paper's GLUE table (Devlin et al. 2019, Table 1): F1 for
    # QQP and MRPC, Spearman for STS-B, Matthews for CoLA, accuracy for the rest.
    return TaskInfo(
        name=name,
        text_fields=text_fields,
        labels=labels,
        metrics=metrics,
        primary_metric=metrics[0],
        train_split="train",
        eval_splits=eval_splits,
        train_task=name,
        languages=("en",),
        description=description,
    )


# Label names and their order are those of the hub's ClassLabel features (nyu-mll/glue,
# facebook/xnli), so hub label ids need no remapping and local files map names onto them.
_NLI = ("entailment", "neutral", "contradiction")
TASKS: dict[str, TaskInfo] = {
    "cola": _glue(
        "cola", ("sentence", None), ("unacceptable", "acceptable"), ("matthews",),
        "CoLA: is the English sentence grammatically acceptable?",
    ),
    "sst2": _glue(
        "sst2", ("sentence", None), ("negative", "positive"), ("accuracy",),
        "SST-2: movie-review sentence sentiment.",
    ),
    "mrpc": _glue(
        "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("f1", "accuracy"),
        "MRPC: are the two news sentences paraphrases?",
    ),
    "qqp": _glue(
        "qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("f1", "accuracy"),
        "QQP: are the two Quora questions duplicates?",
    ),
    "stsb": _glue(
        "stsb", ("sentence1", "sentence2"), None, ("spearman", "pearson"),
        "STS-B: semantic similarity score 0..5 (regression).",
    ),
    "mnli": _glue(
        "mnli", ("premise", "hypothesis"), _NLI, ("accuracy",),
        "MNLI: does the premise entail, contradict or say nothing about the hypothesis?",
        eval_splits=("dev_matched", "dev_mismatched"),
    ),
    "qnli": _glue(
        "qnli", ("question", "sentence"), ("entailment", "not_entailment"), ("accuracy",),
        "QNLI: does the sentence answer the question?",
    ),
    "rte": _glue(
        "rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), ("accuracy",),
        "RTE: does the first text entail the second?",
    ),
    # XNLI: MNLI-style dev/test pairs translated by people into 15 languages. Following the
    # paper, a model is fine-tuned on English MNLI (`train_task`) and evaluated zero-shot per
    # language; XNLI's own "train" split is machine-translated MNLI and is not used by default.
    "xnli": TaskInfo(
        name="xnli",
        text_fields=("premise", "hypothesis"),
        labels=_NLI,
        metrics=("accuracy",),
        primary_metric="accuracy",
        train_split="train",
        eval_splits=("dev", "test"),
        train_task="mnli",
        languages=XNLI_LANGUAGES,
        description="XNLI: MNLI-style NLI in 15 languages, evaluated zero-shot after MNLI.",
    ),
}  # fmt: skip

# Spellings people use for the same task (the GLUE folder names, dashes, case).
_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "sts": "stsb", "mnli-m": "mnli"}

# Hub and GLUE-file spellings of split names, mapped to mbp's names.
_SPLIT_ALIASES = {"validation": "dev", "val": "dev", "valid": "dev", "held-out": HELDOUT}
_MNLI_SPLIT_ALIASES = {
    "dev": "dev_matched",
    "validation": "dev_matched",
    "validation_matched": "dev_matched",
    "validation_mismatched": "dev_mismatched",
}


def task_names() -> list[str]:
    """All registered task names, in registry order."""
    return list(TASKS)


def _closest(value: str, choices: list[str], cutoff: float = 0.4) -> str:
    close = difflib.get_close_matches(value, choices, n=3, cutoff=cutoff)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def get_task(name: str | TaskInfo) -> TaskInfo:
    """The `TaskInfo` for a task name (case-insensitive; "SST-2" works). A TaskInfo passes through.

    Raises MbpError naming the bad value and the closest valid names.
    """
    if isinstance(name, TaskInfo):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in TASKS:
        return TASKS[key]
    raise MbpError(
        f"unknown task {name!r}: {_closest(key, task_names())}"
        f"valid tasks are {', '.join(task_names())}"
    )


def check_language(task: str | TaskInfo, lang: str | None) -> str:
    """The language code to use for `task`, checked against the languages it has.

    GLUE tasks are English only (None means "en"). XNLI needs one of its 15 codes.
    """
    info = get_task(task)
    if lang is None:
        if len(info.languages) == 1:
            return info.languages[0]
        raise MbpError(
            f"task {info.name!r} needs a language: pass lang as one of {', '.join(info.languages)}"
        )
    code = str(lang).strip().lower()
    if code in info.languages:
        return code
    if len(info.languages) == 1:
        raise MbpError(
            f"task {info.name!r} has no language {lang!r}: it is {info.languages[0]!r} only; "
            f"use task 'xnli' for other languages"
        )
    raise MbpError(
        # A higher cutoff: two-letter codes are all "close" to each other at difflib's default.
        f"XNLI has no language {lang!r}: {_closest(code, list(info.languages), cutoff=0.6)}"
        f"it has {', '.join(sorted(info.languages))}"
    )


def resolve_split(task: str | TaskInfo, split: str) -> str:
    """mbp's name for `split` of `task` ("validation" -> "dev"; MNLI "dev" -> "dev_matched").

    Raises MbpError listing the splits the task has.
    """
    info = get_task(task)
    key = str(split).strip().lower()
    aliases = _MNLI_SPLIT_ALIASES if info.name == "mnli" else _SPLIT_ALIASES
    key = aliases.get(key, _SPLIT_ALIASES.get(key, key))
    if key in info.splits:
        return key
    hint = ""
    if key == "test" and info.name != "xnli":
        hint = "GLUE test labels are hidden, so there is no scored test split; "
    raise MbpError(
        f"task {info.name!r} has no split {split!r}: {hint}{_closest(key, list(info.splits))}"
        f"use one of {', '.join(info.splits)}"
    )
