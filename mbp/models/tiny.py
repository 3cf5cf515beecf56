"""Tiny random BERT / RoBERTa / DistilBERT classifiers with an in-process tokenizer, for fast tests.

    python -c "from mbp.models import tiny_bert; m, t = tiny_bert(); print(m(**t('a cat', return_tensors='pt')).logits)"

Nothing is downloaded: the model comes from a config with seeded random weights, the tokenizer
from a word-level vocabulary built here. Both behave like `load_model`'s (model in eval mode,
SDPA attention, `save_pretrained` round-trips through `load_model`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

TinyArch = Literal["bert", "roberta", "distilbert"]

# Enough everyday words (plus a few German/French/Spanish ones) that test sentences mostly hit
# real ids; anything else maps to the unknown token.
_WORD_TEXT = """the a an is are was be to of and in on at for with not no yes it this that he she they we
    you i cat dog man woman child house car street city tree bird book table water food good bad
    big small old new happy sad red blue green sits runs walks eats sleeps reads plays sees likes
    der die das ist nicht und le la est pas et el los es y . , ? ! ' -"""
WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())
_SPECIALS: dict[str, tuple[str, ...]] = {
    # vocabulary order of the real tokenizers, so pad/cls ids match what the models expect
    "bert": ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
    "distilbert": ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
    "roberta": ("<s>", "<pad>", "</s>", "<unk>", "<mask>"),
}
MAX_LENGTH = 512


def tiny_vocab(vocab: int = 100, arch: TinyArch = "bert") -> list[str]:
    """Specials, then `WORDS`, then filler tokens `tok<i>` up to `vocab` entries."""
    specials = _SPECIALS[arch]
    if vocab < len(specials) + 2:
        raise ValueError(f"vocab must be at least {len(specials) + 2}, got {vocab}")
    words = list(specials) + list(WORDS)
    words += [f"tok{i}" for i in range(max(0, vocab - len(words)))]
    return words[:vocab]


def tiny_tokenizer(vocab: int = 100, arch: TinyArch = "bert") -> PreTrainedTokenizerFast:
    """A lower-casing word-level fast tokenizer with BERT- or RoBERTa-style pair templates."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = tiny_vocab(vocab, arch)
    ids = {w: i for i, w in enumerate(words)}
    if arch == "roberta":
        cls, sep, pad, unk, mask = "<s>", "</s>", "<pad>", "<unk>", "<mask>"
        pair = f"{cls} $A {sep} {sep} $B {sep}"  # RoBERTa: no segment ids, double separator
    else:
        cls, sep, pad, unk, mask = "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"
        pair = f"{cls} $A {sep} $B:1 {sep}:1"
    backend = Tokenizer(WordLevel(ids, unk_token=unk))
    backend.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # split on spaces and punctuation
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=pair,
        special_tokens=[(cls, ids[cls]), (sep, ids[sep])],
    )
    input_names = ["input_ids", "attention_mask"]
    if arch == "bert":
        input_names.insert(1, "token_type_ids")  # only BERT has segment embeddings
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        cls_token=cls,
        sep_token=sep,
        pad_token=pad,
        unk_token=unk,
        mask_token=mask,
        model_max_length=MAX_LENGTH,
        model_input_names=input_names,
    )


def _tiny_config(arch: TinyArch, num_labels: int, layers: int, heads: int, hidden: int, vocab: int):
    from transformers import BertConfig, DistilBertConfig, RobertaConfig

    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    if arch == "bert":
        return BertConfig(
            vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=4 * hidden,
            max_position_embeddings=MAX_LENGTH, type_vocab_size=2, pad_token_id=0,
            num_labels=num_labels,
        )  # fmt: skip
    if arch == "roberta":
        return RobertaConfig(
            vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=4 * hidden,
            # RoBERTa numbers positions from padding_idx + 1, hence 2 extra rows
            max_position_embeddings=MAX_LENGTH + 2, type_vocab_size=1,
            pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=num_labels,
        )  # fmt: skip
    if arch == "distilbert":
        return DistilBertConfig(
            vocab_size=vocab, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=4 * hidden,
            max_position_embeddings=MAX_LENGTH, pad_token_id=0, num_labels=num_labels,
        )  # fmt: skip
    raise ValueError(f"arch must be 'bert', 'roberta' or 'distilbert', got {arch!r}")


def tiny_bert(
    num_labels: int = 2,
    layers: int = 2,
    heads: int = 4,
    hidden: int = 16,
    vocab: int = 100,
    seed: int = 0,
    arch: TinyArch = "bert",
    *,
    problem_type: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """(model, tokenizer): a random `arch` classifier, identical for identical arguments.

    The global torch RNG is left untouched (the seed applies inside a forked RNG), so building a
    tiny model in a test never changes another test's random numbers.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    config = _tiny_config(arch, num_labels, layers, heads, hidden, vocab)
    if problem_type:
        config.problem_type = problem_type
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    model.eval()  # like from_pretrained: no dropout until a trainer says so
    return model, tiny_tokenizer(vocab, arch)
