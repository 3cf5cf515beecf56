"""Load task splits from the Hugging Face hub through `datasets.load_dataset`.

Used when no local data root is set. GLUE comes from "nyu-mll/glue" (config = task name), XNLI
from "facebook/xnli" (config = language). Hub label ids are mapped onto `TaskInfo.labels` by
label *name*, so a hub reordering cannot silently flip classes.

The loader is injectable (`loader=` or the module attribute `default_loader`) so tests can serve
small local parquet/csv files in the hub's format without a network:

    fake = lambda path, name, split: datasets.load_dataset("parquet", data_files=..., split="train")
    load_hub_examples(get_task("rte"), "dev", "en", loader=fake)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from mbp.errors import MbpError
from mbp.tasks.examples import Examples
from mbp.tasks.local import relative_candidates
from mbp.tasks.registry import HELDOUT, TaskInfo

# mbp split name -> hub split name (both hub datasets call dev "validation").
_HUB_SPLITS = {
    "train": "train",
    "dev": "validation",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
    "test": "test",
}


class HubDataset(Protocol):
    """What we need from a `datasets.Dataset`: columns by name, features, length."""

    column_names: list[str]
    features: Any

    def __getitem__(self, key: str) -> Sequence[Any]: ...

    def __len__(self) -> int: ...


#: (hub path, config name, hub split) -> dataset
HubLoader = Callable[[str, str | None, str], HubDataset]


def _datasets_loader(path: str, name: str | None, split: str) -> HubDataset:
    import datasets  # slow import (~1 s): only when the hub is actually used

    return datasets.load_dataset(path, name, split=split)


#: The loader `load_hub_examples` uses when none is passed (tests may monkeypatch this).
default_loader: HubLoader = _datasets_loader


def hub_address(info: TaskInfo, split: str, lang: str) -> tuple[str, str, str]:
    """(hub dataset path, config name, hub split) for an mbp task split."""
    if split == HELDOUT or split not in _HUB_SPLITS:
        raise ValueError(f"split {split!r} has no hub counterpart")
    if info.name == "xnli":
        return "facebook/xnli", lang, _HUB_SPLITS[split]
    return "nyu-mll/glue", info.name, _HUB_SPLITS[split]


def _hub_error(info: TaskInfo, split: str, lang: str, exc: BaseException) -> MbpError:
    path, config, hub_split = hub_address(info, split, lang)
    reason = (str(exc).strip().splitlines() or [""])[0][:200]
    wanted = " or ".join(relative_candidates(info, split, lang)[:2])
    return MbpError(
        f"could not load {path} config {config!r} split {hub_split!r} from the Hugging Face hub "
        f"({type(exc).__name__}: {reason}); no local data root is set, so no local file was "
        f"looked for: set MBP_DATA_DIR to a folder with {wanted} (layout of ../shared/data) "
        f"or connect to the hub"
    )


def _label_mapping(info: TaskInfo, features: Any, source: str) -> dict[int, int] | None:
    """hub label id -> our label id, from the ClassLabel names; None if ids are used as they are."""
    assert info.labels is not None
    feature = features.get("label") if hasattr(features, "get") else None
    names = getattr(feature, "names", None)
    if not names:
        # A plain integer column (e.g. a csv export): the hub's documented order is ours.
        return None
    unknown = [n for n in names if n not in info.labels]
    if unknown:
        raise MbpError(
            f"{source}: label names {', '.join(map(repr, unknown))} are not {info.name} labels "
            f"({', '.join(info.labels)}): is this the right dataset and config?"
        )
    return {hub_id: info.labels.index(name) for hub_id, name in enumerate(names)}


def _column(dataset: HubDataset, name: str, source: str) -> list[Any]:
    if name not in dataset.column_names:
        raise MbpError(
            f"{source}: no column {name!r} (columns: {', '.join(dataset.column_names)}): "
            f"is this the right dataset and config?"
        )
    return list(dataset[name])


def _labels(info: TaskInfo, dataset: HubDataset, source: str) -> np.ndarray:
    raw = _column(dataset, "label", source)
    if info.labels is None:
        return np.asarray(raw, dtype=np.float32)
    hub_ids = np.asarray(raw, dtype=np.int64)
    if (hub_ids < 0).any():
        raise MbpError(
            f"{source}: {int((hub_ids < 0).sum())} rows have label -1 (hidden test labels): "
            f"evaluate on a split with labels ({', '.join(info.eval_splits)})"
        )
    mapping = _label_mapping(info, dataset.features, source)
    n_classes = len(info.labels) if mapping is None else len(mapping)
    if (hub_ids >= n_classes).any():
        bad = int(hub_ids[hub_ids >= n_classes][0])
        raise MbpError(
            f"{source}: unknown {info.name} label id {bad} (expected 0..{n_classes - 1})"
        )
    if mapping is None:
        return hub_ids
    table = np.asarray([mapping[i] for i in range(n_classes)], dtype=np.int64)
    return table[hub_ids]


def load_hub_examples(
    info: TaskInfo, split: str, lang: str, loader: HubLoader | None = None
) -> Examples:
    """Load a split through `loader` (default: `datasets.load_dataset`); ids are row indices."""
    path, config, hub_split = hub_address(info, split, lang)
    source = f"hf:{path}/{config}:{hub_split}"
    try:
        dataset = (loader or default_loader)(path, config, hub_split)
    except MbpError:
        raise
    except Exception as exc:  # network, missing config, corrupt cache: all mean "no data"
        raise _hub_error(info, split, lang, exc) from None
    field_a, field_b = info.text_fields
    text_a = [str(t) for t in _column(dataset, field_a, source)]
    text_b = None if field_b is None else [str(t) for t in _column(dataset, field_b, source)]
    labels = _labels(info, dataset, source)
    if len(text_a) == 0:
        raise MbpError(f"{source}: the split is empty: check the dataset name and split")
    return Examples(
        task=info.name,
        split=split,
        lang=lang,
        ids=np.arange(len(text_a), dtype=np.int64),
        text_a=text_a,
        text_b=text_b,
        labels=labels,
        source=source,
    )
