"""Tokenise Examples once and keep the result: in memory and on disk (cache_dir()/tokenised/).

Sequences keep their true lengths (no padding; truncated to max_length), so the engine can
batch by length. The cache key covers everything that changes the output: the tokenizer (name,
class, vocabulary size, a hash of its full definition), library versions, the examples' task,
split, language and a hash of their ids, labels and texts, and max_length.

    enc = encode(tokenizer, load_examples("rte", "dev"), max_length=128)
    enc.input_ids[0]        # (seq_len,) int64, seq_len <= 128
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbp.errors import MbpError
from mbp.paths import cache_dir
from mbp.tasks.examples import Examples

_CACHE_VERSION = 1  # bump when the on-disk layout or the tokenisation call changes
_MEMORY_ENTRIES = 32  # encoded splits kept in memory (least recently used dropped first)
_CHUNK = 4096  # rows per tokenizer call: bounds the Python-list memory of huge splits


@dataclass
class Encoded:
    """Tokenised examples. Arrays are read-only because cached objects are shared.

    input_ids[i]: (seq_len_i,) int64, special tokens included, no padding.
    token_type_ids: like input_ids, or None when the tokenizer does not produce them.
    labels: (n,) int64 class ids or float32 scores; ids: (n,) int64 example ids.
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    labels: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        """(n,) int64 true sequence lengths."""
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self))


_MEMORY: OrderedDict[str, Encoded] = OrderedDict()  # cache key -> encoded split
_PRIMITIVE = (str, int, float, bool, type(None))


def clear_memory_cache() -> None:
    """Forget the in-memory cache (the disk cache stays)."""
    _MEMORY.clear()


def memory_cache_size() -> int:
    """How many encoded splits are held in memory."""
    return len(_MEMORY)


def tokenised_dir() -> Path:
    """Where encoded splits are stored on disk."""
    return cache_dir() / "tokenised"


def _is_plain(value: Any) -> bool:
    """A JSON-able setting: a primitive or a list/tuple of primitives."""
    if isinstance(value, (list, tuple)):
        return all(isinstance(x, _PRIMITIVE) for x in value)
    return isinstance(value, _PRIMITIVE)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of everything about the tokenizer that can change its output."""
    import tokenizers
    import transformers

    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # The full definition (added tokens, normaliser, pre-tokeniser, post-processor, vocab).
        # The truncation/padding state that transformers sets on the backend during calls is
        # serialised before "added_tokens" and is skipped (cheaper than a JSON round trip).
        text = backend.to_str()
        cut = text.find('"added_tokens":')
        digest.update(text[max(cut, 0) :].encode())
    else:  # a slow (Python) tokenizer: its vocabulary and simple settings
        digest.update(
            json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode()
        )
    # Simple settings only; model_input_names, for one, decides whether token types come back.
    settings = {k: v for k, v in getattr(tokenizer, "init_kwargs", {}).items() if _is_plain(v)}
    identity = {
        "class": type(tokenizer).__name__,
        "name_or_path": str(getattr(tokenizer, "name_or_path", "")),
        "vocab": len(tokenizer),
        "settings": settings,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "definition": digest.hexdigest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def examples_fingerprint(examples: Examples) -> str:
    """A hash of the rows themselves (ids, labels and texts), so edited data is never stale."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(examples.ids, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(examples.labels).tobytes())
    digest.update(str(examples.labels.dtype).encode())
    for texts in (examples.text_a, examples.text_b):
        digest.update(b"\x00none" if texts is None else "\x1f".join(texts).encode("utf-8"))
    return digest.hexdigest()


def cache_key(tokenizer: Any, examples: Examples, max_length: int) -> str:
    """The cache key of `encode(tokenizer, examples, max_length)`."""
    parts = {
        "version": _CACHE_VERSION,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "task": examples.task,
        "split": examples.split,
        "lang": examples.lang,
        "rows": examples_fingerprint(examples),
        "max_length": max_length,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _tokenise(tokenizer: Any, examples: Examples, max_length: int) -> Encoded:
    kwargs = {"truncation": True, "max_length": max_length, "padding": False}
    input_ids: list[np.ndarray] = []
    token_types: list[np.ndarray] | None = []
    for start in range(0, len(examples), _CHUNK):
        stop = start + _CHUNK
        args = [examples.text_a[start:stop]]
        if examples.text_b is not None:
            args.append(examples.text_b[start:stop])
        out = tokenizer(*args, return_attention_mask=False, **kwargs)
        input_ids.extend(np.asarray(x, dtype=np.int64) for x in out["input_ids"])
        # Store token types only if the tokenizer makes them (BERT does, RoBERTa does not).
        if token_types is not None and "token_type_ids" in out:
            token_types.extend(np.asarray(x, dtype=np.int64) for x in out["token_type_ids"])
        else:
            token_types = None
    return _freeze(
        Encoded(
            input_ids=input_ids,
            token_type_ids=token_types if token_types else None,
            labels=examples.labels.copy(),
            ids=examples.ids.copy(),
        )
    )


def _freeze(encoded: Encoded) -> Encoded:
    for array in [*encoded.input_ids, *(encoded.token_type_ids or []), encoded.labels, encoded.ids]:
        array.flags.writeable = False
    return encoded


def _pack(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lists], out=offsets[1:])
    flat = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
    return flat, offsets


def _unpack(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    flat = flat.astype(np.int64)
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _save(path: Path, key: str, encoded: Encoded) -> None:
    """Write atomically: a temp file in the same folder, then os.replace (readers never see a
    half-written file, and concurrent writers of the same key just replace each other)."""
    flat, offsets = _pack(encoded.input_ids)
    arrays = {
        "key": np.array(key),
        "input_ids": flat.astype(np.int32),  # vocabularies are far below 2**31
        "offsets": offsets,
        "labels": encoded.labels,
        "ids": encoded.ids,
    }
    if encoded.token_type_ids is not None:
        arrays["token_type_ids"] = _pack(encoded.token_type_ids)[0].astype(np.int8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _load(path: Path, key: str) -> Encoded | None:
    """The cached encoding, or None if the file is missing, corrupt or for another key."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            offsets = data["offsets"]
            token_types = data["token_type_ids"] if "token_type_ids" in data.files else None
            return _freeze(
                Encoded(
                    input_ids=_unpack(data["input_ids"], offsets),
                    token_type_ids=None if token_types is None else _unpack(token_types, offsets),
                    labels=data["labels"],
                    ids=data["ids"],
                )
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache file is rebuilt, never trusted


def _check_max_length(tokenizer: Any, max_length: int) -> None:
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 8:
        raise MbpError(f"max_length={max_length!r} is too small: use an integer of at least 8")
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 1_000_000 and max_length > limit:
        raise MbpError(
            f"max_length={max_length} exceeds the tokenizer's model_max_length {limit}: "
            f"use max_length <= {limit}"
        )


def encode(tokenizer: Any, examples: Examples, max_length: int = 128) -> Encoded:
    """Tokenise `examples` (pairs when text_b is set), cached in memory and on disk."""
    _check_max_length(tokenizer, max_length)
    key = cache_key(tokenizer, examples, max_length)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    name = f"{examples.task}-{examples.split}-{examples.lang}-L{max_length}-{key[:24]}.npz"
    path = tokenised_dir() / name
    encoded = _load(path, key) if path.is_file() else None
    if encoded is None:
        encoded = _tokenise(tokenizer, examples, max_length)
        try:
            _save(path, key, encoded)
        except OSError as exc:
            # The cache is an optimisation: a full or read-only disk must not stop the run.
            warnings.warn(f"could not write tokenisation cache {path}: {exc}", stacklevel=2)
    _MEMORY[key] = encoded
    while len(_MEMORY) > _MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)
    return encoded
