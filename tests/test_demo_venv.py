"""The hosted demo deploys as hosts expect: its own requirements, no torch, every page renders.

Fast: `requirements-demo.txt` pins what `requirements.txt` pins, holds no torch, and the
capped-live-run file adds PyTorch's CPU-only build. Slow: a fresh venv holding only
`requirements-demo.txt` (no project venv, no pytest) renders every page in demo mode through
`tests/demo_render.py`, imports neither torch nor transformers, and cannot import torch at all.

    .venv/bin/python -m pytest -q -m slow tests/test_demo_venv.py -s   # prints the venv's size
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
import venv
from pathlib import Path

import pytest

from tests.demo_render import registered_pages

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "requirements-demo.txt"
DEMO_LIVE = REPO_ROOT / "requirements-demo-live.txt"
FULL = REPO_ROOT / "requirements.txt"
MODELS = REPO_ROOT / "requirements-models.txt"
RENDER = REPO_ROOT / "tests" / "demo_render.py"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# what only training and evaluation need: never in the read-only demo
ENGINE_ONLY = {"torch", "transformers", "tokenizers", "safetensors", "datasets", "scikit-learn"}
# a guard against a heavy package creeping into the demo: measured ~800 MiB (pyarrow, scipy,
# pandas, duckdb, plotly; vl-convert has replaced plotly since, +20 MiB); the CPU build of torch
# alone is ~750 MiB (docs/DASHBOARD.md)
MAX_DEMO_VENV_MB = 1024

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def normalize(name: str) -> str:
    """PEP 503 name: `Huggingface_Hub` and `huggingface-hub` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (comments, options and -r lines skipped)."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        match = _PIN.match(line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
        elif line and not line.startswith("-"):
            raise AssertionError(f"{path.name}: {raw!r} is not an exact pin (name==version)")
    return found


def options(path: Path) -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("-")
    ]


# ----------------------------------------------------------------------------- fast


def test_demo_requirements_pin_the_full_installs_versions_and_no_torch():
    demo, full = pins(DEMO), pins(FULL)
    assert demo, "requirements-demo.txt pins nothing"
    for name in (
        "streamlit",
        "pandas",
        "altair",
        "vl-convert-python",
        "duckdb",
        "pyarrow",
        "numpy",
    ):
        assert name in demo, f"requirements-demo.txt lacks {name}"
    unknown = sorted(set(demo) - set(full))
    assert not unknown, f"{unknown} are pinned by requirements-demo.txt but not requirements.txt"
    differ = {n: (v, full[n]) for n, v in demo.items() if full[n] != v}
    assert not differ, f"demo pin != requirements.txt pin (demo, full): {differ}"
    assert not ENGINE_ONLY & set(demo), ENGINE_ONLY & set(demo)
    assert options(DEMO) == [], "the demo file needs no index, no -r, no -e (mbp is not installed)"


def test_live_demo_requirements_add_cpu_only_torch_at_the_full_installs_version():
    live, full, models = pins(DEMO_LIVE), pins(FULL), pins(MODELS)
    assert f"-r {DEMO.name}" in options(DEMO_LIVE)
    assert f"--extra-index-url {CPU_INDEX}" in options(DEMO_LIVE)
    assert live["torch"] == f"{full['torch']}+cpu"  # PyTorch's CPU wheel, not PyPI's CUDA one
    for name, version in live.items():
        if name == "torch":
            continue
        expected = full.get(name) or models.get(name)
        assert expected == version, f"{name}=={version}: requirements files pin {expected}"
    assert {"transformers", "tokenizers", "safetensors"} <= set(live)
    assert set(models) <= set(live), "a capped live run offers the offline models"


def test_the_render_script_sees_every_page_the_router_registers():
    pages = registered_pages()
    on_disk = sorted(f"views/{p.name}" for p in (REPO_ROOT / "views").glob("[!_]*.py"))
    assert sorted(pages) == on_disk and len(pages) == len(set(pages))


# ----------------------------------------------------------------------------- slow


def _size_mb(folder: Path) -> float:
    """Bytes on disk under `folder` (like `du -s`), in MiB."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                total += path.stat().st_blocks * 512
    return total / 2**20


def _run(argv: list[str], *, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{argv[:4]} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result


@pytest.mark.slow
def test_demo_renders_every_page_in_a_fresh_venv_holding_only_the_demo_requirements(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    folder = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = str(folder / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", "-r", str(DEMO)], env=env, timeout=1500)
    size = _size_mb(folder)
    print(f"\nfresh demo venv: {size:.0f} MiB on disk ({folder})")

    for module in ("torch", "transformers"):  # not installed at all, so never importable
        probe = subprocess.run([python, "-c", f"import {module}"], env=env, capture_output=True)
        assert probe.returncode != 0, f"{module} is importable in the demo venv"

    env |= {
        "MBP_MODE": "demo",
        "MBP_PRECOMPUTED": str(REPO_ROOT / "precomputed"),
        "MBP_STORE": str(tmp_path / "store" / "results.duckdb"),
        "MBP_JOBS_DIR": str(tmp_path / "jobs"),
        "MBP_CACHE": str(tmp_path / "cache"),
    }
    env.pop("MBP_DEMO_LIVE_RUNS", None)
    result = _run([python, str(RENDER)], env=env, timeout=900)
    report = json.loads(result.stdout.strip().splitlines()[-1])

    pages = report["pages"]
    assert sorted(pages) == sorted(registered_pages()), sorted(pages)
    for page, seen in pages.items():
        assert not seen["exceptions"], (page, seen["exceptions"])
        assert not seen["errors"], (page, seen["errors"])
        assert len(seen["titles"]) == 1, (page, seen["titles"])
    assert "torch" not in report["modules"] and "transformers" not in report["modules"]
    assert not ENGINE_ONLY & {normalize(d) for d in report["distributions"]}
    assert size < MAX_DEMO_VENV_MB, f"the demo venv is {size:.0f} MiB: what heavy package crept in?"
    assert _server_answers(str(folder / "bin" / "streamlit"), env) == "ok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_answers(streamlit: str, env: dict[str, str], timeout_s: float = 120.0) -> str:
    """Start `streamlit run app.py` as a host does; return its health check's answer."""
    port = _free_port()
    argv = [streamlit, "run", "app.py", "--server.headless", "true", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]  # fmt: skip
    server = subprocess.Popen(
        argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert server.poll() is None, f"streamlit exited with {server.returncode}"
            try:
                url = f"http://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    return answer.read().decode()
            except OSError:
                time.sleep(1)
        raise AssertionError(f"streamlit answered no health check within {timeout_s:.0f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)
