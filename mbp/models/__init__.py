"""Models: the registry, loading (registry name, local folder or hub id), e5 conversion, tiny fakes.

    from mbp.models import load_model, models_table
    model, tokenizer = load_model("e5-small", num_labels=3)   # offline, ~100 languages

See docs/MODELS.md. Heavy imports (torch, transformers) happen inside the functions that need
them, so `import mbp.models` stays fast for the CLI's `mbp models`.
"""

from mbp.models.checksum import model_checksum
from mbp.models.e5_convert import convert_e5, dequantize_q4_0
from mbp.models.loading import ModelSource, load_model, model_dir, resolve_model
from mbp.models.registry import (
    MODELS,
    OFFLINE_MODELS,
    Architecture,
    ModelInfo,
    Source,
    get_model_info,
    is_available,
    models_table,
)
from mbp.models.tiny import tiny_bert, tiny_tokenizer

__all__ = [
    "MODELS",
    "OFFLINE_MODELS",
    "Architecture",
    "ModelInfo",
    "ModelSource",
    "Source",
    "convert_e5",
    "dequantize_q4_0",
    "get_model_info",
    "is_available",
    "load_model",
    "model_checksum",
    "model_dir",
    "models_table",
    "resolve_model",
    "tiny_bert",
    "tiny_tokenizer",
]
