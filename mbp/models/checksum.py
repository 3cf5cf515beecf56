"""A short fingerprint of a model's weights, so stored results name exactly what produced them.

    python -c "from mbp.models import model_checksum; print(model_checksum('minilm-l6'))"

Hashing 470 MB takes a second or two, so results are cached in memory and in
`cache_dir()/models/checksums.json`, keyed by the weight file's path, mtime and size.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from mbp.errors import MbpError
from mbp.paths import cache_dir

CHECKSUM_CHARS = 16
_memory: dict[str, str] = {}


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a model folder: model.safetensors, or the shards of its index."""
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [index] + [directory / s for s in shards]
    raise MbpError(f"model directory {str(directory)!r} has no model.safetensors to fingerprint")


def _key(files: list[Path]) -> str:
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}|{st.st_mtime_ns}|{st.st_size}")
    return "\n".join(parts)


def _disk_cache_path() -> Path:
    return cache_dir() / "models" / "checksums.json"


def _read_disk_cache() -> dict[str, str]:
    try:
        return json.loads(_disk_cache_path().read_text())
    except (OSError, ValueError):
        return {}  # missing or corrupt: a cache, never a source of truth


def _write_disk_cache(key: str, value: str) -> None:
    path = _disk_cache_path()
    entries = _read_disk_cache()
    entries[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(entries, indent=1))
    os.replace(tmp, path)  # readers never see half a file; a lost concurrent update only re-hashes


def files_checksum(files: list[Path]) -> str:
    """sha256 over the files' bytes in order, first `CHECKSUM_CHARS` hex characters (cached)."""
    key = _key(files)
    if key in _memory:
        return _memory[key]
    value = _read_disk_cache().get(key)
    if value is None:
        digest = hashlib.sha256()
        for f in files:
            with f.open("rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 22), b""):
                    digest.update(chunk)
        value = digest.hexdigest()[:CHECKSUM_CHARS]
        _write_disk_cache(key, value)
    _memory[key] = value
    return value


def model_checksum(name_or_path: str | os.PathLike[str]) -> str:
    """sha256 of the model's safetensors weights (16 hex chars) for a registry name or folder.

    Hub models must already be in the local cache (the network is never used here).
    """
    from mbp.models.loading import resolve_model

    source = resolve_model(name_or_path)
    if not source.local:
        raise MbpError(
            f"model {source.label!r} is not downloaded yet, so it has no checksum; "
            "load it once with internet first"
        )
    return files_checksum(weight_files(Path(source.location)))
