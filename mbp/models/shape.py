"""A model's (layers, heads) without loading weights or torch: from the registry or config.json.

    python -c "from mbp.models.shape import model_heads; print(model_heads('e5-small'))"

Run parameters check a per-layer floor against it before anything runs; a model folder whose
config.json is missing or malformed fails here with one line instead of a traceback later.
"""

from __future__ import annotations

import json
from pathlib import Path

from mbp.errors import MbpError
from mbp.models.registry import find_model

# BERT-style configs name them one way, DistilBERT another.
_LAYER_KEYS = ("num_hidden_layers", "n_layers")
_HEAD_KEYS = ("num_attention_heads", "n_heads")


def config_file_shape(config_path: Path, label: str) -> tuple[int, int]:
    """(layers, heads) from a config.json; MbpError naming the file when it cannot tell."""
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except OSError as err:
        raise MbpError(
            f"cannot read {config_path} of model {label!r} ({err.strerror}): "
            "pass a folder written by save_pretrained"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MbpError(
            f"config.json of model {label!r} is not valid JSON ({err}): re-save the model "
            "with save_pretrained or fix the file"
        ) from None
    if not isinstance(config, dict):
        raise MbpError(f"config.json of model {label!r} is not a JSON object: re-save the model")
    layers = next((config[k] for k in _LAYER_KEYS if k in config), None)
    heads = next((config[k] for k in _HEAD_KEYS if k in config), None)
    for name, value in (("layers", layers), ("attention heads", heads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise MbpError(
                f"config.json of model {label!r} gives no valid number of {name} ({value!r}): "
                "use a BERT-family model folder written by save_pretrained"
            )
    return layers, heads


def model_heads(name_or_path: str) -> tuple[int, int] | None:
    """(layers, heads per layer) of a registry model or a local folder; None for a hub id
    (known once it is loaded)."""
    info = find_model(name_or_path)
    if info is not None:
        return info.layers, info.heads
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise MbpError(
                f"model directory {name_or_path!r} has no config.json; pass a folder written by "
                "save_pretrained (config.json, model.safetensors, tokenizer files)"
            )
        return config_file_shape(config, name_or_path)
    return None
