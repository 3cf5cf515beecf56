"""Local data roots: the quirks of the GLUE/XNLI files (fixtures) and every real file in
../shared/data with the row counts and label distributions its README gives."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mbp.errors import MbpError
from mbp.tasks import XNLI_LANGUAGES, complement, get_task, load_examples

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "tasks" / "data"
SHARED = Path(
    os.environ.get("MBP_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
needs_shared = pytest.mark.skipif(
    not (SHARED / "xnli" / "dev" / "en.tsv").is_file(), reason=f"no shared data at {SHARED}"
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("MBP_DATA_DIR", raising=False)
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))


def names(task: str, labels: np.ndarray) -> dict[str, int]:
    info = get_task(task)
    return {info.labels[k]: n for k, n in sorted(Counter(labels.tolist()).items())}


# ---------------------------------------------------------------- fixtures: file quirks


def test_sst2_header_and_raw_text():
    ex = load_examples("sst2", "train", data_dir=FIXTURE_DATA)
    assert len(ex) == 10 and ex.text_b is None
    assert ex.text_a[0] == "a warm and funny film "  # kept exactly, trailing space included
    assert ex.ids.tolist() == list(range(10)) and ex.ids.dtype == np.int64
    assert ex.labels.dtype == np.int64 and ex.labels[:2].tolist() == [1, 0]
    assert (ex.task, ex.split, ex.lang, ex.note) == ("sst2", "train", "en", "")
    assert ex.source == str(FIXTURE_DATA / "glue" / "SST-2" / "train.tsv")


def test_mrpc_bom_and_unbalanced_quotes_are_read_literally():
    ex = load_examples("mrpc", "validation", data_dir=FIXTURE_DATA)
    assert len(ex) == 3  # a quote-aware reader would merge rows here
    assert ex.text_a[0] == 'He said the plan "works well.'
    assert ex.text_b[1] == 'It closed in 2003 "for good'
    assert ex.labels.tolist() == [1, 0, 1]


def test_cola_without_header_or_final_newline():
    ex = load_examples("cola", "dev", data_dir=FIXTURE_DATA)
    assert ex.text_a == ["The cat sat on the mat.", "Cat the mat on sat.", "She reads books."]
    assert ex.labels.tolist() == [1, 0, 1]


def test_cola_with_a_header(tmp_path):
    path = tmp_path / "glue" / "CoLA" / "dev.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("sentence\tlabel\nA fine sentence.\t1\n", encoding="utf-8")
    ex = load_examples("cola", "dev", data_dir=tmp_path)
    assert ex.text_a == ["A fine sentence."] and ex.labels.tolist() == [1]


def test_index_column_or_not_and_label_names():
    rte = load_examples("rte", "dev", data_dir=FIXTURE_DATA)
    assert rte.text_a[1] == "The meeting was on Monday."
    assert rte.labels.tolist() == [0, 1, 0, 1]
    qnli = load_examples("qnli", "train", data_dir=FIXTURE_DATA)
    assert qnli.text_a[0] == "Where is the tower?" and qnli.text_b[1].startswith("The bridge")


def test_stsb_scores_are_float32():
    ex = load_examples("stsb", "dev", data_dir=FIXTURE_DATA)
    assert ex.labels.dtype == np.float32
    np.testing.assert_allclose(ex.labels, [4.8, 0.25, 3.0])
    assert ex.text_b[1] == "A car drives fast."


def test_qqp_original_header():
    ex = load_examples("qqp", "dev", data_dir=FIXTURE_DATA)
    assert ex.text_a[0] == "How do I learn to cook?" and ex.labels.tolist() == [1, 0]


def test_glue_folder_as_root():
    ex = load_examples("rte", "dev", data_dir=FIXTURE_DATA / "glue")
    assert len(ex) == 4


def test_xnli_per_language_files_are_parallel():
    en = load_examples("xnli", "dev", "en", data_dir=FIXTURE_DATA)
    de = load_examples("xnli", "dev", "de", data_dir=FIXTURE_DATA)
    assert en.ids.tolist() == de.ids.tolist() == list(range(6))
    assert en.labels.tolist() == de.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert de.text_a[3] == "Kinder spielen draußen." and de.lang == "de"


def test_xnli_single_file_with_language_column():
    en = load_examples("xnli", "test", "en", data_dir=FIXTURE_DATA)
    de = load_examples("xnli", "test", "de", data_dir=FIXTURE_DATA)
    assert en.source.endswith("xnli.test.tsv")
    assert en.ids.tolist() == de.ids.tolist() == list(range(6))  # index within the language
    assert en.text_b[0] == "Someone eats." and de.text_b[0] == "Jemand isst."
    assert en.labels.tolist() == de.labels.tolist() == [0, 1, 2, 0, 1, 2]


def test_data_root_from_environment(monkeypatch):
    monkeypatch.setenv("MBP_DATA_DIR", str(FIXTURE_DATA))
    assert len(load_examples("rte", "dev")) == 4


def test_missing_dev_offers_heldout():
    with pytest.raises(MbpError) as err:
        load_examples("mnli", "dev", data_dir=FIXTURE_DATA)
    msg = str(err.value)
    assert "no mnli dev_matched file in data root" in msg
    assert str(FIXTURE_DATA / "glue" / "MNLI" / "dev_matched.tsv") in msg
    assert "only train exists" in msg and "use split 'heldout'" in msg


def test_heldout_is_a_deterministic_stratified_tenth_of_train():
    train = load_examples("mnli", "train", data_dir=FIXTURE_DATA)
    held = load_examples("mnli", "heldout", data_dir=FIXTURE_DATA)
    again = load_examples("mnli", "heldout", data_dir=FIXTURE_DATA)
    assert len(train) == 30 and len(held) == 3  # train still has every row
    assert held.split == "heldout" and held.note == "held-out 10% of train (no dev file)"
    assert held.ids.tolist() == again.ids.tolist()
    assert sorted(held.labels.tolist()) == [0, 1, 2]
    assert set(held.ids) <= set(train.ids)
    for i, row in enumerate(held.ids):
        assert held.text_a[i] == train.text_a[row]
    rest = complement(train, held)
    assert len(rest) == 27 and not set(rest.ids) & set(held.ids)


def test_heldout_note_when_a_dev_file_exists():
    held = load_examples("sst2", "heldout", data_dir=FIXTURE_DATA)
    assert held.note == "held-out 10% of train" and len(held) == 1


# ---------------------------------------------------------------- the real shared data

REAL = [
    ("sst2", "train", 67349, {"negative": 29780, "positive": 37569}),
    ("sst2", "dev", 872, {"negative": 428, "positive": 444}),
    ("mrpc", "train", 3668, {"not_equivalent": 1194, "equivalent": 2474}),
    ("mrpc", "dev", 408, {"not_equivalent": 129, "equivalent": 279}),
    ("cola", "train", 8551, {"unacceptable": 2528, "acceptable": 6023}),
    ("cola", "dev", 1043, {"unacceptable": 322, "acceptable": 721}),
    ("rte", "train", 2490, {"entailment": 1249, "not_entailment": 1241}),
    ("rte", "dev", 277, {"entailment": 146, "not_entailment": 131}),
    ("qnli", "train", 9999, {"entailment": 5027, "not_entailment": 4972}),
    ("qnli", "dev", 5463, {"entailment": 2702, "not_entailment": 2761}),
    ("mnli", "train", 9999, {"entailment": 3408, "neutral": 3313, "contradiction": 3278}),
]


@needs_shared
@pytest.mark.parametrize(("task", "split", "rows", "labels"), REAL)
def test_real_glue(task, split, rows, labels):
    ex = load_examples(task, split, data_dir=SHARED)
    assert len(ex) == rows
    assert names(task, ex.labels) == labels
    assert all(ex.text_a) and (ex.text_b is None) == (get_task(task).text_fields[1] is None)


@needs_shared
@pytest.mark.parametrize(("split", "rows"), [("train", 5749), ("dev", 1500)])
def test_real_stsb(split, rows):
    ex = load_examples("stsb", split, data_dir=SHARED)
    assert len(ex) == rows and ex.labels.dtype == np.float32
    assert ex.labels.min() == 0.0 and ex.labels.max() == 5.0


@needs_shared
def test_real_mnli_has_no_dev_but_a_heldout():
    with pytest.raises(MbpError, match="use split 'heldout'"):
        load_examples("mnli", "dev_matched", data_dir=SHARED)
    held = load_examples("mnli", "heldout", data_dir=SHARED)
    assert len(held) == 1000 and held.note == "held-out 10% of train (no dev file)"
    assert names("mnli", held.labels) == {"entailment": 341, "neutral": 331, "contradiction": 328}


@needs_shared
def test_real_xnli_every_language():
    first = load_examples("xnli", "dev", "en", data_dir=SHARED)
    for lang in XNLI_LANGUAGES:
        ex = load_examples("xnli", "dev", lang, data_dir=SHARED)
        assert len(ex) == 2490, lang
        assert names("xnli", ex.labels) == {"entailment": 830, "neutral": 830, "contradiction": 830}
        # Parallel files: same pair ids and the same label for every pair in every language.
        np.testing.assert_array_equal(ex.ids, first.ids)
        np.testing.assert_array_equal(ex.labels, first.labels)
