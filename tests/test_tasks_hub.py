"""The hub code path, without a network: `datasets.load_dataset` reads small local files in the
hub's own format (tests/fixtures/tasks/hub, written by make_hub_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mbp.errors import MbpError
from mbp.tasks import get_task, hub, load_examples
from mbp.tasks.hub import load_hub_examples

HUB = Path(__file__).parent / "fixtures" / "tasks" / "hub"


@pytest.fixture
def calls(monkeypatch, tmp_path):
    """Route the hub loader to the fixture files; records every (path, config, split) asked."""
    import datasets

    asked: list[tuple[str, str | None, str]] = []

    def loader(path: str, name: str | None, split: str):
        asked.append((path, name, split))
        stem = f"{path.split('/')[1]}-{name}-{split}"  # "nyu-mll/glue" -> "glue-rte-validation"
        files = sorted(HUB.glob(f"{stem}.*"))
        if not files:
            raise FileNotFoundError(f"Dataset '{path}' has no config {name!r} split {split!r}")
        kind = files[0].suffix.lstrip(".")
        cache = str(tmp_path / "hf")
        return datasets.load_dataset(kind, data_files=str(files[0]), split="train", cache_dir=cache)

    monkeypatch.delenv("MBP_DATA_DIR", raising=False)
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "default_loader", loader)
    return asked


@pytest.fixture
def read_fixture(tmp_path):
    """stem -> the fixture file as a `datasets.Dataset` (datasets' cache under tmp_path)."""
    import datasets

    def read(stem: str):
        path = str(HUB / f"{stem}.parquet")
        return datasets.load_dataset(
            "parquet", data_files=path, split="train", cache_dir=str(tmp_path / "hf")
        )

    return read


def test_glue_pair_task_from_parquet(calls):
    ex = load_examples("rte", "dev")
    assert calls == [("nyu-mll/glue", "rte", "validation")]
    assert ex.text_a[0] == "A dog ran." and ex.text_b[2] == "Ann owns a car."
    assert ex.labels.tolist() == [0, 1, 0] and ex.labels.dtype == np.int64
    assert ex.ids.tolist() == [0, 1, 2]
    assert ex.source == "hf:nyu-mll/glue/rte:validation"


def test_xnli_config_is_the_language(calls):
    ex = load_examples("xnli", "validation", "en")
    assert calls == [("facebook/xnli", "en", "validation")]
    assert ex.labels.tolist() == [0, 2, 1, 2] and ex.lang == "en"


def test_labels_are_mapped_by_name(calls):
    # The fr fixture stores ClassLabel names in another order; our ids follow TaskInfo.labels.
    fr = load_examples("xnli", "dev", "fr")
    en = load_examples("xnli", "dev", "en")
    assert fr.labels.tolist() == en.labels.tolist() == [0, 2, 1, 2]


def test_regression_scores(calls):
    ex = load_examples("stsb", "dev")
    assert ex.labels.dtype == np.float32
    np.testing.assert_allclose(ex.labels, [4.8, 0.25])


def test_csv_with_plain_integer_labels(calls):
    ex = load_examples("sst2", "dev")
    assert ex.text_a == ["a warm, funny film ", "dull and slow ", "pure joy "]
    assert ex.labels.tolist() == [1, 0, 1]


def test_mnli_split_names(calls):
    with pytest.raises(MbpError, match="could not load"):
        load_examples("mnli", "dev_mismatched")
    assert calls == [("nyu-mll/glue", "mnli", "validation_mismatched")]


def test_heldout_from_hub_train(calls, monkeypatch):
    from datasets import ClassLabel, Dataset, Features, Value

    rows = {"sentence1": [f"s{i}" for i in range(20)], "sentence2": ["t"] * 20}
    rows["label"] = [i % 2 for i in range(20)]
    features = Features(
        {"sentence1": Value("string"), "sentence2": Value("string"),
         "label": ClassLabel(names=["entailment", "not_entailment"])}
    )  # fmt: skip
    train = Dataset.from_dict(rows, features=features)
    monkeypatch.setattr(hub, "default_loader", lambda path, name, split: train)
    held = load_examples("rte", "heldout")
    assert held.split == "heldout" and held.note == "held-out 10% of train"
    assert len(held) == 2 and sorted(held.labels.tolist()) == [0, 1]


def test_hidden_test_labels(calls, read_fixture):
    info = get_task("mnli")
    with pytest.raises(MbpError, match=r"1 rows have label -1 \(hidden test labels\)"):
        load_hub_examples(
            info, "test", "en", loader=lambda *a: read_fixture("glue-mnli-test_matched")
        )


def test_wrong_label_names(calls):
    with pytest.raises(MbpError, match=r"label names 'yes', 'no', 'maybe' are not xnli labels"):
        load_examples("xnli", "dev", "de")


def test_wrong_columns(calls, read_fixture):
    with pytest.raises(MbpError, match=r"no column 'question1' \(columns: sentence1, sentence2"):
        load_hub_examples(
            get_task("qqp"), "dev", "en", loader=lambda *a: read_fixture("glue-rte-validation")
        )


def test_offline_error_names_local_files_and_fixes(monkeypatch):
    monkeypatch.delenv("MBP_DATA_DIR", raising=False)

    def offline(path, name, split):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(hub, "default_loader", offline)
    with pytest.raises(MbpError) as err:
        load_examples("mnli", "dev")
    msg = str(err.value)
    assert msg.startswith(
        "could not load nyu-mll/glue config 'mnli' split 'validation_matched' from the Hugging "
        "Face hub (ConnectionError: Couldn't reach"
    )
    assert "glue/MNLI/dev_matched.tsv" in msg and "set MBP_DATA_DIR" in msg
    assert "connect to the hub" in msg and "\n" not in msg


def test_default_loader_calls_load_dataset(monkeypatch, read_fixture):
    import datasets

    seen = {}

    def fake_load_dataset(path, name=None, split=None):
        seen.update(path=path, name=name, split=split)
        return fixture

    fixture = read_fixture("xnli-en-validation")  # read before load_dataset is replaced
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ex = load_hub_examples(get_task("xnli"), "dev", "en", loader=hub._datasets_loader)
    assert seen == {"path": "facebook/xnli", "name": "en", "split": "validation"}
    assert len(ex) == 4
