"""The model registry: entries, name look-up errors, availability without the network."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from huggingface_hub import constants

from mbp.errors import MbpError
from mbp.models import MODELS, OFFLINE_MODELS, get_model_info, is_available, models_table, registry

EXPECTED = {
    # name: (source, layers, heads, hidden)
    "minilm-l6": ("offline", 6, 12, 384),
    "e5-small": ("offline", 12, 12, 384),
    "bert-base-cased": ("hub", 12, 12, 768),
    "bert-base-multilingual-cased": ("hub", 12, 12, 768),
    "xlm-roberta-base": ("hub", 12, 12, 768),
    "distilbert-base-multilingual-cased": ("hub", 6, 12, 768),
}


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    """Point the HF hub cache at an empty folder so the developer's cache cannot leak in."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def fake_cached_snapshot(cache: Path, repo_id: str, files: tuple[str, ...]) -> Path:
    """Lay out a snapshot the way huggingface_hub's cache does (refs/main -> snapshots/<rev>)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name in files:
        (snapshot / name).write_text("{}")
    return snapshot


def test_registry_has_the_six_models_with_their_shapes():
    assert set(MODELS) == set(EXPECTED)
    for name, (source, layers, heads, hidden) in EXPECTED.items():
        info = MODELS[name]
        assert info.name == name
        assert (info.source, info.layers, info.heads, info.hidden) == (
            source,
            layers,
            heads,
            hidden,
        )
        assert info.n_heads_total == layers * heads
        assert info.licence and info.description and info.hub_id
    assert OFFLINE_MODELS == ("minilm-l6", "e5-small")


def test_offline_models_say_they_are_sentence_embedding_fine_tunes():
    for name in OFFLINE_MODELS:
        assert "not a raw masked-LM checkpoint" in MODELS[name].note
    assert "4-bit" in MODELS["e5-small"].note
    assert MODELS["minilm-l6"].languages == ("en",)
    assert MODELS["e5-small"].languages == "~100"
    assert MODELS["e5-small"].licence == "MIT"
    assert MODELS["minilm-l6"].licence == "Apache-2.0"


def test_model_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MODELS["e5-small"].layers = 3  # type: ignore[misc]


def test_unknown_name_names_the_closest_models_in_one_line():
    with pytest.raises(MbpError) as err:
        get_model_info("e5-smal")
    message = str(err.value)
    assert "\n" not in message
    assert "'e5-smal'" in message and "did you mean e5-small" in message


def test_hub_ids_and_legacy_aliases_find_hub_entries_but_not_offline_ones():
    assert get_model_info("google-bert/bert-base-multilingual-cased").name == (
        "bert-base-multilingual-cased"
    )
    assert get_model_info("FacebookAI/xlm-roberta-base").name == "xlm-roberta-base"
    # the real hub checkpoint is not our 4-bit-derived copy
    assert registry.find_model("intfloat/multilingual-e5-small") is None


def test_offline_models_are_available_when_their_packages_import(monkeypatch):
    assert is_available("minilm-l6") is True
    assert is_available("e5-small") is True
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    assert is_available("e5-small") is False
    assert registry.availability("e5-small") == "not installed"


def test_hub_models_need_internet_unless_cached(empty_hf_cache):
    assert is_available("bert-base-multilingual-cased") is False
    assert registry.availability("bert-base-multilingual-cased") == "needs internet"
    # a cache with only pickled weights does not count: mbp loads safetensors only
    fake_cached_snapshot(empty_hf_cache, "FacebookAI/xlm-roberta-base", ("config.json",))
    assert is_available("xlm-roberta-base") is False
    fake_cached_snapshot(
        empty_hf_cache, "bert-base-cased", ("config.json", "model.safetensors")
    )  # downloaded under the legacy id
    assert is_available("bert-base-cased") is True
    assert registry.availability("bert-base-cased") == "cached"


def test_models_table_rows_are_json_friendly(empty_hf_cache):
    rows = models_table()
    assert [r["name"] for r in rows] == list(MODELS)
    json.dumps(rows)  # the CLI prints it, the dashboard shows it
    by_name = {r["name"]: r for r in rows}
    assert by_name["e5-small"]["available"] == "installed"
    assert by_name["xlm-roberta-base"]["available"] == "needs internet"
    assert by_name["minilm-l6"]["languages"] == "en"
    assert {"layers", "heads", "hidden", "licence", "note"} <= set(rows[0])
