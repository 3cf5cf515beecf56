"""Shared pieces of the benchmarks: rows, timing, machine facts, data, models and FLOP counts.

Every comparison is timed side by side in one process: repeats of A and B are interleaved (the
order alternates per repeat, A B / B A / ...) and each figure is a median over repeats, because
the machine is shared and its load drifts.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = os.environ.get("MBP_DATA_DIR") or str(ROOT.parent / "shared" / "data")
# Real XNLI dev pairs from several scripts and families (Latin, Cyrillic, Arabic, Devanagari,
# Han, Thai); each language contributes different pair ids (its own subsample seed).
LANGS: tuple[str, ...] = ("en", "de", "ru", "ar", "hi", "sw", "zh", "th")
MAX_LENGTH = 128
MBERT_VOCAB = 119547


# ---------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the results table."""

    section: str
    figure: str
    value: str
    target: str = "-"
    met: str = "-"  # "yes" / "no" / "-" (no target) / "n/a"
    note: str = ""


@dataclass
class Section:
    """What one benchmark hands back: its rows, and Markdown for docs/BENCHMARKS.md."""

    name: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # Markdown paragraphs / tables
    seconds: float = 0.0


def met(ok: bool) -> str:
    return "yes" if ok else "no"


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


# ---------------------------------------------------------------- timing


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    before: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Wall seconds of each callable, `repeats` times, in alternating order (A B, B A, ...).
    `before` (e.g. a matmul-rate sample) runs untimed before every timed call."""
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            if before is not None:
                before()
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def speedup(slow: list[float], fast: list[float]) -> float:
    """How many times faster `fast` ran than `slow`: the ratio of their medians."""
    return median(slow) / median(fast)


def pass_speedups(slow: list[float], fast: list[float]) -> list[float]:
    """The same ratio within each interleaved repeat (both timed under that repeat's load)."""
    return [s / f for s, f in zip(slow, fast, strict=True)]


def spread(values: list[float]) -> str:
    return f"{min(values):.3g}-{max(values):.3g}"


def matmul_gflops(n: int = 2048) -> float:
    """One dense fp32 n x n matmul on all of torch's threads, in GFLOP/s."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.matmul(a, b)  # warm (allocations, thread pool)
    t0 = time.perf_counter()
    torch.matmul(a, b)
    return 2 * n**3 / (time.perf_counter() - t0) / 1e9


# ---------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info() -> dict[str, str]:
    import transformers

    mem = "unknown"
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(),
        "cores": str(cores()),
        "torch threads": str(torch.get_num_threads()),
        "memory": mem,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "load average at start (1/5/15 min)": load_average(),
    }


# ---------------------------------------------------------------- data


def xnli_pool(tokenizer, per_lang: int, langs: tuple[str, ...] = LANGS, seed: int = 0):
    """`per_lang` real XNLI dev pairs from each of `langs`, tokenised (true lengths), as one
    `mbp.tasks.Encoded`. Language i uses subsample seed `seed + i`, so the pairs differ."""
    from mbp.tasks import encode, load_examples, subsample

    parts = []
    for i, lang in enumerate(langs):
        ex = load_examples("xnli", "dev", lang=lang, data_dir=DATA_DIR)
        parts.append(encode(tokenizer, subsample(ex, per_lang, seed + i), MAX_LENGTH))
    return concat(parts)


def concat(parts):
    from mbp.tasks import Encoded

    types = None
    if all(p.token_type_ids is not None for p in parts):
        types = [t for p in parts for t in p.token_type_ids]
    return Encoded(
        input_ids=[x for p in parts for x in p.input_ids],
        token_type_ids=types,
        labels=np.concatenate([np.asarray(p.labels) for p in parts]),
        ids=np.concatenate([np.asarray(p.ids) for p in parts]),
    )


def take(encoded, index):
    """The examples of `encoded` at positions `index`."""
    from mbp.tasks import Encoded

    index = [int(i) for i in index]
    return Encoded(
        input_ids=[encoded.input_ids[i] for i in index],
        token_type_ids=None
        if encoded.token_type_ids is None
        else [encoded.token_type_ids[i] for i in index],
        labels=np.asarray(encoded.labels)[index],
        ids=np.asarray(encoded.ids)[index],
    )


def remap_vocab(encoded, vocab: int):
    """Fold token ids >= vocab into range (e5's 250k vocabulary into mBERT's 119,547): the
    sequence lengths, which are all that throughput depends on, stay exactly the same."""
    from mbp.tasks import Encoded

    return Encoded(
        input_ids=[np.where(x >= vocab, x % vocab, x) for x in encoded.input_ids],
        token_type_ids=encoded.token_type_ids,
        labels=encoded.labels,
        ids=encoded.ids,
    )


def lengths(encoded) -> np.ndarray:
    return np.array([len(x) for x in encoded.input_ids], dtype=np.int64)


# ---------------------------------------------------------------- models


def e5_small():
    """(model, tokenizer): the real e5-small (converted offline by mbp) with a 3-way head."""
    from mbp.models import load_model

    model, tokenizer = load_model("e5-small", num_labels=3)
    return model.eval(), tokenizer


def mbert_base_config(num_labels: int = 3):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=MBERT_VOCAB,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=2,
        num_labels=num_labels,
    )


def random_model(config, seed: int = 0):
    """A randomly initialised classifier (SDPA attention, eval mode); weights do not matter for
    throughput, only shapes do."""
    from transformers import AutoModelForSequenceClassification

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    return model.eval()


@functools.cache
def mbert_base(seed: int = 0):
    """The randomly initialised mBERT-base-size classifier, built once per process (figures
    1, 4 and 7 share it; nothing modifies it: pruning works on shared-weight copies)."""
    return random_model(mbert_base_config(), seed)


def e5_small_sized_config(num_labels: int = 3):
    """e5-small's shape (multilingual-e5-small: 12 layers x 12 heads, hidden 384)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=250037,
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        type_vocab_size=2,
        num_labels=num_labels,
        pad_token_id=1,
    )


def eager_twin(model):
    """The same weights (shared, not copied) behind eager attention, as reference tools run."""
    memo: dict[int, object] = {id(t): t for t in model.parameters()}
    memo.update({id(t): t for t in model.buffers()})
    twin = copy.deepcopy(model, memo)  # the config is deep-copied once and shared by the copy
    twin.config._attn_implementation = "eager"
    return twin.eval()


def pad_holder(pad_id: int):
    """A stand-in tokenizer for mbp's runner (it only reads pad_token_id)."""
    return SimpleNamespace(pad_token_id=pad_id)


# ---------------------------------------------------------------- FLOPs


def kept_heads(config, heads: dict[int, list[int]]) -> list[int]:
    return [
        config.num_attention_heads - len(heads.get(layer, []))
        for layer in range(config.num_hidden_layers)
    ]


def forward_flops(
    config, seq_lengths, kept: list[int], *, attention: bool = True, first_layer: int = 0
) -> float:
    """Matmul FLOPs (2 per multiply-add) of a BERT classifier forward over sequences of the given
    lengths with `kept[l]` heads in layer l: Q/K/V/O projections of kept heads, attention scores
    and context of kept heads over those lengths, the FFN, pooler and classifier. Pass real
    lengths for useful FLOPs, padded widths for executed FLOPs. attention=False: only the
    linear layers (the GEMMs), without the score/context products. first_layer: count only the
    layers from there on (mbp reuses the unpruned model's states below a cell's first changed
    layer, computed once for the whole sweep)."""
    n = np.asarray(seq_lengths, dtype=np.float64)
    tokens, squares, examples = n.sum(), (n**2).sum(), len(n)
    hidden, inter = config.hidden_size, config.intermediate_size
    d = hidden // config.num_attention_heads
    total = 0.0
    for k in kept[first_layer:]:
        width = k * d
        total += (
            2 * tokens * hidden * width * 4
        )  # Q, K, V (hidden -> width) and O (width -> hidden)
        if attention:
            total += 2 * squares * width * 2  # scores q.k and context p.v
        total += 2 * tokens * hidden * inter * 2  # FFN up and down
    total += examples * (2 * hidden * hidden + 2 * hidden * config.num_labels)  # pooler, classifier
    return total
