"""tiny_bert: the random models everyone's fast tests use."""

from __future__ import annotations

import pytest
import torch

from mbp.models import load_model, tiny_bert, tiny_tokenizer
from mbp.models.tiny import WORDS

PAIRS = (["The cat sits on the table.", "A dog runs"], ["Der Hund ist gut!", "qwerty"])


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_every_arch_classifies_sentence_pairs(arch):
    model, tokenizer = tiny_bert(num_labels=3, arch=arch)
    assert not model.training
    assert model.config._attn_implementation == "sdpa"
    batch = tokenizer(*PAIRS, padding=True, return_tensors="pt")
    assert ("token_type_ids" in batch) == (arch == "bert")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_shape_arguments_are_honoured():
    model, tokenizer = tiny_bert(layers=3, heads=2, hidden=8, vocab=120)
    assert (model.config.num_hidden_layers, model.config.num_attention_heads) == (3, 2)
    assert model.config.hidden_size == 8 and model.config.vocab_size == 120 == len(tokenizer)
    with pytest.raises(ValueError, match="multiple"):
        tiny_bert(hidden=10, heads=4)


def test_same_seed_same_weights_and_the_global_rng_is_untouched(tiny_model):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    again, _ = tiny_bert()
    assert torch.rand(1) == expected_next  # building a model consumed no global randomness
    for a, b in zip(tiny_model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    other, _ = tiny_bert(seed=1)
    assert not torch.equal(other.classifier.weight, tiny_model.classifier.weight)


def test_tokenizer_uses_the_word_list_and_bert_specials(tiny_tokenizer):
    tokens = tiny_tokenizer.convert_ids_to_tokens(tiny_tokenizer("The CAT sits.")["input_ids"])
    assert tokens == ["[CLS]", "the", "cat", "sits", ".", "[SEP]"]
    assert tiny_tokenizer.pad_token_id == 0 and tiny_tokenizer.unk_token_id == 1
    assert tiny_tokenizer.convert_ids_to_tokens(tiny_tokenizer("xyzzy")["input_ids"])[1] == "[UNK]"
    assert len(tiny_tokenizer_vocab := tiny_tokenizer.get_vocab()) == 100
    assert set(WORDS) <= set(tiny_tokenizer_vocab)


def test_roberta_tokenizer_uses_xlmr_specials():
    tokenizer = tiny_tokenizer(arch="roberta")
    ids = tokenizer("a cat", "a dog")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "<s>",
        "a",
        "cat",
        "</s>",
        "</s>",
        "a",
        "dog",
        "</s>",
    ]
    assert tokenizer.pad_token_id == 1


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_save_pretrained_round_trips_through_load_model(arch, tmp_path):
    model, tokenizer = tiny_bert(num_labels=2, arch=arch)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_model(tmp_path, num_labels=2)
    batch = tokenizer(*PAIRS, padding=True, return_tensors="pt")
    assert loaded_tokenizer(*PAIRS, padding=True, return_tensors="pt")["input_ids"].equal(
        batch["input_ids"]
    )
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
