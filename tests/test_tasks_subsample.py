"""Stratified, deterministic subsampling; the same XNLI pair ids in every language."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mbp.errors import MbpError
from mbp.tasks import XNLI_LANGUAGES, Examples, complement, load_examples, subsample
from mbp.tasks.subsample import largest_remainder

SHARED = Path(
    os.environ.get("MBP_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
needs_shared = pytest.mark.skipif(
    not (SHARED / "xnli" / "dev" / "en.tsv").is_file(), reason=f"no shared data at {SHARED}"
)


def make(labels, ids=None, task="mnli", lang="en", dtype=np.int64) -> Examples:
    labels = np.asarray(labels, dtype=dtype)
    ids = np.arange(len(labels), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    texts = [f"text {i}" for i in ids]
    return Examples(task, "dev", lang, ids, texts, None, labels, "memory")


def test_deterministic_and_seed_dependent():
    ex = make(np.arange(300) % 3)
    a, b, c = subsample(ex, 30, seed=0), subsample(ex, 30, seed=0), subsample(ex, 30, seed=1)
    assert a.ids.tolist() == b.ids.tolist()
    assert a.ids.tolist() != c.ids.tolist()
    assert a.ids.tolist() == sorted(a.ids.tolist())
    assert a.note == "stratified subsample 30 of 300, seed 0"


def test_stratified_proportions_largest_remainder():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    sub = subsample(make(labels), 7, seed=3)
    # 7 * (0.5, 0.3, 0.2) = (3.5, 2.1, 1.4): floors (3, 2, 1), the leftover seat goes to 0.
    assert np.bincount(sub.labels).tolist() == [4, 2, 1]


def test_largest_remainder_is_exact():
    assert largest_remainder(np.array([830, 830, 830]), 100).tolist() == [34, 33, 33]
    assert largest_remainder(np.array([1, 1]), 1).tolist() == [1, 0]  # tie: the lower stratum
    counts = np.array([13, 7, 5, 1])
    for n in range(1, 27):
        assert largest_remainder(counts.copy(), n).sum() == n


def test_rows_and_texts_travel_together():
    ex = make(np.arange(40) % 2)
    sub = subsample(ex, 10, seed=5)
    for i, row_id in enumerate(sub.ids):
        assert sub.text_a[i] == f"text {row_id}" and sub.labels[i] == row_id % 2


def test_independent_of_row_order():
    ex = make(np.arange(100) % 4)
    order = np.random.default_rng(0).permutation(100)
    shuffled = ex.take(order)
    assert subsample(ex, 17, seed=2).ids.tolist() == subsample(shuffled, 17, seed=2).ids.tolist()


def test_n_at_least_len_returns_everything_sorted():
    ex = make([0, 1, 0], ids=[5, 1, 3])
    sub = subsample(ex, 3, seed=0)
    assert sub.ids.tolist() == [1, 3, 5] and sub.text_a == ["text 1", "text 3", "text 5"]
    assert len(subsample(ex, 10, seed=0)) == 3


@pytest.mark.parametrize("n", [0, -5])
def test_non_positive_n(n):
    with pytest.raises(MbpError, match=rf"subsample size n={n} must be a positive integer"):
        subsample(make([0, 1]), n, seed=0)


def test_duplicate_ids_are_refused():
    with pytest.raises(MbpError, match="duplicate row ids"):
        subsample(make([0, 1, 0], ids=[1, 1, 2]), 2, seed=0)


def test_regression_scores_are_stratified_by_band():
    scores = np.concatenate([np.full(50, 0.5), np.full(50, 4.5), [5.0] * 10])
    sub = subsample(make(scores, task="stsb", dtype=np.float32), 11, seed=0)
    assert (sub.labels < 1).sum() == 5 and (sub.labels >= 4).sum() == 6  # 5.0 joins [4, 5)


def test_complement():
    ex = make(np.arange(20) % 2)
    sub = subsample(ex, 6, seed=0)
    rest = complement(ex, sub)
    assert len(rest) == 14
    assert sorted([*rest.ids.tolist(), *sub.ids.tolist()]) == list(range(20))
    with pytest.raises(MbpError, match="pass a subset of the same task"):
        complement(ex, make([0], task="rte"))


def test_parallel_languages_get_identical_ids():
    labels = np.arange(90) % 3
    en, de = make(labels, lang="en"), make(labels, lang="de")
    de.text_a = [f"Text {i}" for i in range(90)]  # different texts, same ids and labels
    assert subsample(en, 20, seed=7).ids.tolist() == subsample(de, 20, seed=7).ids.tolist()


@needs_shared
def test_real_xnli_same_ids_in_all_15_languages():
    picks = {}
    for lang in XNLI_LANGUAGES:
        sub = subsample(load_examples("xnli", "dev", lang, data_dir=SHARED), 300, seed=0)
        assert np.bincount(sub.labels).tolist() == [100, 100, 100]
        picks[lang] = sub.ids.tolist()
    assert all(ids == picks["en"] for ids in picks.values())
