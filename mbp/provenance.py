"""Where a result came from: package versions, the code commit and the command line."""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("mbp", "torch", "transformers", "tokenizers", "datasets", "duckdb", "numpy")


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def versions_json() -> str:
    return json.dumps(package_versions(), sort_keys=True)


@functools.cache
def code_commit() -> str:
    """The repository commit of this code, with '-dirty' if mbp/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "mbp"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("-dirty" if dirty else "")


#: Options whose values are paths of the machine that ran a command: left out of stored
#: commands, so a manifest names what was computed, not where.
MACHINE_LOCAL = ("--store", "--data-dir", "--out")


def command_line() -> str:
    """The invoking command as a user would type it (`mbp sweep ...`)."""
    args = sys.argv[1:]
    return "mbp " + " ".join(shlex.quote(a) for a in args)


def portable_command(command: str | None = None) -> str:
    """`command` (default: this process's) without machine-local paths (`MACHINE_LOCAL`)."""
    try:
        args = shlex.split(command if command is not None else command_line())
    except ValueError:  # an unbalanced quote: keep the text as it was recorded
        return command or ""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in MACHINE_LOCAL:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return " ".join(shlex.quote(a) for a in kept)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
