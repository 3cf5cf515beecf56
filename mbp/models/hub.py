"""The Hugging Face hub, seen from a machine that is often offline: cache look-ups and a quick probe.

Without a probe, `from_pretrained("bert-base-multilingual-cased")` on an offline machine retries
for about 30 s before failing. `hub_reachable()` answers in at most ~3 s so a missing hub model
fails fast with a useful message instead.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from pathlib import Path

from huggingface_hub import constants, try_to_load_from_cache

PROBE_TIMEOUT_S = 3.0
_PROBE_TTL_S = 60.0  # re-probe at most once a minute: a long sweep may outlive a network blip
_probe_cache: dict[str, tuple[float, bool]] = {}

_TRUE = {"1", "true", "yes", "on"}


def offline_mode() -> bool:
    """True when the user asked for offline mode (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE).

    Read at call time: huggingface_hub reads these once at import, but tests and the CLI may set
    them later.
    """
    env = (
        os.environ.get(var, "").strip().lower()
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return any(value in _TRUE for value in env) or bool(constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The hub address that huggingface_hub will download from (HF_ENDPOINT, read at its import)."""
    return constants.ENDPOINT


def cached_model_dir(*repo_ids: str) -> Path | None:
    """The cached snapshot folder of the first repo id with config.json and safetensors weights.

    Only safetensors count: mbp never loads pickled `pytorch_model.bin` weights.
    """
    cache = constants.HF_HUB_CACHE  # read now, so a test can point it at an empty folder
    for repo_id in repo_ids:
        config = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache)
        if not isinstance(config, str):
            continue
        for weights_name in ("model.safetensors", "model.safetensors.index.json"):
            if isinstance(try_to_load_from_cache(repo_id, weights_name, cache_dir=cache), str):
                return Path(config).parent
    return None


def _probe(url: str, result: list[bool]) -> None:
    """HEAD `url`; only a 2xx answer (after redirects) counts as the hub.

    An error status is not enough: sandboxes and proxies answer 403/404 for hosts they block.
    """
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            result.append(200 <= response.status < 300)
    except (OSError, ValueError):  # URLError and HTTPError are OSErrors
        result.append(False)


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the hub answers within `timeout` seconds (cached for a minute).

    The probe runs in a daemon thread because a DNS look-up ignores socket timeouts and can
    hang for much longer than we are willing to wait. urllib honours HTTPS_PROXY.
    """
    url = endpoint()
    cached = _probe_cache.get(url)
    if cached is not None and time.monotonic() - cached[0] < _PROBE_TTL_S:
        return cached[1]
    result: list[bool] = []
    thread = threading.Thread(target=_probe, args=(url, result), daemon=True)
    thread.start()
    thread.join(timeout)
    reachable = bool(result and result[0])
    _probe_cache[url] = (time.monotonic(), reachable)
    return reachable
