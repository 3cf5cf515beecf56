"""Tokenisation with a tiny in-process WordPiece tokenizer (no downloads): true lengths,
truncation, token types, and the memory + disk cache."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from mbp.errors import MbpError
from mbp.tasks import Examples, encode
from mbp.tasks.encode import (
    cache_key,
    clear_memory_cache,
    memory_cache_size,
    tokenised_dir,
    tokenizer_fingerprint,
)

# `mbp.tasks.encode` is the function; the module is reached through importlib.
encode_module = importlib.import_module("mbp.tasks.encode")

WORDS = (
    "the", "a", "cat", "dog", "sat", "on", "mat", "ran", "is", "not", "and", "big", "small", "red",
    "##s", "##ed",
)  # fmt: skip


def tiny_tokenizer(
    token_types: bool = True, extra: tuple[str, ...] = ()
) -> PreTrainedTokenizerFast:
    """A BERT-like WordPiece tokenizer over a 20-word vocabulary."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate([*specials, *WORDS, *extra])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    inputs = ["input_ids", "token_type_ids", "attention_mask"]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=inputs if token_types else ["input_ids", "attention_mask"],
    )


def pairs(n: int = 6, task: str = "rte") -> Examples:
    a = [("the big red cat sat on the mat " * (i + 1)).strip() for i in range(n)]
    b = ["a dog ran" if i % 2 else "the cats sat" for i in range(n)]
    labels = np.arange(n, dtype=np.int64) % 2
    return Examples(task, "dev", "en", np.arange(n, dtype=np.int64), a, b, labels, "memory")


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    yield tmp_path / "cache"
    clear_memory_cache()


def test_pairs_keep_true_lengths_and_token_types():
    tok, ex = tiny_tokenizer(), pairs()
    enc = encode(tok, ex, max_length=16)
    assert len(enc) == 6
    direct = tok(ex.text_a, ex.text_b, truncation=True, max_length=16)
    for i in range(6):
        assert enc.input_ids[i].dtype == np.int64
        assert enc.input_ids[i].tolist() == direct["input_ids"][i]
        assert enc.token_type_ids[i].tolist() == direct["token_type_ids"][i]
    assert enc.input_ids[0].tolist() == [2, 5, 16, 18, 7, 9, 10, 5, 11, 3, 5, 7, 19, 9, 3]
    assert enc.lengths.tolist()[0] == 15 and enc.lengths.max() == 16  # truncated, not padded
    np.testing.assert_array_equal(enc.labels, ex.labels)
    np.testing.assert_array_equal(enc.ids, ex.ids)


def test_single_sentences_and_no_token_types():
    ex = pairs()
    ex.text_b = None
    enc = encode(tiny_tokenizer(token_types=False), ex, max_length=8)
    assert enc.token_type_ids is None
    assert enc.input_ids[0].tolist() == [2, 5, 16, 18, 7, 9, 10, 3]  # [CLS] ... [SEP], 8 long
    assert all(len(x) <= 8 for x in enc.input_ids)


def test_cached_in_memory_and_on_disk(cache, monkeypatch):
    tok, ex = tiny_tokenizer(), pairs()
    first = encode(tok, ex, max_length=16)
    assert encode(tok, ex, max_length=16) is first  # memory hit
    files = sorted((cache / "tokenised").iterdir())
    assert [f.suffix for f in files] == [".npz"]  # no temp file left behind
    assert files[0].name.startswith("rte-dev-en-L16-")
    clear_memory_cache()

    def fail(*args, **kwargs):
        raise AssertionError("tokenised again instead of reading the disk cache")

    monkeypatch.setattr(encode_module, "_tokenise", fail)
    again = encode(tok, ex, max_length=16)  # disk hit
    assert again is not first and memory_cache_size() == 1
    assert [x.tolist() for x in again.input_ids] == [x.tolist() for x in first.input_ids]
    assert [x.tolist() for x in again.token_type_ids] == [x.tolist() for x in first.token_type_ids]
    assert again.input_ids[0].dtype == np.int64 and again.token_type_ids[0].dtype == np.int64
    np.testing.assert_array_equal(again.labels, first.labels)


def test_cached_arrays_are_read_only():
    enc = encode(tiny_tokenizer(), pairs(), max_length=16)
    with pytest.raises(ValueError):
        enc.input_ids[0][0] = 7


def test_key_covers_everything_that_changes_the_output():
    tok, ex = tiny_tokenizer(), pairs()
    key = cache_key(tok, ex, 16)
    assert cache_key(tiny_tokenizer(), pairs(), 16) == key  # same definition, new objects
    assert cache_key(tok, ex, 32) != key
    assert cache_key(tiny_tokenizer(extra=("dogs",)), ex, 16) != key
    assert cache_key(tiny_tokenizer(token_types=False), ex, 16) != key
    edited = pairs()
    edited.text_b[0] = "a cat"
    assert cache_key(tok, edited, 16) != key
    assert cache_key(tok, pairs(task="mnli"), 16) != key


def test_fingerprint_ignores_call_state():
    tok = tiny_tokenizer()
    before = tokenizer_fingerprint(tok)
    tok(["the cat sat on the mat"], truncation=True, max_length=4, padding="max_length")
    assert tokenizer_fingerprint(tok) == before


def test_corrupt_cache_file_is_rebuilt(cache):
    tok, ex = tiny_tokenizer(), pairs()
    first = encode(tok, ex, max_length=16)
    (path,) = tokenised_dir().iterdir()
    path.write_bytes(b"not a zip file")
    clear_memory_cache()
    again = encode(tok, ex, max_length=16)
    assert [x.tolist() for x in again.input_ids] == [x.tolist() for x in first.input_ids]
    assert np.load(path)["input_ids"].size > 0  # rewritten


def test_empty_examples():
    ex = Examples("rte", "dev", "en", np.zeros(0, np.int64), [], [], np.zeros(0, np.int64), "m")
    enc = encode(tiny_tokenizer(), ex)
    assert len(enc) == 0 and enc.token_type_ids is None


@pytest.mark.parametrize("max_length", [0, 3, 2.5, True])
def test_bad_max_length(cache, max_length):
    with pytest.raises(MbpError, match=r"max_length=.* is too small: use an integer of at least 8"):
        encode(tiny_tokenizer(), pairs(), max_length=max_length)
    assert memory_cache_size() == 0 and not (cache / "tokenised").exists()


def test_max_length_above_the_model_limit(cache):
    tok = tiny_tokenizer()
    tok.model_max_length = 512
    with pytest.raises(MbpError, match="exceeds the tokenizer's model_max_length 512"):
        encode(tok, pairs(), max_length=1024)
    assert memory_cache_size() == 0 and not (cache / "tokenised").exists()
